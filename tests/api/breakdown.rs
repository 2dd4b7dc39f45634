//! Problem and country breakdowns: shares over a window and per step.

use std::time::Duration;

use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn voice_mode_failing_after_the_rest_recovered_shows_in_the_breakdown() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "100000")
        .spawn()
        .await;
    let mut reporter = 0;
    let mut send = async |problem: &str, country: &str, count: usize| {
        for _ in 0..count {
            reporter += 1;
            let body = json!({"service": "chatgpt", "problem": problem, "country": country, "reporter": format!("b-{reporter:06}")});
            assert_eq!(app.report(body).await.status, 202);
        }
    };
    // Ten minutes of a general outage, then only voice mode keeps failing.
    for minute in 0..20 {
        if minute < 10 {
            send("login", "US", 6).await;
        }
        send("voice-mode", if minute % 2 == 0 { "US" } else { "KR" }, 2).await;
        app.clock.advance(Duration::from_secs(60));
    }
    let window = app.get("/v1/services/chatgpt/problems?window=30m").await;
    assert_eq!(window.status, 200, "{}", window.text);
    assert_eq!(window.json["total"], 100);
    assert_eq!(
        window.json["problems"][0],
        json!({"problem": "login", "count": 60, "share": 0.6})
    );
    assert_eq!(window.json["problems"][1]["problem"], "voice-mode");

    let recent = app
        .get("/v1/services/chatgpt/problems?window=15m&step=5m")
        .await;
    let series = recent.json["series"].as_array().unwrap();
    let last_full = &series[series.len() - 2];
    assert_eq!(
        last_full["counts"],
        json!({"voice-mode": 10}),
        "only voice mode in the last minutes: {}",
        recent.text
    );
    assert!(
        series
            .iter()
            .all(|p| p["t"].as_str().is_some_and(|t| t.ends_with('Z'))),
        "UTC times end in Z: {}",
        recent.text
    );
    for field in ["from", "to"] {
        let at = recent.json[field].as_str().unwrap();
        assert!(at.ends_with('Z'), "{at}");
    }

    let countries = app.get("/v1/services/chatgpt/countries?window=1h").await;
    assert_eq!(
        countries.json["countries"][0],
        json!({"country": "US", "count": 80, "share": 0.8})
    );
    app.get("/v1/services/chatgpt/problems?window=5m")
        .await
        .assert_problem(400, Some("window"));
    app.get("/v1/services/chatgpt/countries?step=2m")
        .await
        .assert_problem(400, Some("step"));
    app.get("/v1/services/nope/problems")
        .await
        .assert_problem(404, None);
    app.get("/v1/services/chatgpt/problems?window=90d&step=1m")
        .await
        .assert_problem(400, Some("step"));
}
