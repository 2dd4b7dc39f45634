//! What a monitor that takes a service over (a new leader, a restart, a deploy) detects
//! afterwards, with and without the detector memory the last one saved (`detect::memory`).
//! Not part of the product.
//!
//! `cargo run --release --example takeover -- [seeds]` runs the quality suite's calm and bursty
//! streams (1-minute steps) three ways and scores days 15-28 of each:
//! - **throughout**: one detector from the first day, as if the monitor never changed hands;
//! - **bins only**: a detector that learned days 1-14 from 15-minute totals (the stored bins,
//!   the minutes of the first detector's incidents left out, as the warm-up leaves them out),
//!   then judged the rest;
//! - **bins + memory**: the same, recalling the first detector's memory at the end of day 14.
//!
//! It ends with the size of the memories handed over, as the JSON the monitor stores.
//!
//! Seeds default to 1-5, tuning seeds.

use downwatch::detect::score::Score;
use downwatch::detect::synthetic::{Series, quality_suite};
use downwatch::detect::{Detector, Level, Params, Point};

const TAKEOVER_DAY: usize = 14;
const BIN: usize = 15;

fn main() {
    let seeds: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("takeover: {a:?} is not a seed; usage: [seeds]");
                std::process::exit(2);
            })
        })
        .collect();
    let seeds = if seeds.is_empty() {
        (1..=5).collect()
    } else {
        seeds
    };
    let mut totals = [Score::default(), Score::default(), Score::default()];
    let mut sizes = Vec::new();
    println!("| stream | seed | throughout | bins only | bins + memory |");
    println!("|---|---|---|---|---|");
    for seed in &seeds {
        for scenario in quality_suite(*seed) {
            if scenario.name.starts_with("issue/") {
                continue;
            }
            let (scores, size) = three_ways(&scenario.series);
            sizes.push(size);
            println!(
                "| {} | {seed} | {} | {} | {} |",
                scenario.name,
                cell(&scores[0]),
                cell(&scores[1]),
                cell(&scores[2])
            );
            for (total, score) in totals.iter_mut().zip(&scores) {
                total.merge(score);
            }
        }
    }
    println!(
        "| **all** | {seeds:?} | {} | {} | {} |",
        cell(&totals[0]),
        cell(&totals[1]),
        cell(&totals[2])
    );
    sizes.sort_unstable();
    println!(
        "memories handed over: {} to {} bytes of JSON (median {})",
        sizes[0],
        sizes[sizes.len() - 1],
        sizes[sizes.len() / 2]
    );
}

/// Outages found of those labelled, and false incidents.
fn cell(score: &Score) -> String {
    format!(
        "{}/{} found, {} false",
        score.detected, score.outages, score.false_incidents
    )
}

/// Days 15-28 of `series`, scored for each of the three detectors, and the size of the memory
/// handed over.
fn three_ways(series: &Series) -> ([Score; 3], usize) {
    let split = TAKEOVER_DAY * 1440;
    let mut throughout = Detector::new(Params::default(), 1.0);
    let before: Vec<Point> = (0..split)
        .map(|i| throughout.step(series.time(i), series.values[i]))
        .collect();
    let memory = throughout.memory();
    let size = serde_json::to_string(&memory)
        .expect("a memory is JSON")
        .len();
    let mut bins_only = warmed_from_bins(series, &before);
    let mut recalled = bins_only.clone();
    assert!(recalled.recall(&memory), "the same detector's memory fits");
    let after = later_part(series, split);
    let scores = [&mut throughout, &mut bins_only, &mut recalled].map(|detector| {
        let points: Vec<Point> = (split..series.values.len())
            .map(|i| detector.step(series.time(i), series.values[i]))
            .collect();
        Score::of(&after, &points)
    });
    (scores, size)
}

/// A detector that learned the steps before `before.len()` from 15-minute totals, leaving out
/// the minutes in which the detector that read them (`before`) had an incident open.
fn warmed_from_bins(series: &Series, before: &[Point]) -> Detector {
    let mut detector = Detector::new(Params::default(), 1.0);
    for bin in (0..before.len()).step_by(BIN) {
        let minutes = bin..(bin + BIN).min(before.len());
        let total: f64 = series.values[minutes.clone()]
            .iter()
            .filter(|v| v.is_finite())
            .sum();
        for i in minutes {
            if before[i].level == Level::Normal {
                detector.learn_history(series.time(i), total / BIN as f64);
            }
        }
    }
    detector
}

/// The series from step `from` on, with the truth that starts there.
fn later_part(series: &Series, from: usize) -> Series {
    let start = series.time(from);
    Series {
        start,
        step_minutes: series.step_minutes,
        values: series.values[from..].to_vec(),
        truth: series
            .truth
            .iter()
            .copied()
            .filter(|(s, _)| *s >= start)
            .collect(),
        bursts: series
            .bursts
            .iter()
            .copied()
            .filter(|(_, end, _)| *end >= start)
            .collect(),
    }
}
