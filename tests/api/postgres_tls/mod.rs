//! TLS to PostgreSQL (`sslmode` in `DATABASE_URL`), against the test PostgreSQL, which must run
//! with `ssl = on` (Debian's default: its snakeoil certificate, self-signed for `localhost`).
//! The test asks the server which certificate it shows and trusts that file for `verify-ca`;
//! an authority the test generates stands for one the server's certificate does not come from.
//! [`own_server`] checks a whole chain the test generates, on a server of its own.

mod own_server;

use std::time::Duration;

use downwatch::db::Db;
use downwatch::db::bootstrap::with_sync_connection;

use crate::helpers::{TestApp, server_url};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The test server's URL for database `postgres` with `params`, its host replaced by `host`.
fn url(host: &str, params: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/postgres", server_url())).unwrap();
    url.set_host(Some(host)).unwrap();
    url.set_query(Some(params));
    url.to_string()
}

fn address() -> String {
    let url = url::Url::parse(&server_url()).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
}

/// The certificate file the server shows (`ssl_cert_file`), read through a plain connection.
async fn server_certificate() -> String {
    with_sync_connection(&url("127.0.0.1", "sslmode=disable"), |conn| {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            file: String,
        }
        let row: Setting = diesel::sql_query("SELECT current_setting('ssl_cert_file') AS file")
            .get_result(conn)?;
        Ok(row.file)
    })
    .await
    .unwrap()
}

/// A certificate authority of the test's own, which signed nothing the server shows.
struct OtherCa(std::path::PathBuf);

impl OtherCa {
    fn generate() -> Self {
        let dir = std::env::temp_dir().join(format!("dw-pgca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args([
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=downwatch untrusted CA",
            ])
            .current_dir(&dir)
            .output()
            .expect("the openssl command runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir)
    }

    fn certificate(&self) -> String {
        self.0.join("ca.crt").display().to_string()
    }
}

impl Drop for OtherCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[actix_web::test]
async fn sslmode_require_runs_migrations_and_the_pools_over_tls() {
    // Database creation, migrations, the reporter secret and the catalog, then requests.
    let app = TestApp::builder()
        .database_params("sslmode=require")
        .spawn()
        .await;
    assert!(app.settings.database_url.ends_with("?sslmode=require"));
    let version = app.state.reads.db.tls_version().await.unwrap();
    assert!(
        version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
        "{version:?}"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);

    // The migrations' blocking connection is encrypted too.
    let migrating = with_sync_connection(&app.settings.database_url, |conn| {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Ssl {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            ssl: bool,
        }
        let row: Ssl =
            diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .get_result(conn)?;
        Ok(row.ssl)
    })
    .await
    .unwrap();
    assert!(migrating);

    // Without sslmode (libpq's `prefer`) the connection stays plain, as it always was.
    let plain = Db::new(&url("127.0.0.1", "application_name=dw-plain"), TIMEOUT, 1).unwrap();
    assert_eq!(plain.tls_version().await.unwrap(), None);
}

#[actix_web::test]
async fn verify_ca_trusts_sslrootcert_and_verify_full_also_checks_the_name() {
    let own = server_certificate().await;
    assert!(
        std::fs::metadata(&own).is_ok(),
        "the server's certificate {own} is readable here"
    );
    // verify-ca: the chain, not the name (the certificate names localhost, not 127.0.0.1).
    let ca = Db::new(
        &url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={own}")),
        TIMEOUT,
        1,
    )
    .unwrap();
    assert_eq!(ca.diagnose().await, None);
    assert!(ca.tls_version().await.unwrap().is_some());

    // verify-full: the name too.
    let wrong_name = Db::new(
        &url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={own}"),
        ),
        TIMEOUT,
        1,
    )
    .unwrap();
    let why = wrong_name.diagnose().await.expect("127.0.0.1 is not named");
    assert!(
        why.contains(&format!("PostgreSQL at {} (DATABASE_URL)", address()))
            && why.contains("TLS: the server's certificate does not name the host"),
        "{why}"
    );
    assert!(wrong_name.tls_version().await.is_err());
    let full = Db::new(
        &url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={own}"),
        ),
        TIMEOUT,
        1,
    )
    .unwrap();
    assert_eq!(full.diagnose().await, None);
    assert!(full.tls_version().await.unwrap().is_some());
}

#[actix_web::test]
async fn an_untrusted_certificate_is_named_at_start_up_and_in_the_diagnosis() {
    let other = OtherCa::generate();
    for mode in ["verify-ca", "verify-full", "require"] {
        let url = url(
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", other.certificate()),
        );
        let why = Db::new(&url, TIMEOUT, 1)
            .unwrap()
            .diagnose()
            .await
            .expect("an untrusted certificate is a failure");
        assert!(
            why.contains("PostgreSQL at localhost:")
                && why.contains(
                    "(DATABASE_URL): TLS: the server's certificate is not signed by a trusted CA"
                ),
            "{mode}: {why}"
        );
        // What `serve` and `migrate` say when they cannot start.
        let error = downwatch::app::prepare_database(&url.replace("/postgres?", "/dw_tls_never?"))
            .await
            .expect_err("an untrusted certificate stops the start")
            .to_string();
        assert!(
            error.contains("cannot connect to PostgreSQL at localhost:")
                && error.contains("(DATABASE_URL): TLS: the server's certificate is not signed"),
            "{mode}: {error}"
        );
    }
}

#[actix_web::test]
async fn a_server_without_tls_is_named_when_tls_is_required() {
    // Answers every SSLRequest with 'N', as PostgreSQL with `ssl = off` does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    actix_web::rt::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0_u8; 8];
            if stream.read_exact(&mut request).await.is_ok() {
                let _ = stream.write_all(b"N").await;
            }
        }
    });
    let db = Db::new(
        &format!("postgres://postgres@127.0.0.1:{port}/x?sslmode=require"),
        TIMEOUT,
        1,
    )
    .unwrap();
    let why = db.diagnose().await.expect("no TLS is a failure");
    assert!(
        why.contains(&format!("PostgreSQL at 127.0.0.1:{port} (DATABASE_URL)"))
            && why.contains("sslmode=require requires TLS but the server does not offer it"),
        "{why}"
    );
}
