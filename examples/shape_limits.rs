//! How far the issue shapes of the quality suite stand out from their own streams' normal
//! excursions, judged by an **oracle** that knows each stream's true expected volume (the
//! generator's rhythm and growth, without the drift in interest, the bursts or the noise): no
//! baseline learned from counts can know more. It bounds what a rule of the model's kind (a
//! window's log-ratio, the model's own `detect::log_ratio`, against the largest of the service's
//! last four weeks, times a margin) can do on these streams. Not part of the product.
//!
//! - `cargo run --release --example shape_limits -- [--model] [seeds]`: for each issue shape and
//!   seed, per window, the outage's largest log-ratio against the largest before it. With
//!   `--model`, the expectation is the production model's baseline instead of the oracle's.
//! - `cargo run --release --example shape_limits -- trade [seeds]`: for margins 1 to 1.3 over
//!   the history's largest, how many issue shapes the oracle finds (on one window, or on any of
//!   several) and how many times a calm stream of each class beats its own record by that margin
//!   (events at least an hour apart, from its eighth day): the trade between the two targets.
//!   With `--model`, against the production model's baseline; with `--jump`, the rule judges a
//!   window's rise over the window just before it (the shape of a rise, not its size) instead.
//! - `--occupied` (either mode): windows count the minutes that had a report, against the
//!   Poisson chance of one, instead of the reports (a sustained rise spreads over the minutes, a
//!   stray cluster crowds a few); `--pseudo=N` puts N pseudo-reports on both sides of a ratio
//!   instead of the model's 2.
//!
//! Seeds default to 1-10, the tuning seeds.

use downwatch::detect::synthetic::{
    Scenario, Series, expected_per_minute, issue_shapes, quality_suite,
};
use downwatch::detect::{Detector, Params, log_ratio};

/// Pseudo-reports on both sides of a ratio, when `--pseudo=N` replaces the model's.
static PSEUDO: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
/// Set by `--occupied`: windows count the minutes with a report rather than the reports.
static OCCUPIED: std::sync::OnceLock<()> = std::sync::OnceLock::new();

fn window_ratio(seen: f64, expected: f64) -> f64 {
    match PSEUDO.get() {
        Some(p) => ((seen + p) / (expected + p)).ln(),
        None => log_ratio(seen, expected),
    }
}

/// The calm classes of the quality suite, whose outage-free streams (`<class>/normal`) are
/// counted.
const CLASSES: [&str; 5] = ["quiet", "low", "medium", "busy", "huge"];

/// The issue shapes' names, as `issue_shapes` orders them.
fn shape_names(scenarios: &[Scenario]) -> Vec<&str> {
    scenarios
        .iter()
        .map(|s| s.name.trim_start_matches("issue/"))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = args.iter().find(|a| {
        a.parse::<u64>().is_err()
            && !["trade", "--model", "--jump", "--occupied"].contains(&a.as_str())
            && !a.starts_with("--pseudo=")
    }) {
        eprintln!(
            "shape_limits: unknown argument {unknown:?}; usage: [trade] [--model] [--jump] \
             [--occupied] [--pseudo=N] [seeds]"
        );
        std::process::exit(2);
    }
    if args.iter().any(|a| a == "--occupied") {
        OCCUPIED.set(()).expect("set once");
    }
    if let Some(p) = args.iter().find_map(|a| a.strip_prefix("--pseudo=")) {
        PSEUDO
            .set(p.parse().expect("--pseudo=N takes a number"))
            .expect("set once");
    }
    let seeds: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let seeds = if seeds.is_empty() {
        (1..=10).collect()
    } else {
        seeds
    };
    if args.iter().any(|a| a == "trade") {
        // The trade is the oracle's: `--model` applies to the per-seed listing only.
        trade(
            &seeds,
            args.iter().any(|a| a == "--jump"),
            args.iter().any(|a| a == "--model"),
        );
    } else {
        per_seed(&seeds, args.iter().any(|a| a == "--model"));
    }
}

