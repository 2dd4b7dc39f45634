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
