//! A generated catalog with history, for measuring the monitor at scale.
//!
//! Report volume in a real catalog is a long tail, so the history is too: one service in a
//! hundred is busy (a bin every 15 minutes for four weeks, a daily cycle, a past incident, a
//! report count every minute in Redis), one in ten is moderate (a bin in three, a Redis minute
//! in ten), the rest see a few reports a day. Bins end where the monitor's replay begins; the
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
    let url = app.settings.database_url.clone();
    downwatch::db::bootstrap::with_sync_connection(&url, move |conn| {
        use diesel::RunQueryDsl;
        for sql in statements {
            diesel::sql_query(sql).execute(conn)?;
        }
        Ok(())
    })
    .await
    .unwrap();
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
        windows.seed_minutes(&slug, &buckets).await.unwrap();
    }
}

/// The services, their bins and the busy ones' past incidents, in set-based SQL.
fn history_sql(services: u64, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let (from, to) = (from.to_rfc3339(), to.to_rfc3339());
    let generated = "(SELECT id, substring(slug FROM 7)::int AS n FROM services \
                     WHERE slug LIKE 'scale-%') AS s";
    let bins = format!(
        "generate_series('{from}'::timestamptz, '{to}'::timestamptz - interval '15 minutes', \
         interval '15 minutes') AS b(t)"
    );
    vec![
        format!(
            "INSERT INTO services (id, slug, name, category, provider, problems, archived, \
             created_at, updated_at) \
             SELECT gen_random_uuid(), 'scale-' || n, 'Scale ' || n, 'test', 'scale', \
             ARRAY['login'], false, now(), now() FROM generate_series(1, {services}) AS n"
        ),
        // Busy: every bin, a daily cycle around a level of its own.
        format!(
            "INSERT INTO report_bins (service_id, bin_start, total) \
             SELECT s.id, b.t, 40 + s.n % 50 \
               + floor(20 * sin(2 * pi() * extract(epoch FROM b.t) / 86400))::int \
               + floor(random() * 10)::int \
             FROM {generated} CROSS JOIN {bins} WHERE s.n % 100 = 0"
        ),
        // Moderate: a bin in three, a few reports each.
        format!(
            "INSERT INTO report_bins (service_id, bin_start, total) \
             SELECT s.id, b.t, 1 + floor(random() * 4)::int \
             FROM {generated} CROSS JOIN {bins} \
             WHERE s.n % 10 = 0 AND s.n % 100 <> 0 AND random() < 0.33"
        ),
        // Sparse: about four reports a day, at random.
        format!(
            "INSERT INTO report_bins (service_id, bin_start, total) \
             SELECT s.id, '{from}'::timestamptz \
               + floor(random() * {bins_count}) * interval '15 minutes', 1 \
             FROM {generated} CROSS JOIN generate_series(1, {sparse}) \
             WHERE s.n % 10 <> 0 ON CONFLICT DO NOTHING",
            bins_count = HISTORY_DAYS * 96,
            sparse = HISTORY_DAYS * 4,
        ),
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