/// The oracle's expected reports per minute: the scenario's traffic before noise and bursts.
fn oracle(scenario: &Scenario) -> Vec<f64> {
    let series = &scenario.series;
    (0..series.values.len())
        .map(|m| expected_per_minute(&scenario.traffic, series.time(m), m))
        .collect()
}

/// The production model's baseline per minute.
fn model(series: &Series) -> Vec<f64> {
    let mut detector = Detector::new(Params::default(), 1.0);
    (0..series.values.len())
        .map(|m| detector.step(series.time(m), series.values[m]).baseline)
        .collect()
}

/// The log-ratio of the `window`-minute window ending at each minute (NaN before the first).
fn ratios(values: &[f64], expected: &[f64], window: usize) -> Vec<f64> {
    let count = |v: f64| if v.is_finite() { v } else { 0.0 };
    let mut out = vec![f64::NAN; values.len()];
    let (mut seen, mut exp) = (0.0, 0.0);
    for i in 0..values.len() {
        seen += count(values[i]);
        exp += expected[i];
        if i >= window {
            seen -= count(values[i - window]);
            exp -= expected[i - window];
        }
        if i + 1 >= window {
            out[i] = window_ratio(seen, exp);
        }
    }
    out
}

/// The window's log-ratio (of reports, or with `--occupied` of minutes with a report), or with
/// `jump` its rise over the window just before it.
fn statistic(values: &[f64], expected: &[f64], window: usize, jump: bool) -> Vec<f64> {
    let r = if OCCUPIED.get().is_some() {
        // Minutes with a report against the chance of one (Poisson): a sustained rise spreads
        // over the minutes, a stray cluster crowds a few.
        let occupied: Vec<f64> = values.iter().map(|v| v.min(1.0)).collect();
        let chance: Vec<f64> = expected.iter().map(|e| 1.0 - (-e).exp()).collect();
        ratios(&occupied, &chance, window)
    } else {
        ratios(values, expected, window)
    };
    if !jump {
        return r;
    }
    (0..r.len())
        .map(|i| {
            if i >= window {
                r[i] - r[i - window]
            } else {
                f64::NAN
            }
        })
        .collect()
}

