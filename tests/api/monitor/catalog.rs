//! A generated catalog with history, for measuring the monitor at scale.
//!
//! Report volume in a real catalog is a long tail, so the history is too: one service in a
//! hundred is busy (a bin every 15 minutes for four weeks, a daily cycle, a past incident, a
//! report count every minute in Redis), one in ten is moderate (a bin in four, a Redis minute
//! in ten), the rest see a report twice a day. Bins end where the monitor's replay begins; the
//! rollup's progress is set to now and the readings' span to the whole history, as in a
//! deployment that has been running: a new leader learns from PostgreSQL and replays Redis,
//! and the rollup and the readings resume rather than starting over.

use chrono::{DateTime, TimeDelta, Utc};
use downwatch::clock::Clock;
use downwatch::db::{bins, readings};
use downwatch::detect::Params;
use downwatch::domain::ServiceSlug;
use downwatch::windows::MinuteBucket;

use crate::helpers::TestApp;

/// Days of bins generated (what a tracker learns from).
const HISTORY_DAYS: i64 = 28;
/// Minutes of Redis minutes generated before now (the tracker's replay).
const REPLAY_MINUTES: i64 = 180;

/// Which part of the tail a generated service (`scale-<n>`) is in.
fn tier(n: u64) -> Tier {
    if n.is_multiple_of(100) {
        Tier::Busy
    } else if n.is_multiple_of(10) {
        Tier::Moderate
    } else {
        Tier::Sparse
    }
}

#[derive(PartialEq)]
enum Tier {
    Busy,
    Moderate,
    Sparse,
}

/// Adds `services` services with history to the app's catalog; their minutes in Redis reach
/// `ahead` minutes past now, so the measurement's clock can move on with reports coming in.
pub async fn generate(app: &TestApp, services: u64, ahead: i64) {
    let now = app.clock.now();
    let replay_from = downwatch::monitor::rollup::align(minute(now) - REPLAY_MINUTES);
    let history_to = at(replay_from);
    let history_from = history_to - TimeDelta::days(HISTORY_DAYS);
    let db = &app.state.reads.db;
    bins::ensure_partitions(db, history_from, now)
        .await
        .unwrap();
    let statements = history_sql(services, history_from, history_to);
    for sql in statements {
        downwatch::db::bootstrap::with_sync_connection(&app.settings.database_url, move |conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(sql).execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    }
    let complete = downwatch::monitor::rollup::align(minute(now));
    bins::set_complete_before(db, at(complete)).await.unwrap();
    // The model's readings of that history are taken as recorded (as they are once a
    // deployment has run a while): the recorder's first backfill is a job of its own.
    let model = downwatch::detect::readings::model_id(&Params::default());
    readings::set_span(db, history_from, at(complete - 15), model)
        .await
        .unwrap();
    app.state.refresh_catalog().await.unwrap();
    let windows = &app.state.reads.windows;
    for n in 1..=services {
        let every = match tier(n) {
            Tier::Busy => 1,
            Tier::Moderate => 10,
            Tier::Sparse => continue,
        };
        let slug = ServiceSlug::parse(&format!("scale-{n}")).unwrap();
        let buckets: Vec<MinuteBucket> = (minute(now) - REPLAY_MINUTES..minute(now) + ahead)
            .filter(|m| (m + n as i64) % every == 0)
            .map(|m| {
                let total = if every == 1 {
                    2 + (n + m as u64) % 7
                } else {
                    1
                };
                MinuteBucket {
                    t: at(m),
                    total,
                    problems: [("login".to_owned(), total)].into(),
                    countries: Default::default(),
                }
            })
            .collect();
        // Under the default Redis deadline on a loaded machine, a pipeline may miss it: again.
        let mut tries = 0;
        while let Err(e) = windows.seed_minutes(&slug, &buckets).await {
            tries += 1;
            assert!(tries < 10, "{e}");
        }
    }
}

/// The services, their bins and the busy ones' past incidents, in set-based SQL, one statement
/// at a time (each within the blocking connection's time limit at 100,000 services).
fn history_sql(services: u64, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let (from, to) = (from.to_rfc3339(), to.to_rfc3339());
    let last = HISTORY_DAYS * 96 - 1;
    let generated = "(SELECT id, substring(slug FROM 7)::int AS n FROM services \
                     WHERE slug LIKE 'scale-%') AS s";
    let bins = |every: &str, total: &str, tier: &str| {
        format!(
            "INSERT INTO report_bins (service_id, bin_start, total) \
             SELECT s.id, '{from}'::timestamptz + b.i * interval '15 minutes', {total} \
             FROM {generated} CROSS JOIN LATERAL generate_series(s.n % {every}, {last}, \
             {every}) AS b(i) WHERE {tier}"
        )
    };
    vec![
        format!(
            "INSERT INTO services (id, slug, name, category, provider, problems, archived, \
             created_at, updated_at) \
             SELECT gen_random_uuid(), 'scale-' || n, 'Scale ' || n, 'test', 'scale', \
             ARRAY['login'], false, now(), now() FROM generate_series(1, {services}) AS n"
        ),
        // Busy: every bin, a daily cycle around a level of its own.
        bins(
            "1",
            "40 + s.n % 50 + floor(20 * sin(2 * pi() * b.i / 96))::int + (s.n + b.i) % 10",
            "s.n % 100 = 0",
        ),
        // Moderate: a bin in four, a few reports each.
        bins(
            "4",
            "1 + (s.n + b.i) % 4",
            "s.n % 10 = 0 AND s.n % 100 <> 0",
        ),
        // Sparse: a report twice a day.
        bins("48", "1", "s.n % 10 <> 0"),
        // A resolved incident ten days ago on each busy service: the tracker leaves it out.
        format!(
            "INSERT INTO incidents (id, service_id, began_at, started_at, ended_at, level, \
             highest_level, peak_at, peak_minute_count, peak_bin_at, peak_bin_count, \
             baseline_at_peak, total_reports, problem_counts, country_counts, updated_at) \
             SELECT gen_random_uuid(), s.id, t, t, t + interval '2 hours', 'normal', 'outage', \
             t, 90, t, 600, 40, 2000, '{{}}', '{{}}', t + interval '2 hours' \
             FROM {generated}, (SELECT '{to}'::timestamptz - interval '10 days' AS t) AS x \
             WHERE s.n % 100 = 0"
        ),
        "ANALYZE services, report_bins, incidents".to_owned(),
    ]
}

fn minute(t: DateTime<Utc>) -> i64 {
    downwatch::time::minute_of(t)
}

fn at(minute: i64) -> DateTime<Utc> {
    downwatch::time::minute_start(minute)
}
