//! The Statuspage v2 summary and the shields.io badge.

use downwatch::detect::Level;
use downwatch::domain::ServiceSlug;
use downwatch::monitor::Status;

use crate::helpers::{TestApp, seed_onset};

async fn set_status(app: &TestApp, slug: &str, level: Level, reports: u64, baseline: f64) {
    let status = Status {
        level,
        since: Some(seed_onset()),
        reports_15m: reports,
        baseline_15m: baseline,
        incident_id: None,
        evaluated_at: seed_onset(),
    };
    let json = serde_json::to_string(&status).unwrap();
    app.state
        .reads
        .windows
        .write_statuses(&[(ServiceSlug::parse(slug).unwrap(), json)])
        .await
        .unwrap();
}

#[actix_web::test]
async fn statuspage_summary_maps_levels_to_component_statuses() {
    let app = TestApp::spawn().await;
    let calm = app.get("/v1/statuspage/summary.json").await;
    assert_eq!(calm.status, 200, "{}", calm.text);
    assert_eq!(calm.json["status"]["indicator"], "none");
    assert_eq!(
        calm.json["status"]["description"],
        "All Systems Operational"
    );

    set_status(&app, "chatgpt", Level::Outage, 2000, 40.0).await;
    set_status(&app, "sora", Level::Elevated, 200, 40.0).await;
    set_status(&app, "openai-api", Level::Elevated, 90, 40.0).await;
    let summary = app.get("/v1/statuspage/summary.json").await;
    let status_of = |name: &str| {
        summary.json["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(status_of("ChatGPT"), "major_outage");
    assert_eq!(status_of("Sora"), "partial_outage");
    assert_eq!(status_of("OpenAI API"), "degraded_performance");
    assert_eq!(status_of("Netflix"), "operational");
    assert_eq!(summary.json["status"]["indicator"], "major");
    assert!(
        summary.json["incidents"].as_array().unwrap().is_empty(),
        "no incident is stored"
    );
    assert_eq!(
        summary.json["scheduled_maintenances"],
        serde_json::json!([])
    );
}

#[actix_web::test]
async fn shields_badges_follow_the_level() {
    let app = TestApp::spawn().await;
    set_status(&app, "chatgpt", Level::Outage, 2000, 40.0).await;
    let red = app.get("/v1/services/chatgpt/badge.json").await;
    assert_eq!(red.status, 200, "{}", red.text);
    assert_eq!(red.json["schemaVersion"], 1);
    assert_eq!(red.json["label"], "ChatGPT");
    assert_eq!(red.json["message"], "outage reported");
    assert_eq!(red.json["color"], "red");
    let green = app.get("/v1/services/netflix/badge.json").await;
    assert_eq!(green.json["message"], "no problems");
    assert_eq!(green.json["color"], "brightgreen");
    app.get("/v1/services/nope/badge.json")
        .await
        .assert_problem(404, None);
}
