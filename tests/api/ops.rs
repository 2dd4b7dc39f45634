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
async fn metrics_count_reports_by_outcome_and_time_requests_by_route() {
    let app = TestApp::spawn().await;
    app.report(json!({"service": "chatgpt", "problem": "login"}))
        .await;
    app.report(json!({"service": "chatgpt", "problem": "login"}))
        .await;
    app.report(json!({"service": "chatgpt", "problem": "nope"}))
        .await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for needle in [
        "downwatch_reports_total{outcome=\"counted\"}",
        "downwatch_reports_total{outcome=\"duplicate\"}",
        "downwatch_reports_total{outcome=\"rejected\",reason=\"invalid\"}",
        "downwatch_http_request_duration_seconds_bucket{route=\"/v1/reports\",method=\"POST\",status=\"202\"",
    ] {
        assert!(metrics.text.contains(needle), "missing {needle}");
    }
}

#[actix_web::test]
async fn responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let reply = app.get("/v1/services/chatgpt").await;
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert!(reply.header("content-security-policy").is_some());
}
