//! Stored readings: a curve over history the monitor has read is a read, and it gives exactly
//! the points the model gives when it runs over the same history (the refit), for closed bins
//! and for the bins under way.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::RunQueryDsl;
use downwatch::clock::Clock;
use downwatch::db::bins::{self, BinCounts};
use downwatch::db::bootstrap::with_sync_connection;
use downwatch::db::readings;
use downwatch::detect::Params;
use downwatch::detect::readings::{Run, anchor, model_id};
use downwatch::detect::synthetic::{Outage, Traffic, generate};
use downwatch::domain::ServiceSlug;
use downwatch::query::curve::{CurveRequest, load};
use downwatch::query::points::{CurvePoint, Step, model};
use downwatch::query::runs::RunKey;
use downwatch::time::{minute_of, minute_start};

use crate::helpers::{TestApp, count_direct};
use crate::monitor::monitor;

/// 15-minute bins as (minute number, total).
type Bins = Vec<(i64, i32)>;

/// 15-minute totals of a busy service over `days` ending at `end`, with an outage on the
/// last day but one and a quiet service with a few stray reports.
fn history(end: DateTime<Utc>, days: usize) -> (Bins, Bins) {
    let start = end - TimeDelta::days(i64::try_from(days).unwrap());
    let outage = Outage {
        start_minute: (days - 2) * 1440 + 600,
        ramp_minutes: 20.0,
        plateau_minutes: 90.0,
        decay_minutes: 60.0,
        peak_extra: 40.0,
    };
    let traffic = Traffic {
        gaps_per_day: 0.0,
        ..Traffic::busy(3.0)
    };
    let series = generate(&traffic, &[outage], &[], start.timestamp(), days * 1440, 7).coarsen(15);
    let first = minute_of(start);
    let busy = (0_i64..)
        .zip(&series.values)
        .map(|(i, v)| (first + i * 15, *v as i32))
        .collect();
    // A few reports on a few days: most of its days read idle.
    let quiet = [3_i64, 40, 41, 700, 1100]
        .iter()
        .map(|i| (first + i * 15, 2))
        .collect();
    (busy, quiet)
}

async fn seed(app: &TestApp, slug: &str, totals: &[(i64, i32)]) {
    let service_id = app.state.reads.catalog.get(slug).unwrap().id;
    let rows: Vec<BinCounts> = totals
        .iter()
        .filter(|(_, total)| *total > 0)
        .map(|(minute, total)| BinCounts {
            service_id,
            bin_start: minute_start(*minute),
            total: *total,
            problems: BTreeMap::from([("login".to_owned(), *total)]),
            countries: BTreeMap::new(),
        })
        .collect();
    bins::upsert(&app.state.reads.db, &rows).await.unwrap();
}

/// Seeds 16 days of chatgpt's history up to the bin under way at the app's clock, with the
/// rollup complete before that bin; returns that bin's start (minute) and the histories.
async fn seed_history(app: &TestApp) -> (i64, Bins, Bins) {
    let now = minute_of(app.clock.now());
    let complete = now - now % 15;
    let (busy, quiet) = history(minute_start(complete), 16);
    seed(app, "chatgpt", &busy).await;
    bins::set_complete_before(&app.state.reads.db, minute_start(complete))
        .await
        .unwrap();
    (complete, busy, quiet)
}

/// The curves compared: the default day, a range across midnight, ten days hourly, and a
/// closed week hourly ending mid-history.
fn requests(now: DateTime<Utc>) -> Vec<CurveRequest> {
    let quarter = CurveRequest::default();
    let ranged = |from: DateTime<Utc>, to: DateTime<Utc>, step| CurveRequest {
        from: Some(from),
        to: Some(to),
        step,
        zone: Tz::UTC,
        span_minutes: 0,
    };
    vec![
        quarter,
        ranged(
            now - TimeDelta::hours(50),
            now - TimeDelta::hours(20),
            Step::QuarterHour,
        ),
        ranged(now - TimeDelta::days(10), now, Step::Hour),
        ranged(
            now - TimeDelta::days(9),
            now - TimeDelta::days(2),
            Step::Hour,
        ),
    ]
}

async fn curves(app: &TestApp, slugs: &[&str]) -> Vec<Vec<CurvePoint>> {
    let mut all = Vec::new();
    for slug in slugs {
        let slug = ServiceSlug::parse(slug).unwrap();
        for request in requests(app.clock.now()) {
            let curve = load(&app.state.reads, &slug, request).await.unwrap();
            all.push(curve.points);
        }
    }
    all
}

