//! Secrets and client addresses never reach the logs, in a test binary of its own: the log
//! subscriber is process-wide, and this one records everything, at every level, into memory.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::helpers::{ADMIN_TOKEN, TestApp};
use serde_json::json;

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Drops the test's database when the test ends, however it ends.
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Its own thread: the synchronous connection cannot run on the test's runtime.
        let cleanup = std::thread::spawn(move || {
            use diesel::RunQueryDsl;
            let url = format!(
                "{}/postgres",
                std::env::var("DOWNWATCH_TEST_DATABASE_SERVER")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
            );
            if let Ok(mut conn) =
                <downwatch::db::bootstrap::SyncPgConnection as diesel::Connection>::establish(&url)
            {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
            }
        });
        let _ = cleanup.join();
    }
}

const REPORTER_SECRET: &str = "reporter-secret-4b1d9f0e7c2a5b8d3e6f9a0c1b2d3e4f";
const REDIS_PASSWORD: &str = "redis-password-9c8b7a6f";
const PG_PASSWORD: &str = "pg-password-1a2b3c4d";
const CLIENT: &str = "203.0.113.77";
const REPORTER_TOKEN: &str = "reporter-token-5e6f7a8b";

#[actix_web::test]
async fn secrets_tokens_and_client_addresses_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // Trust auth ignores the password, so a URL with one still connects.
    let server = std::env::var("DOWNWATCH_TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .replacen("postgres@", &format!("postgres:{PG_PASSWORD}@"), 1);
    let database = DropDatabase(format!("dw_test_logs_{}", uuid::Uuid::new_v4().simple()));
    let app = TestApp::builder()
        .var("DATABASE_URL", &format!("{server}/{}", database.0))
        .var("DOWNWATCH_REPORTER_SECRET", REPORTER_SECRET)
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    let body = json!({"service": "chatgpt", "problem": "login", "reporter": REPORTER_TOKEN});
    assert_eq!(app.report_via(CLIENT, body.clone()).await.status, 202);
    assert_eq!(app.report_via(CLIENT, body).await.status, 200);
    for token in [ADMIN_TOKEN.to_owned(), format!("{ADMIN_TOKEN}-wrong")] {
        let auth = format!("Bearer {token}");
        let reply = app
            .send_json(
                "POST",
                "/v1/services",
                &json!({"slug": "logged", "name": "Logged", "category": "ai"}),
                &[("authorization", &auth)],
            )
            .await;
        assert!([201, 401].contains(&reply.status.as_u16()));
    }
    app.state.monitor.tick().await.unwrap();
    // An invented method of 20,000 characters on a 4,000-character path: logged, but cut.
    let invented = "Q".repeat(20_000);
    let response = app
        .client
        .request(
            awc::http::Method::from_bytes(invented.as_bytes()).unwrap(),
            format!("{}/{}", app.address, "p".repeat(4_000)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // A Redis that does not answer, reached with a password: its failures are logged.
    let unreachable = TestApp::builder()
        .var(
            "REDIS_URL",
            &format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1"),
        )
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "200")
        .spawn()
        .await;
    let reply = unreachable
        .report_via(
            CLIENT,
            json!({"service": "chatgpt", "problem": "login", "reporter": REPORTER_TOKEN}),
        )
        .await;
    reply.assert_problem(503, None);
    assert!(!reply.text.contains(REDIS_PASSWORD));
    let _ = unreachable.state.monitor.tick().await;
    let ready = unreachable.get("/readyz").await;
    assert!(!ready.text.contains(REDIS_PASSWORD), "{}", ready.text);

    let logs = captured.text();
    assert!(logs.contains("request"), "the capture works: {logs}");
    assert!(
        logs.contains("redis"),
        "the Redis failures were logged: {logs}"
    );
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2_000, "a log line of {longest} bytes");
    assert!(
        logs.contains(&format!("{}…", &invented[..200])) && !logs.contains(&invented[..201]),
        "the invented method is logged cut to 200 characters"
    );
    for secret in [
        ADMIN_TOKEN,
        REPORTER_SECRET,
        REDIS_PASSWORD,
        PG_PASSWORD,
        REPORTER_TOKEN,
        CLIENT,
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}
