//! The monitor's cost at scale, measured, not asserted: run it by hand with
//! `DOWNWATCH_SCALE_SERVICES=10000 cargo test --release --test api monitor::scale -- --ignored --nocapture`
//! (`DOWNWATCH_SCALE_WARM_TICKS`, default 400: most ticks the warm-up may take).
//!
//! New leaders over a generated catalog with history (see `catalog`) tick on a clock moving
//! 15 s a tick, as the default interval does, until every service is watched; then 30 minutes
//! of steady ticks. It prints the wall time of both, and the process's resident memory before
//! the monitors start and after they watch everything. Several monitors (`scale_shards`) tick
//! one after the other in this one process: each one's tick time is what an instance of its
//! own would spend.

use std::time::{Duration, Instant};

use downwatch::clock::Clock;
use downwatch::monitor::Monitor;

use super::{catalog, monitor};
use crate::helpers::TestApp;

/// The default tick interval.
const TICK: Duration = Duration::from_secs(15);
/// Minutes of reports generated past now, as far as the measurement's clock may go.
const AHEAD_MINUTES: i64 = 240;
/// Steady ticks measured (30 minutes), after two minutes that settle the warm-up's leftovers.
const STEADY_TICKS: usize = 128;
const SETTLE_TICKS: usize = 8;

#[actix_web::test]
#[ignore = "a measurement: minutes of work at 10,000 services"]
async fn scale_tick_times_with_many_services() {
    let app = spawn_with_catalog().await;
    let watch = monitor(&app);
    measure(&app, &[watch]).await;
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An app with `DOWNWATCH_SCALE_SERVICES` generated services (default 2,000) and their history.
pub async fn spawn_with_catalog() -> TestApp {
    let services = setting("DOWNWATCH_SCALE_SERVICES", 2_000);
    // The default deadlines, not the tests' generous ones: a query that outgrows them at scale
    // fails here as it would in production.
    let app = TestApp::builder()
        .var("DOWNWATCH_DATABASE_TIMEOUT_MS", "<unset>")
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "<unset>")
        .spawn()
        .await;
    let generating = Instant::now();
    catalog::generate(&app, services, AHEAD_MINUTES).await;
    eprintln!(
        "generated {services} services with history in {:.1?}; RSS {} MiB before the monitor",
        generating.elapsed(),
        rss_mib()
    );
    app
}

/// Ticks `monitors` (the instances of one deployment) until every service is watched, then
/// steadily, and prints what it took.
pub async fn measure(app: &TestApp, monitors: &[Monitor]) {
    let services = app.state.reads.catalog.entries().len();
    let most_warm_ticks = setting("DOWNWATCH_SCALE_WARM_TICKS", 400);
    let started = Instant::now();
    let mut watched = vec![0; monitors.len()];
    let mut busy = vec![Duration::ZERO; monitors.len()];
    let (mut ticks, mut longest, mut failed) = (0_u64, Duration::ZERO, 0);
    while watched.iter().sum::<usize>() < services && ticks < most_warm_ticks {
        for (i, watch) in monitors.iter().enumerate() {
            let tick = Instant::now();
            let ticked = watch.tick().await;
            busy[i] += tick.elapsed();
            longest = longest.max(tick.elapsed());
            match ticked {
                Ok(report) => watched[i] = report.watched,
                Err(e) => {
                    failed += 1;
                    eprintln!("  tick {ticks} failed after {:.1?}: {e}", tick.elapsed());
                }
            }
        }
        ticks += 1;
        app.clock.advance(TICK);
        if ticks.is_multiple_of(20) {
            eprintln!(
                "  warm-up: {} of {services} watched after {ticks} ticks, {:.1?}",
                watched.iter().sum::<usize>(),
                started.elapsed()
            );
        }
    }
    eprintln!(
        "warm-up: {} of {services} watched after {ticks} ticks ({} minutes of clock) in \
         {:.1?}; ticking took {busy:.1?} per instance, the longest tick {longest:.2?}, \
         {failed} failed; RSS {} MiB",
        watched.iter().sum::<usize>(),
        ticks * TICK.as_secs() / 60,
        started.elapsed(),
        rss_mib()
    );
    steady(app, monitors).await;
}

/// Steady ticks: one in four sees a new minute (rollup and evaluation), the others find
/// nothing new. Per tick, the slowest instance's time counts.
async fn steady(app: &TestApp, monitors: &[Monitor]) {
    let (mut minute_ticks, mut idle_ticks) = (Vec::new(), Vec::new());
    let (mut minutes, mut failed) = (0, 0);
    for i in 0..STEADY_TICKS {
        app.clock.advance(TICK);
        let (mut slowest, mut observed) = (Duration::ZERO, 0);
        for watch in monitors {
            let tick = Instant::now();
            let ticked = watch.tick().await;
            slowest = slowest.max(tick.elapsed());
            match ticked {
                Ok(report) => observed += report.minutes,
                Err(e) => {
                    failed += 1;
                    eprintln!("  steady tick {i} failed after {:.1?}: {e}", tick.elapsed());
                }
            }
        }
        if slowest > Duration::from_secs(2) {
            eprintln!("  steady tick {i} at {}: {slowest:.2?}", app.clock.now());
        }
        if i < SETTLE_TICKS {
            continue;
        }
        minutes += observed;
        if observed > 0 {
            minute_ticks.push(slowest);
        } else {
            idle_ticks.push(slowest);
        }
    }
    eprintln!(
        "steady: {} ticks with a new minute ({minutes} service-minutes observed) took {} \
         (median, max), {} without one took {}, {failed} failed; RSS {} MiB (peak {} MiB)",
        minute_ticks.len(),
        summary(&mut minute_ticks),
        idle_ticks.len(),
        summary(&mut idle_ticks),
        rss_mib(),
        peak_rss_mib()
    );
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    match (times.get(times.len() / 2), times.last()) {
        (Some(median), Some(max)) => format!("{median:.2?}, {max:.2?}"),
        _ => "-".to_owned(),
    }
}

fn rss_mib() -> u64 {
    status_kib("VmRSS:") / 1024
}

fn peak_rss_mib() -> u64 {
    status_kib("VmHWM:") / 1024
}

/// A `/proc/self/status` field in KiB (0 where there is none).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
