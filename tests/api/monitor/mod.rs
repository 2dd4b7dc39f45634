//! The monitor end to end: reports through the API on a manual clock become incidents in
//! PostgreSQL; rollups; the leader lease.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use downwatch::clock::Clock;
use downwatch::db::{bins, incidents};
use downwatch::detect::{Level, Params};
use downwatch::monitor::{Deps, Monitor};
use futures_util::future::join_all;
use serde_json::json;

pub use crate::helpers::count_direct;
use crate::helpers::{TestApp, seed_onset};

mod catalog;
mod memory;
mod scale;
mod scale_shards;
mod shard_rollup;
mod shards;

const LEASE: Duration = Duration::from_secs(45);

pub fn monitor(app: &TestApp) -> Monitor {
    monitor_with_lease(app, LEASE)
}

/// A monitor on `app`'s storage and clock holding its lease (or its shards') for `lease`.
pub fn monitor_with_lease(app: &TestApp, lease: Duration) -> Monitor {
    Monitor::new(
        Deps {
            db: app.state.reads.db.clone(),
            windows: app.state.reads.windows.clone(),
            catalog: app.state.reads.catalog.clone(),
            clock: app.clock.clone(),
            events: app.state.events.clone(),
        },
        Params::default(),
        lease,
        app.settings.retention,
    )
}

/// Sends `count` reports for `service` in the current minute, each from its own reporter.
pub async fn reports(app: &TestApp, service: &str, problem: &str, count: usize, minute: usize) {
    let sends = (0..count).map(|i| {
        app.report(json!({
            "service": service,
            "problem": problem,
            "country": if i % 3 == 0 { "US" } else { "KR" },
            "reporter": format!("m{minute:05}-r{i:05}"),
        }))
    });
    for reply in join_all(sends).await {
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
}

pub async fn next_minute(app: &TestApp, monitor: &Monitor) {
    app.clock.advance(Duration::from_secs(60));
    monitor.tick().await.expect("tick");
}

#[actix_web::test]
async fn reports_open_escalate_and_resolve_one_incident_across_a_restart() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    let chatgpt = app.state.reads.catalog.get("chatgpt").unwrap().id;
    let first = monitor(&app);
    first.tick().await.unwrap();
    let mut minute = 0;
    // Ninety quiet minutes: the model learns a baseline of a few reports a minute.
    for _ in 0..90 {
        reports(&app, "chatgpt", "login", 3, minute).await;
        next_minute(&app, &first).await;
        minute += 1;
    }
    assert!(
        incidents::for_service(&app.state.reads.db, chatgpt)
            .await
            .unwrap()
            .is_empty()
    );
    let onset = app.clock.now();
    // The outage: reports climb fast, voice mode above all.
    for step in 0..12 {
        reports(&app, "chatgpt", "voice-mode", 20 + step * 8, minute).await;
        next_minute(&app, &first).await;
        minute += 1;
    }
    let open = incidents::open_for(&app.state.reads.db, chatgpt)
        .await
        .unwrap()
        .expect("an incident is open");
    assert!(
        open.started_at >= onset && open.started_at <= onset + TimeDelta::minutes(3),
        "opened at {}",
        open.started_at
    );
    assert_eq!(open.highest_level, Level::Outage);
    assert!(
        open.began_at >= onset && open.began_at <= open.started_at,
        "began at {}, opened at {}",
        open.began_at,
        open.started_at
    );
    assert!(open.evidence.is_some(), "the incident says why it opened");

    // The instance restarts mid-incident: a fresh monitor takes over once the lease lapses.
    let second = monitor(&app);
    for step in 0..5 {
        reports(&app, "chatgpt", "voice-mode", 100 - step * 15, minute).await;
        next_minute(&app, &second).await;
        minute += 1;
    }
    // Back to normal.
    for _ in 0..45 {
        reports(&app, "chatgpt", "login", 3, minute).await;
        next_minute(&app, &second).await;
        minute += 1;
    }

    let all = incidents::for_service(&app.state.reads.db, chatgpt)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "one outage, one incident: {all:?}");
    let incident = &all[0];
    assert_eq!(incident.id, open.id);
    let ended = incident.ended_at.expect("resolved");
    assert!(
        ended > onset + TimeDelta::minutes(17),
        "resolved at {ended}"
    );
    assert_eq!(incident.level, Level::Normal);
    assert!(incident.peak_minute_count >= 100, "{incident:?}");
    assert!(incident.peak_bin_count >= incident.peak_minute_count);
    assert!(
        incident.baseline_at_peak > 0.0 && incident.baseline_at_peak < 200.0,
        "{incident:?}"
    );
    assert!(incident.total_reports >= 1000, "{incident:?}");
    let voice = incident.problem_counts["voice-mode"];
    assert!(
        voice >= 900 && voice > incident.problem_counts.get("login").copied().unwrap_or(0),
        "{incident:?}"
    );
    assert!(incident.country_counts["KR"] > incident.country_counts["US"]);

    let timeline = incidents::timeline(&app.state.reads.db, incident.id)
        .await
        .unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|u| u.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"opened"));
    assert_eq!(kinds.last(), Some(&"resolved"));
    assert_eq!(
        kinds.iter().filter(|k| **k == "opened").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        timeline.iter().any(|u| u.level == Level::Outage),
        "{timeline:?}"
    );
    assert!(timeline.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(timeline.last().unwrap().at, ended);
}