fn max_of(values: &[f64]) -> f64 {
    values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Minutes of the outage, from its start to its end plus `window`.
fn outage_minutes(series: &Series, window: usize) -> std::ops::Range<usize> {
    let minute = |t: i64| usize::try_from((t - series.start) / 60).expect("after the start");
    let (from, to) = series.truth[0];
    minute(from)..minute(to) + window
}

/// The outage's largest log-ratio on `window`, and the largest of the (up to) 28 days before it.
fn outage_and_history(series: &Series, expected: &[f64], window: usize, jump: bool) -> (f64, f64) {
    let r = statistic(&series.values, expected, window, jump);
    let during = outage_minutes(series, window);
    let history = max_of(&r[during.start.saturating_sub(28 * 1440)..during.start]);
    (max_of(&r[during]), history)
}

fn per_seed(seeds: &[u64], use_model: bool) {
    const WINDOWS: [usize; 4] = [15, 30, 60, 120];
    println!("| shape | seed | window | outage | history's largest | ratio |");
    println!("|---|---|---|---|---|---|");
    let mut beaten = [[0usize; WINDOWS.len()]; 4];
    let mut names = Vec::new();
    for seed in seeds {
        let scenarios = issue_shapes(*seed);
        names = shape_names(&scenarios)
            .iter()
            .map(|n| n.to_string())
            .collect();
        for (k, scenario) in scenarios.iter().enumerate() {
            let series = &scenario.series;
            let expected = if use_model {
                model(series)
            } else {
                oracle(scenario)
            };
            for (w, window) in WINDOWS.iter().enumerate() {
                let (outage, history) = outage_and_history(series, &expected, *window, false);
                beaten[k][w] += usize::from(outage > history);
                println!(
                    "| {} | {seed} | {window} | {outage:.2} | {history:.2} | {:.2} |",
                    names[k],
                    outage / history
                );
            }
        }
    }
    for (name, shape_beaten) in names.iter().zip(beaten) {
        let parts: Vec<String> = WINDOWS
            .iter()
            .zip(shape_beaten)
            .map(|(w, b)| format!("{w} min {b}/{}", seeds.len()))
            .collect();
        println!(
            "{name}: the outage beats its history's largest on {}",
            parts.join(", ")
        );
    }
}

/// Alarm events (at least an hour apart, from the eighth day) where any of `rs` beats `margin`
/// times its own largest of the 28 days before.
fn record_events(rs: &[Vec<f64>], margin: f64) -> usize {
    let len = rs[0].len();
    let mut daily = vec![vec![f64::NEG_INFINITY; len / 1440 + 1]; rs.len()];
    let mut events = 0;
    let mut last_alarm: Option<usize> = None;
    for i in 0..len {
        let day = i / 1440;
        let mut alarm = false;
        for (r, window_daily) in rs.iter().zip(&mut daily) {
            let v = r[i];
            if !v.is_finite() {
                continue;
            }
            if day >= 7 {
                let history = max_of(&window_daily[day.saturating_sub(28)..=day]);
                alarm |= v > margin * history;
            }
            window_daily[day] = window_daily[day].max(v);
        }
        if alarm {
            events += usize::from(last_alarm.is_none_or(|at| i - at > 60));
            last_alarm = Some(i);
        }
    }
    events
}

fn trade(seeds: &[u64], jump: bool, use_model: bool) {
    const MARGINS: [f64; 10] = [1.0, 1.05, 1.1, 1.15, 1.2, 1.22, 1.24, 1.26, 1.28, 1.3];
    println!(
        "| windows (any) | margin | shapes found ({}) | calm record events ({}) |",
        shape_names(&issue_shapes(seeds[0])).join(", "),
        CLASSES.join(", ")
    );
    println!("|---|---|---|---|");
    for windows in [vec![15], vec![30], vec![60], vec![15, 30, 60]] {
        let mut found = [[0usize; 4]; MARGINS.len()];
        let mut calm = [[0usize; 5]; MARGINS.len()];
        let mut weeks = 0.0;
        for seed in seeds {
            for (k, scenario) in issue_shapes(*seed).iter().enumerate() {
                let expected = if use_model {
                    model(&scenario.series)
                } else {
                    oracle(scenario)
                };
                let mut beats = [false; MARGINS.len()];
                for window in &windows {
                    let (outage, history) =
                        outage_and_history(&scenario.series, &expected, *window, jump);
                    for (beat, margin) in beats.iter_mut().zip(MARGINS) {
                        *beat |= outage > margin * history;
                    }
                }
                for (at_margin, beat) in found.iter_mut().zip(beats) {
                    at_margin[k] += usize::from(beat);
                }
            }
            for scenario in quality_suite(*seed) {
                let Some(k) = CLASSES
                    .iter()
                    .position(|c| scenario.name == format!("{c}/normal"))
                else {
                    continue;
                };
                let series = &scenario.series;
                let expected = if use_model {
                    model(series)
                } else {
                    oracle(&scenario)
                };
                let rs: Vec<Vec<f64>> = windows
                    .iter()
                    .map(|w| statistic(&series.values, &expected, *w, jump))
                    .collect();
                // One outage-free stream per class and seed: count its weeks once, from day 8.
                if k == 0 {
                    weeks += (series.values.len() as f64 / 1440.0 - 7.0) / 7.0;
                }
                for (at_margin, margin) in calm.iter_mut().zip(MARGINS) {
                    at_margin[k] += record_events(&rs, margin);
                }
            }
        }
        for (m, margin) in MARGINS.iter().enumerate() {
            println!(
                "| {windows:?} | {margin:.2} | {:?} of {} each | {:?} in {weeks:.0} service-weeks each |",
                found[m],
                seeds.len(),
                calm[m]
            );
        }
    }
}
