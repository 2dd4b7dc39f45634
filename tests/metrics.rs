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

#[actix_web::test]
async fn invented_methods_are_counted_as_other_and_never_become_label_values() {
    let app = TestApp::spawn().await;
    let before = app.get("/metrics").await.text.len();
    // 40 distinct invented methods of 2,000 characters each, on a route and off any route.
    for i in 0..40 {
        let method = format!("M{i:02}{}", "X".repeat(1_997));
        let path = if i % 2 == 0 { "/v1/status" } else { "/nope" };
        let response = app
            .client
            .request(
                awc::http::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", app.address),
            )
            .send()
            .await
            .unwrap();
        assert!(
            [404, 405].contains(&response.status().as_u16()),
            "{}",
            response.status()
        );
    }
    let text = app.get("/metrics").await.text;
    assert!(
        !text.contains("XXXXXXXXXX"),
        "an invented method became a label"
    );
    let other: f64 = text
        .lines()
        .filter(|line| {
            line.starts_with("downwatch_http_request_duration_seconds_count{")
                && line.contains("method=\"other\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(other, 40.0, "{text}");
    // Two new series (405 on /v1/status, 404 unmatched), not forty of 2 KB names each (the
    // other test in this binary may add a few series meanwhile).
    assert!(
        text.len() < before + 64_000,
        "/metrics grew from {before} to {} bytes",
        text.len()
    );
}

#[actix_web::test]
async fn one_instant_written_four_ways_is_one_miss_and_three_hits() {
    // The only test of this binary with the read cache on: its counts are exact.
    let app = TestApp::builder()
        .var("DOWNWATCH_READ_CACHE_MS", "1000")
        .spawn()
        .await;
    for from in [
        "2025-06-10T06:00:00Z",
        "2025-06-10T06:00:00.0Z",
        "2025-06-10T06:00:00.00Z",
        "2025-06-10T11:30:00%2B05:30",
    ] {
        let reply = app
            .get(&format!("/v1/services/chatgpt/curve?step=1m&from={from}"))
            .await;
        assert_eq!(reply.status, 200, "{from}: {}", reply.text);
    }
    let text = app.get("/metrics").await.text;
    assert_eq!(
        counter(&text, "downwatch_read_cache_total{outcome=\"miss\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        counter(&text, "downwatch_read_cache_total{outcome=\"hit\"}"),
        3.0
    );
}