#[actix_web::test]
async fn a_rise_soon_after_a_resolution_reopens_the_same_incident() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    let chatgpt = app.state.reads.catalog.get("chatgpt").unwrap().id;
    let watch = monitor(&app);
    watch.tick().await.unwrap();
    let mut minute = 0;
    let mut run = |count: usize, minutes: usize| {
        let (app, watch) = (&app, &watch);
        let start = minute;
        minute += minutes;
        async move {
            for m in start..start + minutes {
                reports(app, "chatgpt", "login", count, m).await;
                next_minute(app, watch).await;
            }
        }
    };
    run(3, 90).await;
    run(80, 8).await;
    // Quiet until the incident resolves, then the same trouble again a few minutes later.
    let mut resolved_after = None;
    for quiet in 1..=40 {
        run(3, 1).await;
        let open = incidents::open_for(&app.state.reads.db, chatgpt)
            .await
            .unwrap();
        if open.is_none() {
            resolved_after = Some(quiet);
            break;
        }
    }
    assert!(resolved_after.is_some(), "the first burst resolves");
    run(3, 3).await;
    run(80, 8).await;
    let first = incidents::for_service(&app.state.reads.db, chatgpt)
        .await
        .unwrap()[0]
        .id;
    let reopened = incidents::open_for(&app.state.reads.db, chatgpt)
        .await
        .unwrap()
        .expect("open again");
    assert_eq!(reopened.id, first, "the same incident, open again");
    run(3, 45).await;

    let all = incidents::for_service(&app.state.reads.db, chatgpt)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "the return continues the incident: {all:?}");
    assert!(all[0].ended_at.is_some(), "and it resolves again");
    let kinds: Vec<&str> = incidents::timeline(&app.state.reads.db, all[0].id)
        .await
        .unwrap()
        .iter()
        .map(|u| u.kind.as_str())
        .collect();
    let reopened = kinds
        .iter()
        .position(|k| *k == "reopened")
        .expect("reopened");
    assert_eq!(kinds[reopened - 1], "resolved", "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"resolved"), "{kinds:?}");
}

