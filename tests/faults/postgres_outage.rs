//! PostgreSQL unavailable: ingest and the Redis-backed reads keep working, and incident writes
//! and rollups wait and catch up when it returns, with no double counts and no lost incident
//! transitions.
//!
//! Two instances see the same reports on the same manual clock: one reaches PostgreSQL through
//! a proxy that the test cuts three times (while an incident opens and escalates, while it
//! deescalates, and while it resolves), the other never loses it. Afterwards both must hold the same incident, timeline,
//! bins and events.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use downwatch::clock::Clock;
use downwatch::db::{bins, incidents};
use downwatch::monitor::{Monitor, TickReport};
use downwatch::store::StoreError;
use serde_json::json;

use crate::helpers::TestApp;
use crate::support::pg_proxy::PgProxy;
use crate::support::{TempDatabase, count_direct, database_server, monitor};

/// `host:port` of the shared PostgreSQL.
fn upstream() -> String {
    let url = url::Url::parse(&database_server()).expect("database server URL");
    format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    )
}

/// The instance behind the proxy and its twin that keeps PostgreSQL.
struct Twins {
    faulty: TestApp,
    faulty_monitor: Monitor,
    control: TestApp,
    control_monitor: Monitor,
    proxy: PgProxy,
    _database: TempDatabase,
}

impl Twins {
    async fn start() -> Self {
        let database = TempDatabase::new();
        let proxy = PgProxy::start(upstream());
        let through_proxy = format!("postgres://postgres@{}/{}", proxy.address(), database.0);
        let faulty = TestApp::builder()
            .database(&database.0)
            .var("DATABASE_URL", &through_proxy)
            .var("DOWNWATCH_DATABASE_TIMEOUT_MS", "1000")
            .spawn()
            .await;
        let control = TestApp::spawn().await;
        let (faulty_monitor, control_monitor) = (monitor(&faulty), monitor(&control));
        Self {
            faulty,
            faulty_monitor,
            control,
            control_monitor,
            proxy,
            _database: database,
        }
    }

    /// `count` reports into the current minute of both, then the next minute on both monitors.
    /// Returns the timeline entries the control wrote, and what the faulty one's tick did, with
    /// its duration.
    async fn minute(&self, count: usize) -> (usize, Result<TickReport, StoreError>, Duration) {
        for app in [&self.faulty, &self.control] {
            count_direct(app, "chatgpt", count, "t").await;
            app.clock.advance(Duration::from_secs(60));
        }
        let control = self
            .control_monitor
            .tick()
            .await
            .expect("the control ticks");
        let started = Instant::now();
        let tick = self.faulty_monitor.tick().await;
        (control.changes, tick, started.elapsed())
    }
}

/// Reports per minute: quiet, an outage that climbs, peaks and ends, quiet again.
fn traffic(minute: usize) -> usize {
    match minute {
        0..80 => 3,
        80..92 => 20 + (minute - 80) * 8,
        92..97 => 100 - (minute - 92) * 15,
        _ => 3,
    }
}

/// While the proxy is cut: the incident opens and escalates in the first, deescalates in the
/// second and resolves in the third (the control's timeline says when).
const CUTS: [std::ops::Range<usize>; 3] = [78..96, 103..110, 125..134];

