//! Service status on the catalog and the `/v1/status` board, from a simulated outage.

use serde_json::json;

use crate::helpers::TestApp;
use crate::monitor::{monitor, next_minute, reports};

#[actix_web::test]
async fn an_outage_shows_on_the_board_grouped_by_provider_and_on_the_catalog() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    let monitor = monitor(&app);
    monitor.tick().await.unwrap();
    let before = app.get("/v1/status").await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(before.json["count"], 0);

    let mut minute = 0;
    for _ in 0..75 {
        reports(&app, "chatgpt", "login", 3, minute).await;
        reports(&app, "sora", "login", 2, minute).await;
        next_minute(&app, &monitor).await;
        minute += 1;
    }
    for step in 0..6 {
        reports(&app, "chatgpt", "voice-mode", 40 + step * 20, minute).await;
        reports(&app, "sora", "video-generation", 30 + step * 5, minute).await;
        next_minute(&app, &monitor).await;
        minute += 1;
    }

    let board = app.get("/v1/status").await;
    assert_eq!(board.status, 200, "{}", board.text);
    let slugs: Vec<&str> = board.json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        ["chatgpt", "sora"],
        "most severe first: {}",
        board.text
    );
    assert_eq!(board.json["services"][0]["status"]["level"], "outage");
    assert_eq!(board.json["providers"][0]["provider"], "openai");
    assert_eq!(
        board.json["providers"][0]["services"],
        json!(["chatgpt", "sora"])
    );

    let chatgpt = app.get("/v1/services/chatgpt").await;
    let status = &chatgpt.json["status"];
    assert_eq!(status["level"], "outage", "{}", chatgpt.text);
    assert!(
        status["reports_15m"].as_f64().unwrap() > 3.0 * status["baseline_15m"].as_f64().unwrap()
    );
    assert!(status["incident_id"].is_string());
    assert!(status["since"].is_string());

    let outages = app.get("/v1/services?level=outage&q=CHAT").await;
    assert_eq!(outages.json["count"], 1, "{}", outages.text);
    assert_eq!(outages.json["services"][0]["slug"], "chatgpt");
    let quiet = app.get("/v1/services?level=normal&provider=openai").await;
    assert_eq!(quiet.json["services"][0]["slug"], "openai-api");
    app.get("/v1/services?level=down")
        .await
        .assert_problem(400, Some("level"));
    app.get("/v1/services?include_archived=yes")
        .await
        .assert_problem(400, Some("include_archived"));
}