#[actix_web::test]
async fn rollups_match_the_minutes_are_idempotent_and_survive_an_emptied_redis() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    let sora = app.state.reads.catalog.get("sora").unwrap().id;
    let monitor = monitor(&app);
    for minute in 0..40 {
        reports(&app, "sora", "login", 1 + minute % 4, minute).await;
        next_minute(&app, &monitor).await;
    }
    let from = seed_onset() - TimeDelta::hours(1);
    let to = app.clock.now();
    let stored = bins::totals(&app.state.reads.db, sora, from, to)
        .await
        .unwrap();
    let minutes = app
        .get("/v1/services/sora/minutes?from=2025-06-10T06:30:00Z")
        .await;
    let by_minute: u64 = minutes
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["total"].as_u64().unwrap())
        .sum();
    let rolled: i64 = stored.iter().map(|(_, total)| i64::from(*total)).sum();
    assert_eq!(rolled as u64, by_minute, "bins {stored:?}");
    assert!(stored.iter().all(|(start, _)| start.timestamp() % 900 == 0));

    // Again: nothing changes.
    monitor.tick().await.unwrap();
    assert_eq!(
        bins::totals(&app.state.reads.db, sora, from, to)
            .await
            .unwrap(),
        stored
    );

    // Redis loses everything (a restart without persistence): history in PostgreSQL stays.
    let mut redis = redis::Client::open(app.settings.redis_url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*:[bm]:*", app.prefix))
        .query(&mut redis)
        .unwrap();
    let _: () = redis::cmd("DEL").arg(keys).query(&mut redis).unwrap();
    next_minute(&app, &monitor).await;
    next_minute(&app, &monitor).await;
    assert_eq!(
        bins::totals(&app.state.reads.db, sora, from, to)
            .await
            .unwrap(),
        stored
    );
}

#[actix_web::test]
async fn one_leader_at_a_time_and_a_takeover_when_it_stops() {
    let app = TestApp::spawn().await;
    let (a, b) = (Arc::new(monitor(&app)), Arc::new(monitor(&app)));
    assert!(a.tick().await.unwrap().leader);
    assert!(!b.tick().await.unwrap().leader, "the lease is taken");
    app.clock.advance(Duration::from_secs(30));
    assert!(a.tick().await.unwrap().leader, "the leader renews");
    app.clock.advance(Duration::from_secs(30));
    assert!(
        !b.tick().await.unwrap().leader,
        "renewed 30 s ago, the lease still holds"
    );
    // `a` stops ticking (it died); once its lease runs out, `b` takes over.
    app.clock.advance(LEASE);
    assert!(b.tick().await.unwrap().leader);
    assert!(
        !a.tick().await.unwrap().leader,
        "the old leader does not come back while b renews"
    );
}

#[actix_web::test]
async fn a_restart_hours_into_an_incident_resumes_it_and_a_long_gap_is_caught_up() {
    let app = TestApp::spawn().await;
    let chatgpt = app.state.reads.catalog.get("chatgpt").unwrap().id;
    let first = monitor(&app);
    for _ in 0..80 {
        count_direct(&app, "chatgpt", 3, "q").await;
        next_minute(&app, &first).await;
    }
    for _ in 0..200 {
        count_direct(&app, "chatgpt", 30, "o").await;
        next_minute(&app, &first).await;
    }
    let open = incidents::open_for(&app.state.reads.db, chatgpt)
        .await
        .unwrap()
        .expect("open");

    // A restart long after the onset: the replay window holds only the outage.
    let second = monitor(&app);
    for _ in 0..3 {
        count_direct(&app, "chatgpt", 30, "o").await;
        next_minute(&app, &second).await;
    }
    assert_eq!(
        incidents::open_for(&app.state.reads.db, chatgpt)
            .await
            .unwrap()
            .map(|i| i.id),
        Some(open.id)
    );

    // The outage ends; the monitor then misses 45 minutes of ticks and catches up at once.
    for _ in 0..45 {
        count_direct(&app, "chatgpt", 3, "q").await;
        app.clock.advance(Duration::from_secs(60));
    }
    second.tick().await.unwrap();
    let all = incidents::for_service(&app.state.reads.db, chatgpt)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let ended = all[0].ended_at.expect("resolved in the caught-up minutes");
    // The quiet is confirmed 20 minutes after it begins; the incident ends where it began.
    assert!(
        ended <= app.clock.now() - TimeDelta::minutes(20),
        "ended at the start of the quiet: {ended}"
    );
    let kinds: Vec<&str> = incidents::timeline(&app.state.reads.db, open.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.kind.as_str())
        .collect();
    assert_eq!(kinds.first().copied(), Some("opened"));
    assert_eq!(kinds.last().copied(), Some("resolved"));
}
