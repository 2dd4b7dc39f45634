//! `/metrics`, in a test binary of its own: the Prometheus recorder is process-wide, so counts
//! are exact only when no other test shares the process.

mod common;

use common::helpers::TestApp;
use serde_json::json;

fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
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
    app.report(json!({"service": "nope", "problem": "login"}))
        .await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = &metrics.text;
    assert_eq!(
        counter(text, "downwatch_reports_total{outcome=\"counted\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        counter(text, "downwatch_reports_total{outcome=\"duplicate\"}"),
        1.0
    );
    assert_eq!(
        counter(
            text,
            "downwatch_reports_total{outcome=\"rejected\",reason=\"invalid-request\"}"
        ),
        1.0
    );
    assert_eq!(
        counter(
            text,
            "downwatch_reports_total{outcome=\"rejected\",reason=\"not-found\"}"
        ),
        1.0
    );
    assert_eq!(
        counter(
            text,
            "downwatch_http_request_duration_seconds_count{route=\"/v1/reports\",method=\"POST\",status=\"202\"}"
        ),
        1.0
    );
}
