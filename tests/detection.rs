//! The detection-quality suite: the model on synthetic streams with ground truth.
//!
//! Run `cargo test --release --test detection -- --nocapture` to see the figures that
//! DETECTION.md quotes.

use downwatch::detect::score::Score;
use downwatch::detect::synthetic::{SHAPES, Series, quality_suite, seed_case};
use downwatch::detect::{Detector, Level, Params, Point};

fn run(series: &Series) -> Vec<Point> {
    let mut detector = Detector::new(Params::default(), series.step_minutes);
    series
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| detector.step(series.time(i), *v))
        .collect()
}

#[test]
fn seed_case_opens_within_three_minutes_escalates_before_the_peak_and_resolves() {
    for seed in 1..=5 {
        let series = seed_case(seed);
        let points = run(&series);
        let (onset, _) = series.truth[0];
        let alarms: Vec<&Point> = points.iter().filter(|p| p.alarm).collect();
        let before: Vec<_> = alarms.iter().filter(|p| p.t < onset).map(|p| p.t).collect();
        assert!(
            before.is_empty(),
            "seed {seed}: false alarms before the outage at {before:?}"
        );
        assert_eq!(alarms.len(), 1, "seed {seed}: one outage, one alarm");
        let opened = alarms[0].t;
        assert!(
            opened - onset <= 180,
            "seed {seed}: opened {} s after onset",
            opened - onset
        );

        let peak = points
            .iter()
            .filter(|p| p.t >= onset)
            .max_by(|a, b| a.value.total_cmp(&b.value))
            .unwrap();
        let outage_at = points
            .iter()
            .find(|p| p.t >= onset && p.level == Level::Outage)
            .unwrap()
            .t;
        assert!(
            outage_at < peak.t,
            "seed {seed}: outage level before the peak"
        );

        let resolved = points
            .iter()
            .find(|p| p.t > opened && p.level == Level::Normal)
            .expect("resolves")
            .t;
        let back = points.iter().find(|p| p.t == resolved).unwrap();
        assert!(
            back.value < back.upper,
            "seed {seed}: resolves once volume is back near baseline"
        );
        println!(
            "seed {seed}: opened +{} min, outage +{} min, peak +{} min, resolved +{} min",
            (opened - onset) / 60,
            (outage_at - onset) / 60,
            (peak.t - onset) / 60,
            (resolved - onset) / 60
        );
    }
}

#[test]
fn twenty_eight_days_of_normal_traffic_open_no_incident() {
    let suites = [42, 43, 44].into_iter().flat_map(quality_suite);
    for scenario in suites.filter(|s| s.name.ends_with("/normal")) {
        for factor in [1, 5, 15, 60] {
            let series = scenario.series.coarsen(factor);
            let points = run(&series);
            let alarms: Vec<i64> = points.iter().filter(|p| p.alarm).map(|p| p.t).collect();
            assert!(
                alarms.is_empty(),
                "{} at {factor} min: alarms at {alarms:?}",
                scenario.name
            );
        }
    }
}

#[test]
fn quality_suite_figures() {
    println!(
        "{:<18} {:>5} {:>7} {:>8} {:>9} {:>9} {:>7} {:>7}",
        "scenario", "step", "outages", "detected", "p50 lat", "p90 lat", "false", "splits"
    );
    let mut totals = Score::default();
    for scenario in [7, 8, 9].into_iter().flat_map(quality_suite) {
        for factor in [1, 5, 15, 60] {
            let series = scenario.series.coarsen(factor);
            let score = Score::of(&series, &run(&series));
            println!(
                "{:<18} {:>4}m {:>7} {:>8} {:>9.1} {:>9.1} {:>7} {:>7}",
                scenario.name,
                factor,
                score.outages,
                score.detected,
                score.latency_quantile(0.5).unwrap_or(f64::NAN),
                score.latency_quantile(0.9).unwrap_or(f64::NAN),
                score.false_incidents,
                score.split_alarms
            );
            totals.merge(&score);
        }
    }
    let mut missed = [0usize; 6];
    for index in &totals.missed {
        missed[*index] += 1;
    }
    let by_shape: Vec<String> = SHAPES
        .iter()
        .zip(missed)
        .map(|(shape, n)| format!("{shape} {n}"))
        .collect();
    println!("MISSED by shape: {}", by_shape.join(", "));
    println!(
        "TOTAL recall {:.3} ({} of {}), p50 latency {:.1} min, p90 {:.1} min, false incidents {} in {:.0} service-weeks ({:.3} per service-week), splits {}",
        totals.recall(),
        totals.detected,
        totals.outages,
        totals.latency_quantile(0.5).unwrap_or(f64::NAN),
        totals.latency_quantile(0.9).unwrap_or(f64::NAN),
        totals.false_incidents,
        totals.service_weeks,
        totals.false_per_service_week(),
        totals.split_alarms
    );
    assert!(totals.recall() >= 0.9, "recall {}", totals.recall());
    assert!(
        totals.false_per_service_week() <= 0.1,
        "false per service-week {}",
        totals.false_per_service_week()
    );
}