#[actix_web::test]
async fn without_postgresql_ingest_goes_on_and_incidents_and_rollups_catch_up_without_loss() {
    let twins = Twins::start().await;
    let mut slowest_failed_tick = Duration::ZERO;
    let mut failed_ticks = 0;
    let mut changed_at = Vec::new();
    for minute in 0..150 {
        if CUTS.iter().any(|c| c.start == minute) {
            twins.proxy.cut();
        }
        if CUTS.iter().any(|c| c.end == minute) {
            twins.proxy.resume();
        }
        let down = CUTS.iter().any(|c| c.contains(&minute));
        if down && minute % 6 == 0 {
            // The hot path needs only Redis: a report through the API counts (on both, so
            // they stay twins), and the Redis-backed minutes answer.
            let body = json!({"service": "chatgpt", "problem": "login", "reporter": format!("api-minute-{minute:03}")});
            for app in [&twins.faulty, &twins.control] {
                let reply = app.report(body.clone()).await;
                assert_eq!(reply.status, 202, "{}", reply.text);
            }
            let minutes = twins.faulty.get("/v1/services/chatgpt/minutes").await;
            assert_eq!(minutes.status, 200, "{}", minutes.text);
            // So do the board and a service's status: the catalog is in memory.
            for path in ["/v1/status", "/v1/services/chatgpt"] {
                let read = twins.faulty.get(path).await;
                assert_eq!(read.status, 200, "{path}: {}", read.text);
            }
            let ready = twins.faulty.get("/readyz").await;
            ready.assert_problem(503, None);
            assert_eq!(ready.json["checks"]["postgresql"], "unavailable");
            assert_eq!(ready.json["checks"]["redis"], "ok");
        }
        let (changes, tick, took) = twins.minute(traffic(minute)).await;
        if changes > 0 {
            changed_at.push(minute);
        }
        // Without PostgreSQL a tick fails, but never hangs.
        if tick.is_err() {
            failed_ticks += 1;
            slowest_failed_tick = slowest_failed_tick.max(took);
        }
    }
    for cut in &CUTS {
        assert!(
            changed_at.iter().any(|m| cut.contains(m)),
            "a transition happens while PostgreSQL is cut {cut:?}: {changed_at:?}"
        );
    }
    eprintln!(
        "postgresql cut for {} of 150 minutes: {failed_ticks} ticks failed, the slowest in \
         {slowest_failed_tick:?}",
        CUTS.iter().map(|c| c.len()).sum::<usize>()
    );
    // One more tick each after the last cut, so the faulty one has caught up for sure.
    twins.minute(3).await.1.expect("caught up");

    let incident_of = |app: &TestApp| {
        let db = app.state.reads.db.clone();
        let id = app.state.reads.catalog.get("chatgpt").unwrap().id;
        async move { incidents::for_service(&db, id).await.unwrap() }
    };
    let (faulty, control) = (
        incident_of(&twins.faulty).await,
        incident_of(&twins.control).await,
    );
    assert_eq!(
        control.len(),
        1,
        "the control saw one incident: {control:?}"
    );
    assert_eq!(faulty.len(), 1, "no incident lost or doubled: {faulty:?}");
    let (f, c) = (&faulty[0], &control[0]);
    let facts = |i: &incidents::Incident| {
        (
            i.started_at,
            i.ended_at,
            i.level,
            i.highest_level,
            i.peak_at,
            i.peak_minute_count,
            i.peak_bin_at,
            i.peak_bin_count,
            i.total_reports,
        )
    };
    assert_eq!(facts(f), facts(c), "the same incident:\n{f:?}\n{c:?}");
    assert!(f.ended_at.is_some(), "resolved");

    let timeline = |app: &TestApp, id| {
        let db = app.state.reads.db.clone();
        async move {
            incidents::timeline(&db, id)
                .await
                .unwrap()
                .into_iter()
                .map(|u| (u.at, u.kind, u.level, u.reports))
                .collect::<Vec<_>>()
        }
    };
    let (ft, ct) = (
        timeline(&twins.faulty, f.id).await,
        timeline(&twins.control, c.id).await,
    );
    assert_eq!(ft, ct, "every transition written once, in order");
    assert!(ct.iter().any(|u| u.1.as_str() == "escalated"), "{ct:?}");

    // Rollups: the same bins, each the sum of its minutes (nothing counted twice).
    let bins_of = |app: &TestApp| {
        let db = app.state.reads.db.clone();
        let id = app.state.reads.catalog.get("chatgpt").unwrap().id;
        let to = app.clock.now();
        async move {
            bins::totals(&db, id, to - TimeDelta::hours(4), to)
                .await
                .unwrap()
        }
    };
    let (fb, cb) = (bins_of(&twins.faulty).await, bins_of(&twins.control).await);
    assert_eq!(fb, cb, "the same bins");
    let now = twins.faulty.clock.now();
    for (start, total) in &fb {
        if *start + TimeDelta::minutes(15) > now - TimeDelta::minutes(1) {
            continue;
        }
        let minutes = twins
            .faulty
            .total(
                "chatgpt",
                &format!(
                    "?from={}&to={}",
                    stamp(*start),
                    stamp(*start + TimeDelta::minutes(15))
                ),
            )
            .await;
        assert_eq!(u64::try_from(*total).unwrap(), minutes, "bin at {start}");
    }

    // The live events tell the same story, late but complete: every transition once, in
    // order (rises of the peak while PostgreSQL was away are announced together, as one).
    let kinds = |app: &TestApp| {
        let events = app.state.events.clone();
        async move {
            let downwatch::events::Replay::Missed(all) = events.since("0-0").await.unwrap() else {
                panic!("more events than the replay limit");
            };
            all.into_iter()
                .filter_map(|e| {
                    let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                    let step = data["kind"].as_str().unwrap_or_default().to_owned();
                    (e.kind.starts_with("incident.") && step != "peak").then_some((e.kind, step))
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(kinds(&twins.faulty).await, kinds(&twins.control).await);
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[actix_web::test]
async fn a_hung_postgresql_costs_a_tick_one_deadline_not_one_per_service_and_ingest_goes_on() {
    let database = TempDatabase::new();
    let proxy = PgProxy::start(upstream());
    let through_proxy = format!("postgres://postgres@{}/{}", proxy.address(), database.0);
    let app = TestApp::builder()
        .database(&database.0)
        .var("DATABASE_URL", &through_proxy)
        .var("DOWNWATCH_DATABASE_TIMEOUT_MS", "1000")
        .spawn()
        .await;
    let first = monitor(&app);
    for _ in 0..20 {
        count_direct(&app, "chatgpt", 3, "q").await;
        app.clock.advance(Duration::from_secs(60));
        first.tick().await.unwrap();
    }

    // A partition: connections stay open, nothing answers.
    proxy.hang();
    let started = Instant::now();
    let report = app
        .report(json!({"service": "chatgpt", "problem": "login", "reporter": "while-hung-01"}))
        .await;
    let report_took = started.elapsed();
    assert_eq!(report.status, 202, "{}", report.text);
    let started = Instant::now();
    let read = app.get("/v1/incidents").await;
    let read_took = started.elapsed();
    read.assert_problem(503, None);
    assert_eq!(read.json["dependency"], "PostgreSQL");

    // The leader dies; the next one must warm up every service, and PostgreSQL answers none.
    drop(first);
    app.clock.advance(Duration::from_secs(60));
    let next = monitor(&app);
    let mut ticks = Vec::new();
    for _ in 0..3 {
        count_direct(&app, "chatgpt", 3, "q").await;
        app.clock.advance(Duration::from_secs(60));
        let started = Instant::now();
        let tick = next.tick().await;
        ticks.push(started.elapsed());
        assert!(tick.is_err(), "nothing can be written");
    }
    eprintln!(
        "postgresql hung (1 s deadline): a report answered {} in {report_took:?}; a service \
         read answered 503 in {read_took:?}; a new leader's ticks took {ticks:?}",
        report.status
    );
    // One deadline (1 s), not one per pool step or per service (35), with a margin for a
    // loaded machine.
    let bound = Duration::from_millis(1800);
    assert!(read_took < bound, "{read_took:?}");
    assert!(ticks.iter().all(|t| *t < bound), "{ticks:?}");

    proxy.resume();
    count_direct(&app, "chatgpt", 3, "q").await;
    app.clock.advance(Duration::from_secs(60));
    let tick = next.tick().await.expect("PostgreSQL answers again");
    assert!(tick.leader && tick.services == 35, "{tick:?}");
}
