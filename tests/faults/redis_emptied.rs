//! Redis restarted empty (no persistence): the curves keep the history already rolled up into
//! PostgreSQL, and the model takes neither the lost minutes for a collapse nor the refill for a
//! spike, whether the monitor kept running or was rebuilt over the emptied window.

use std::time::Duration;

use chrono::{DateTime, Utc};
use downwatch::clock::Clock;
use downwatch::db::incidents;
use downwatch::domain::ServiceSlug;
use downwatch::monitor::Monitor;
use downwatch::time::{align_down, minute_of, minute_start};
use downwatch::windows::MinuteBucket;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::support::own_redis::{OwnRedis, Persistence};
use crate::support::{count_direct, monitor};

/// ChatGPT's usual volume: 25 to 35 reports a minute.
fn usual(minute: i64) -> u64 {
    25 + (minute * 7919).rem_euclid(11) as u64
}

/// An instance whose Redis just came back empty, with what it looked like before.
struct Emptied {
    redis: OwnRedis,
    app: TestApp,
    /// The minute in progress when Redis died.
    lost_minute: i64,
    /// The 15-minute curve since the history began, read just before.
    curve_before: Value,
    curve_query: String,
}

/// Four hours of usual volume, twenty live minutes on the monitor; then Redis dies mid-minute
/// and comes back empty three minutes later.
async fn redis_comes_back_empty(first: impl Fn(&TestApp) -> Monitor) -> (Emptied, Monitor) {
    let redis = OwnRedis::start(Persistence::None).await;
    let app = TestApp::builder()
        .var("REDIS_URL", &redis.url())
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "500")
        .spawn()
        .await;
    // Four hours of history, rolled up into PostgreSQL by the first tick: an instance a few
    // hours old, whose model leans on the recent minutes most.
    let now = minute_of(app.clock.now());
    let recent_from = align_down(now - 4 * 60, 15);
    let recent: Vec<MinuteBucket> = (recent_from..now)
        .map(|m| MinuteBucket {
            t: minute_start(m),
            total: usual(m),
            problems: [("login".to_owned(), usual(m))].into(),
            countries: Default::default(),
        })
        .collect();
    let slug = ServiceSlug::parse("chatgpt").unwrap();
    app.state
        .reads
        .windows
        .seed_minutes(&slug, &recent)
        .await
        .unwrap();

    let monitor = first(&app);
    monitor.tick().await.unwrap();
    for _ in 0..20 {
        let minute = minute_of(app.clock.now());
        count_direct(&app, "chatgpt", usual(minute) as usize, "live").await;
        app.clock.advance(Duration::from_secs(60));
        let tick = monitor.tick().await.unwrap();
        assert_eq!(tick.changes, 0, "usual volume, no incident");
    }
    let to = app.clock.now();
    let curve_query = format!(
        "/v1/services/chatgpt/curve?step=15m&from={}&to={}",
        minute_start(recent_from).format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let curve_before = app.get(&curve_query).await.json;

    // Half a minute of reports, then Redis dies and stays down three minutes.
    app.clock.advance(Duration::from_secs(30));
    let lost_minute = minute_of(app.clock.now());
    count_direct(&app, "chatgpt", 15, "lost").await;
    let mut redis = redis;
    redis.kill();
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(60));
        assert!(monitor.tick().await.is_err(), "no lease without Redis");
    }
    redis.restart().await;
    app.clock.advance(Duration::from_secs(30));
    (
        Emptied {
            redis,
            app,
            lost_minute,
            curve_before,
            curve_query,
        },
        monitor,
    )
}

/// An hour of usual volume after the loss, ticking `monitor` each minute; no incident.
async fn refill_without_alarm(scene: &Emptied, monitor: &Monitor) {
    let app = &scene.app;
    let chatgpt = app.state.reads.catalog.get("chatgpt").unwrap().id;
    for _ in 0..60 {
        let minute = minute_of(app.clock.now());
        count_direct(app, "chatgpt", usual(minute) as usize, "refill").await;
        app.clock.advance(Duration::from_secs(60));
        monitor.tick().await.expect("tick after Redis is back");
        let status = app.get("/v1/services/chatgpt").await.json;
        assert_eq!(
            status["status"]["level"],
            "normal",
            "at {}: {status}",
            app.clock.now()
        );
    }
    let found = incidents::for_service(&app.state.reads.db, chatgpt)
        .await
        .unwrap();
    assert!(found.is_empty(), "no incident: {found:?}");
}

/// The 15-minute curve still holds every bin that closed before the loss, unchanged, and the
/// curve's own model sees nothing but normal.
async fn curve_keeps_history(scene: &Emptied) {
    let after = scene.app.get(&scene.curve_query).await;
    assert_eq!(after.status, 200, "{}", after.text);
    let points = |curve: &Value| -> Vec<(DateTime<Utc>, f64, String)> {
        curve["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["t"].as_str().unwrap().parse().unwrap(),
                    p["reports"].as_f64().unwrap(),
                    p["level"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (before, after) = (points(&scene.curve_before), points(&after.json));
    let loss_bin = minute_start(scene.lost_minute - scene.lost_minute.rem_euclid(15));
    let closed_before: Vec<_> = before.iter().filter(|(t, _, _)| *t < loss_bin).collect();
    assert!(closed_before.len() >= 16, "{before:?}");
    for point in &closed_before {
        assert!(
            after.contains(point),
            "{point:?} kept after the loss: {after:?}"
        );
    }
    assert!(
        closed_before
            .iter()
            .all(|(_, reports, _)| *reports >= 25.0 * 15.0),
        "the bins hold the usual volume: {closed_before:?}"
    );
    assert!(
        after.iter().all(|(_, _, level)| level == "normal"),
        "the curve's model sees no incident: {after:?}"
    );
}

#[actix_web::test]
async fn a_running_monitor_takes_an_emptied_redis_without_a_false_alarm_and_curves_keep_history() {
    let (scene, monitor) = redis_comes_back_empty(monitor).await;
    refill_without_alarm(&scene, &monitor).await;
    curve_keeps_history(&scene).await;
    drop(scene.redis);
}

#[actix_web::test]
async fn a_monitor_rebuilt_over_an_emptied_redis_takes_the_refill_for_the_usual_volume() {
    let (scene, old) = redis_comes_back_empty(monitor).await;
    // downwatch restarts too: the new monitor learns from PostgreSQL and replays a Redis window
    // that lost its last hours.
    drop(old);
    let rebuilt = monitor(&scene.app);
    refill_without_alarm(&scene, &rebuilt).await;
    curve_keeps_history(&scene).await;
}