/// Runs the monitor until every stored day has readings.
async fn read_everything(app: &TestApp) {
    let monitor = monitor(app);
    let oldest = readings::oldest_bin(&app.state.reads.db)
        .await
        .unwrap()
        .unwrap();
    for _ in 0..100 {
        monitor.tick().await.unwrap();
        let progress = readings::progress(&app.state.reads.db).await.unwrap();
        if progress.readings.is_some_and(|span| span.from <= oldest) {
            return;
        }
    }
    panic!("the monitor did not read the history");
}

/// The first point where two sets of curves differ: (curve, point, left, right).
fn first_difference(
    a: &[Vec<CurvePoint>],
    b: &[Vec<CurvePoint>],
) -> Option<(usize, usize, Option<CurvePoint>, Option<CurvePoint>)> {
    a.iter().zip(b).enumerate().find_map(|(c, (x, y))| {
        let n = x.len().max(y.len());
        (0..n)
            .find(|i| x.get(*i) != y.get(*i))
            .map(|i| (c, i, x.get(i).copied(), y.get(i).copied()))
    })
}

async fn sql(app: &TestApp, statement: &'static str) -> usize {
    with_sync_connection(&app.settings.database_url, move |conn| {
        Ok(diesel::sql_query(statement).execute(conn)?)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn stored_readings_match_the_refit() {
    stored_and_refit_agree("0").await;
}

/// The same with stored bins and the rollup's progress kept in the process.
#[actix_web::test]
async fn kept_bins_give_the_same_points() {
    stored_and_refit_agree("1000").await;
}

async fn stored_and_refit_agree(history_cache_ms: &str) {
    let now = Utc.with_ymd_and_hms(2025, 6, 20, 10, 7, 0).unwrap();
    let app = TestApp::builder()
        .var("DOWNWATCH_HISTORY_CACHE_MS", history_cache_ms)
        .start_at(now)
        .spawn()
        .await;
    let tick = std::time::Duration::from_secs(2);
    let (_, _, quiet) = seed_history(&app).await;
    seed(&app, "sora", &quiet).await;
    // The bin under way is in Redis only.
    count_direct(&app, "chatgpt", 9, "open").await;
    let slugs = ["chatgpt", "sora"];

    // Nothing read yet: every point is the model's, run from its day's anchor.
    let refit = curves(&app, &slugs).await;
    let day = &refit[2];
    assert!(
        day.iter()
            .any(|p| p.level != downwatch::detect::Level::Normal),
        "the outage shows in the curve"
    );

    read_everything(&app).await;
    // The progress a curve knows is at most a second old.
    app.clock.advance(tick);
    let stored = sql(&app, "SELECT 1 FROM report_bins WHERE baseline IS NOT NULL").await;
    assert!(stored > 16 * 96, "readings stored: {stored}");
    let read = curves(&app, &slugs).await;
    assert_eq!(
        first_difference(&read, &refit),
        None,
        "stored readings give the refit's points"
    );
    let again = curves(&app, &slugs).await;
    assert_eq!(
        first_difference(&again, &refit),
        None,
        "and so do kept runs"
    );

    if history_cache_ms != "0" {
        return;
    }
    // The curve really reads them: readings changed in storage change it.
    sql(
        &app,
        "UPDATE report_bins SET baseline = baseline + 1000, hour_baseline = hour_baseline + 1000",
    )
    .await;
    let tampered = curves(&app, &slugs).await;
    // chatgpt's curves come first: nearly all their steps are closed and read.
    let busy_curves = requests(app.clock.now()).len();
    let moved = tampered[..busy_curves]
        .iter()
        .zip(&refit)
        .flat_map(|(a, b)| a.iter().zip(b))
        .filter(|(a, b)| (a.baseline - b.baseline - 1000.0).abs() < 1e-6)
        .count();
    let total: usize = refit[..busy_curves].iter().map(Vec::len).sum();
    assert!(
        moved > total * 9 / 10,
        "{moved} of {total} read from storage"
    );

    // Readings of another model are not used.
    sql(
        &app,
        "UPDATE rollup_progress SET readings_model = readings_model + 1",
    )
    .await;
    let other = curves(&app, &slugs).await;
    assert_eq!(first_difference(&other, &refit), None);
}

/// A curve starting at midnight UTC reads its first day exactly as the per-request refit of
/// earlier versions did (both warm up over the seven days before it); the readings of any step
/// are those of a run from its day's anchor.
#[actix_web::test]
async fn readings_follow_the_day_anchored_definition() {
    let now = Utc.with_ymd_and_hms(2025, 6, 20, 10, 7, 0).unwrap();
    let app = TestApp::builder().start_at(now).spawn().await;
    let (_, busy, _) = seed_history(&app).await;
    read_everything(&app).await;
    let params = Params::default();
    let stored: HashMap<i64, i32> = busy.iter().copied().collect();
    let reports = |minute: i64| stored.get(&minute).map_or(0.0, |t| f64::from(*t));
    let midnight = Utc.with_ymd_and_hms(2025, 6, 17, 0, 0, 0).unwrap();
    let request = CurveRequest {
        from: Some(midnight),
        to: Some(midnight + TimeDelta::days(2)),
        step: Step::QuarterHour,
        zone: Tz::UTC,
        span_minutes: 0,
    };
    let slug = ServiceSlug::parse("chatgpt").unwrap();
    let curve = load(&app.state.reads, &slug, request).await.unwrap();
    assert_eq!(curve.points.len(), 192);

    let from = minute_of(midnight);
    let series: Vec<(i64, f64)> = (from - 7 * 1440..from + 2 * 1440)
        .step_by(15)
        .map(|m| (m, reports(m)))
        .collect();
    let before = model(&series, from, Step::QuarterHour, params);
    assert_eq!(curve.points[..96], before[..96], "the first day as before");

    for (i, point) in curve.points.iter().enumerate() {
        let mut run = Run::new(params, 15, anchor(point.minute));
        run.advance_to(point.minute, reports);
        let reading = run.step(point.reports);
        assert_eq!(
            (point.baseline, point.upper, point.level),
            (reading.baseline, reading.upper, reading.level),
            "step {i}"
        );
    }
}

/// In the first quarter hour of a UTC day the day's first step is open, after the final bins:
/// its run (a week of steps from the day's anchor) is kept where the final bins end and fed the
/// step after by each curve, rather than computed again by every one. The points are the
/// refit's, and the kept run is the one read.
#[actix_web::test]
async fn a_days_first_open_step_starts_from_a_run_kept_where_the_final_bins_end() {
    let now = Utc.with_ymd_and_hms(2025, 6, 20, 0, 7, 0).unwrap();
    let app = TestApp::builder()
        .var("DOWNWATCH_HISTORY_CACHE_MS", "0")
        .start_at(now)
        .spawn()
        .await;
    let (open, _, _) = seed_history(&app).await;
    count_direct(&app, "chatgpt", 9, "open").await;
    let slug = ServiceSlug::parse("chatgpt").unwrap();
    let reads = &app.state.reads;
    let day = || load(reads, &slug, CurveRequest::default());
    let refit = day().await.unwrap().points;

    read_everything(&app).await;
    app.clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(day().await.unwrap().points, refit, "read as the refit");
    assert_eq!(
        day().await.unwrap().points,
        refit,
        "and again from kept runs"
    );

    // Readings stop a bin short of the rollup (the 23:45 bin is not final), so the run of the
    // open step is kept positioned at 23:45.
    let span = readings::progress(&reads.db)
        .await
        .unwrap()
        .readings
        .unwrap();
    let key = RunKey {
        service_id: reads.catalog.get("chatgpt").unwrap().id,
        step: 15,
        anchor: anchor(open),
        at: open - 15,
        model: model_id(&reads.detect),
        generation: span.generation,
    };
    let kept = reads
        .runs
        .get(&key)
        .expect("the run kept where the final bins end");
    assert_eq!(kept.next(), open - 15);
    // Swapped for a run that saw 100,000 reports every step, it moves the open step only.
    let mut swapped = Run::new(reads.detect, 15, anchor(open));
    swapped.advance_to(open - 15, |_| 100_000.0);
    reads.runs.keep(key, swapped);
    let moved = day().await.unwrap().points;
    let last = refit.len() - 1;
    assert_eq!(moved[..last], refit[..last]);
    assert!(
        moved[last].baseline > refit[last].baseline * 10.0,
        "the open step read the kept run: {} against {}",
        moved[last].baseline,
        refit[last].baseline
    );
}
