//! `verify-full` against a PostgreSQL of the test's own, whose certificate (for `localhost` and
//! 127.0.0.1) comes from an authority the test generates: the whole chain is the test's, so it
//! does not depend on how the shared server is set up.
//!
//! The server runs from `pg_config --bindir` on a free port, with its socket in its own
//! directory; PostgreSQL refuses to run as root, so under root it runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use downwatch::db::Db;

/// A data directory, certificates and a running `postgres`, all removed on drop.
struct OwnPostgres {
    dir: PathBuf,
    child: Child,
    port: u16,
}

/// The user to run PostgreSQL as: `postgres` when we are root, else ourselves.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions; getpwnam is given a NUL-terminated name and its
    // result is read at once, on this thread.
    unsafe {
        if libc::getuid() != 0 {
            return None;
        }
        let entry = libc::getpwnam(c"postgres".as_ptr());
        assert!(!entry.is_null(), "running as root needs a postgres user");
        Some(((*entry).pw_uid, (*entry).pw_gid))
    }
}

fn run(command: &mut Command) {
    let out = command.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 key, made with the request.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

fn openssl(dir: &Path, args: &[&[&str]]) {
    run(Command::new("openssl").args(args.concat()).current_dir(dir));
}

impl OwnPostgres {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("dw-ownpg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                &[
                    "req",
                    "-x509",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=downwatch test CA",
                ],
                &EC_KEY,
                &["-keyout", "ca.key", "-out", "ca.crt"],
            ],
        );
        openssl(
            &dir,
            &[
                &["req", "-subj", "/CN=localhost"],
                &EC_KEY,
                &["-keyout", "server.key", "-out", "server.csr"],
            ],
        );
        openssl(
            &dir,
            &[&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                "server.crt",
                "-extfile",
                "server.ext",
            ]],
        );
        let user = server_user();
        if let Some((uid, gid)) = user {
            for entry in std::fs::read_dir(&dir).unwrap() {
                std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(gid)).unwrap();
            }
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(
            dir.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let bin = String::from_utf8(
            Command::new("pg_config")
                .arg("--bindir")
                .output()
                .expect("pg_config runs")
                .stdout,
        )
        .unwrap();
        let bin = PathBuf::from(bin.trim());
        let as_server = |program: &str| {
            let mut command = Command::new(bin.join(program));
            if let Some((uid, gid)) = user {
                std::os::unix::process::CommandExt::uid(&mut command, uid);
                std::os::unix::process::CommandExt::gid(&mut command, gid);
            }
            command
        };
        let data = dir.join("data");
        run(as_server("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = |name: &str| dir.join(name).display().to_string();
        let child = as_server("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k", &path(".")])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "ssl=on",
            ])
            .args(["-c", &format!("ssl_cert_file={}", path("server.crt"))])
            .args(["-c", &format!("ssl_key_file={}", path("server.key"))])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("postgres starts");
        Self { dir, child, port }
    }

    fn url(&self, params: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?{params}",
            self.port
        )
    }

    fn ca(&self) -> String {
        self.dir.join("ca.crt").display().to_string()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown (its backends go too); then the files.
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: signals our own child, which has not been waited for yet.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[actix_web::test]
async fn verify_full_trusts_a_generated_ca_for_the_servers_ip_address() {
    let server = OwnPostgres::start();
    let timeout = Duration::from_secs(10);
    let trusting = Db::new(
        &server.url(&format!("sslmode=verify-full&sslrootcert={}", server.ca())),
        timeout,
        1,
    )
    .unwrap();
    // The server takes a moment to accept connections.
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(why) = trusting.diagnose().await {
        assert!(Instant::now() < deadline, "never ready: {why}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let version = trusting.tls_version().await.unwrap();
    assert!(version.is_some(), "{version:?}");

    // The shared server's certificate (or any other) is not this CA's.
    let system = Db::new(&server.url("sslmode=verify-full"), timeout, 1).unwrap();
    let why = system.diagnose().await.expect("no system root signed it");
    assert!(
        why.contains(&format!(
            "PostgreSQL at 127.0.0.1:{} (DATABASE_URL)",
            server.port
        )) && why.contains("not signed by a trusted CA"),
        "{why}"
    );
}
