//! Health, readiness, metrics and response headers.

use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn health_and_readiness_when_everything_is_up() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(
        ready.json["checks"],
        json!({"redis": "ok", "postgresql": "ok"})
    );
}

#[actix_web::test]
async fn responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let reply = app.get("/v1/services/chatgpt").await;
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert!(reply.header("content-security-policy").is_some());
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("*"),
        "reads are open to any page"
    );
}

#[actix_web::test]
async fn readyz_names_the_address_and_the_cause_of_a_failure() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::builder()
        .var("REDIS_URL", &format!("redis://127.0.0.1:{closed}"))
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "300")
        .spawn()
        .await;
    let ready = app.get("/readyz").await;
    ready.assert_problem(503, None);
    assert_eq!(ready.json["checks"]["redis"], "unavailable");
    let detail = ready.json["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("Redis at 127.0.0.1:{closed} (REDIS_URL)"))
            && detail.contains("connection refused"),
        "{detail}"
    );
    assert!(!detail.contains("PostgreSQL"), "{detail}");

    let unknown = TestApp::builder()
        .var("REDIS_URL", "redis://no-such-host.invalid:6379")
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "2000")
        .spawn()
        .await;
    let ready = unknown.get("/readyz").await;
    let detail = ready.json["detail"].as_str().unwrap();
    assert!(
        detail.contains("Redis at no-such-host.invalid:6379")
            && detail.contains("does not resolve"),
        "{detail}"
    );
}

#[actix_web::test]
async fn postgres_diagnosis_names_the_address_and_the_cause() {
    use downwatch::db::Db;
    let timeout = std::time::Duration::from_secs(5);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = Db::new(
        &format!("postgres://postgres@127.0.0.1:{closed}/x"),
        timeout,
        1,
    )
    .unwrap();
    let why = refused
        .diagnose()
        .await
        .expect("a closed port is a failure");
    assert!(
        why.contains(&format!("PostgreSQL at 127.0.0.1:{closed} (DATABASE_URL)"))
            && why.contains("connection refused"),
        "{why}"
    );
    let app = TestApp::spawn().await;
    let server = app.settings.database_url.rsplit_once('/').unwrap().0;
    let missing = Db::new(&format!("{server}/dw_no_such_database"), timeout, 1).unwrap();
    let why = missing
        .diagnose()
        .await
        .expect("a missing database is a failure");
    assert!(
        why.contains("\"dw_no_such_database\" does not exist"),
        "{why}"
    );
    assert_eq!(app.state.reads.db.diagnose().await, None);
}
