//! The monitor's cost at scale, measured, not asserted: run it by hand with
//! `DOWNWATCH_SCALE_SERVICES=10000 cargo test --release --test api monitor::scale -- --ignored --nocapture`
//! (`DOWNWATCH_SCALE_WARM_TICKS`, default 400: most ticks the warm-up may take).
//!
//! A new leader over a generated catalog with history (see `catalog`) ticks on a clock moving
//! 15 s a tick, as the default interval does, until every service is watched; then steady
//! ticks. It prints the wall time of both, and the process's resident memory before the
//! monitor starts and after it watches everything.

use std::time::{Duration, Instant};

use super::{catalog, monitor};
use crate::helpers::TestApp;

/// The default tick interval.
const TICK: Duration = Duration::from_secs(15);
/// Minutes of reports generated past now, as far as the measurement's clock may go.
const AHEAD_MINUTES: i64 = 240;

#[actix_web::test]
#[ignore = "a measurement: minutes of work at 10,000 services"]
async fn scale_tick_times_with_many_services() {
    let services: u64 = std::env::var("DOWNWATCH_SCALE_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let most_warm_ticks: u32 = std::env::var("DOWNWATCH_SCALE_WARM_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
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
        "generated {services} services with history in {:?}; RSS {} MiB before the monitor",
        generating.elapsed(),
        rss_mib()
    );
    let watch = monitor(&app);
    let started = Instant::now();
    let (mut warm_ticks, mut longest, mut failed) = (0_u32, Duration::ZERO, 0);
    loop {
        let tick = Instant::now();
        let ticked = watch.tick().await;
        longest = longest.max(tick.elapsed());
        warm_ticks += 1;
        app.clock.advance(TICK);
        let Ok(report) = ticked.inspect_err(|e| {
            failed += 1;
            eprintln!("  tick {warm_ticks} failed after {:?}: {e}", tick.elapsed());
        }) else {
            continue;
        };
        if warm_ticks.is_multiple_of(20) {
            eprintln!(
                "  warm-up: {} of {} watched after {warm_ticks} ticks, {:?}",
                report.watched,
                report.services,
                started.elapsed()
            );
        }
        if report.watched == report.services {
            break;
        }
        if warm_ticks >= most_warm_ticks {
            eprintln!(
                "  gave up: {} of {} watched after {warm_ticks} ticks",
                report.watched, report.services
            );
            break;
        }
    }
    let warm = started.elapsed();
    eprintln!(
        "warm-up: every service watched after {warm_ticks} ticks ({} minutes of clock) in \
         {warm:?}, the longest tick {longest:?}, {failed} failed; RSS {} MiB",
        u64::from(warm_ticks) * TICK.as_secs() / 60,
        rss_mib()
    );
    // Steady: ticks 15 s apart, one in four sees a new minute (rollup and evaluation); the
    // others find nothing new. The first two minutes settle what the warm-up left behind.
    let (mut minute_ticks, mut idle_ticks) = (Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..48 {
        app.clock.advance(TICK);
        let tick = Instant::now();
        let ticked = watch.tick().await;
        let took = tick.elapsed();
        let Ok(report) = ticked.inspect_err(|e| {
            eprintln!("  steady tick {i} failed after {took:?}: {e}");
        }) else {
            continue;
        };
        if i >= 8 {
            if report.minutes > 0 {
                minute_ticks.push(took);
            } else {
                idle_ticks.push(took);
            }
        }
        last = Some(report);
    }
    let report = last.expect("a steady tick succeeded");
    eprintln!(
        "steady: {} services, {} watched; a tick with a new minute ({} minutes observed) took \
         {} (median, max), one without {}; RSS {} MiB (peak {} MiB)",
        report.services,
        report.watched,
        report.minutes,
        summary(&mut minute_ticks),
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
