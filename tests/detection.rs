//! The detection-quality suite: the model on synthetic streams with ground truth.
//!
//! The default run checks the seed case, quiet traffic, cold-start poisoning, a young quiet
//! service's stray cluster, reopening and the step-down, and the targets on the tuning seeds
//! 1-10 (the defaults were tuned on them; `cargo test --release --test detection tuning_seeds
//! -- --nocapture` prints their table, to compare a change before and after). The held-out
//! table that DETECTION.md quotes comes from seeds 101-110, never tuned on:
//! `cargo test --release --test detection held_out -- --ignored --nocapture`.

use downwatch::detect::score::{Score, quantile};
use downwatch::detect::synthetic::{
    Outage, SEED_HISTORY_START, Series, Traffic, generate, issue_shapes, quality_suite, seed_case,
};
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
        let estimated = alarms[0].onset.expect("an alarm has an onset");
        assert!(
            (estimated - onset).abs() <= 180,
            "seed {seed}: onset estimated {} s from the truth",
            estimated - onset
        );
        let evidence = alarms[0].evidence.expect("an alarm has evidence");
        assert!(evidence.observed > evidence.expected && evidence.probability < 1e-6);

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
        // The tail reads `elevated` before the incident resolves: it is recovering.
        let last_outage = points
            .iter()
            .rfind(|p| p.t < resolved && p.level == Level::Outage)
            .unwrap()
            .t;
        assert!(
            last_outage < resolved - 1800,
            "seed {seed}: the outage's tail steps down to elevated"
        );
        println!(
            "seed {seed}: onset {:+} min, opened +{} min, outage +{} min, peak +{} min, elevated from +{} min, resolved +{} min",
            (estimated - onset) / 60,
            (opened - onset) / 60,
            (outage_at - onset) / 60,
            (peak.t - onset) / 60,
            (last_outage - onset) / 60 + 1,
            (resolved - onset) / 60
        );
    }
}

/// 28 calm days of each class: no incident at the monitor's one-minute step; at coarser steps
/// (backtest), at most three in all (stray clusters on the quiet class at 5- and 15-minute steps
/// open three on these seeds: the target of none is missed there, see DETECTION.md).
#[test]
fn twenty_eight_days_of_calm_traffic_open_no_incident() {
    let suites = [42, 43, 44].into_iter().flat_map(quality_suite);
    let calm = suites.filter(|s| s.name.ends_with("/normal") && !s.name.starts_with("bursty"));
    let mut coarse = Vec::new();
    for scenario in calm {
        for factor in [1, 5, 15, 60] {
            let series = scenario.series.coarsen(factor);
            let points = run(&series);
            let alarms: Vec<i64> = points.iter().filter(|p| p.alarm).map(|p| p.t).collect();
            if factor == 1 {
                assert!(alarms.is_empty(), "{}: alarms at {alarms:?}", scenario.name);
            } else if !alarms.is_empty() {
                coarse.push(format!("{} at {factor} min: {alarms:?}", scenario.name));
            }
        }
    }
    assert!(coarse.len() <= 3, "{coarse:?}");
}

/// Issue 11's poisoning case: a new service, 70 reports in two minutes from one address, then
/// nothing. The burst must not become the baseline, and a real outage an hour later is found.
#[test]
fn a_first_burst_does_not_poison_a_new_service() {
    let start = 1_749_513_600;
    let mut detector = Detector::new(Params::default(), 1.0);
    let mut values = vec![35.0, 35.0];
    values.extend(std::iter::repeat_n(0.0, 120));
    // The real outage: an hour and a half later, 4 reports a minute for 20 minutes.
    values.extend(std::iter::repeat_n(4.0, 20));
    values.extend(std::iter::repeat_n(0.0, 30));
    let points: Vec<Point> = values
        .iter()
        .enumerate()
        .map(|(i, v)| detector.step(start + 60 * i64::try_from(i).unwrap(), *v))
        .collect();
    let fifteen = |from: usize| {
        points[from..from + 15]
            .iter()
            .map(|p| p.baseline)
            .sum::<f64>()
    };
    assert!(
        fifteen(2) < 40.0,
        "baseline just after the burst {}",
        fifteen(2)
    );
    assert!(
        fifteen(18) < 3.0,
        "baseline after 31 minutes {}",
        fifteen(18)
    );
    let alarms: Vec<usize> = (0..points.len()).filter(|i| points[*i].alarm).collect();
    assert_eq!(
        alarms.len(),
        1,
        "one incident: the real outage ({alarms:?})"
    );
    assert!(
        (122..=126).contains(&alarms[0]),
        "found within minutes: step {}",
        alarms[0]
    );
    assert_eq!(points[alarms[0]].onset, Some(start + 60 * 122));
}

/// A service whose first reports come a few minutes before its outage: three reports a minute
/// from its first, then (after 20 minutes) a thousand a minute. The outage is found within
/// minutes, not after the service's first hour, and a busy service's own first hour (a
/// thousand a minute from the start) raises nothing.
#[test]
fn a_new_service_that_goes_down_in_its_first_hour_opens_an_incident() {
    let start = 1_749_513_600;
    let feed = |values: &[f64]| -> Vec<Point> {
        let mut detector = Detector::new(Params::default(), 1.0);
        (0..values.len())
            .map(|i| detector.step(start + 60 * i64::try_from(i).unwrap(), values[i]))
            .collect()
    };
    let mut values = vec![3.0; 20];
    values.extend(std::iter::repeat_n(1000.0, 30));
    let points = feed(&values);
    let alarms: Vec<usize> = (0..points.len()).filter(|i| points[*i].alarm).collect();
    assert_eq!(alarms.len(), 1, "one incident ({alarms:?})");
    assert!(
        (20..=23).contains(&alarms[0]),
        "opened at minute {}",
        alarms[0]
    );

    let busy: Vec<f64> = (0..90).map(|i| 1000.0 + f64::from(i % 7) * 10.0).collect();
    let points = feed(&busy);
    assert!(
        points.iter().all(|p| !p.alarm),
        "a busy service's first hour is its normal"
    );
}

/// A service whose incident opened in its first minutes, resumed from storage as the monitor's
/// warm-up does (the minutes before it taught, the incident assumed, its minutes replayed). Its
/// first minutes taught no level, and an incident teaches none: the volume after the outage
/// stays above a baseline of nothing until the incident is taken for the new normal (24 hours).
/// From then the baseline follows that volume (it must not start from nothing: a level of
/// nothing would stay nothing, and the time of day would learn a rise of infinity), and the
/// next outage is found.
#[test]
fn an_incident_resumed_in_a_services_first_minutes_leaves_a_sound_baseline() {
    let start = 1_749_513_600;
    let at = |i: i64| start + 60 * i;
    let mut detector = Detector::new(Params::default(), 1.0);
    for i in 0..3 {
        detector.learn_history(at(i), 5.0);
    }
    detector.assume_level(Level::Outage);
    let mut points = Vec::new();
    for i in 3..43 {
        points.push(detector.step(at(i), 500.0));
    }
    for i in 43..1703 {
        points.push(detector.step(at(i), 20.0 + f64::from(u8::try_from(i % 5).unwrap())));
    }
    let ended = points
        .iter()
        .rposition(|p| p.level != Level::Normal)
        .unwrap();
    assert!(ended < 1500, "the incident ended at step {ended}");
    for p in &points[ended + 30..] {
        assert!(
            (12.0..=40.0).contains(&p.baseline),
            "baseline {} at {} where 20-24 a minute come",
            p.baseline,
            p.t
        );
    }
    assert!(points.iter().skip(ended + 1).all(|p| !p.alarm));
    let outage: Vec<Point> = (1703..1723).map(|i| detector.step(at(i), 200.0)).collect();
    assert!(
        outage.iter().take(4).any(|p| p.alarm),
        "the next outage opens"
    );
}

/// A young quiet service (0.03 reports a minute) with a real outage on its fourth day (four
/// reports a minute for 20 minutes) and 16 extra reports on its third, at `spread` minutes.
fn young_quiet_service(spread: usize) -> (Series, Outage, usize) {
    let traffic = Traffic::quiet(0.03);
    let outage = Outage {
        start_minute: 3 * 1440 + 14 * 60,
        ramp_minutes: 1.0,
        plateau_minutes: 20.0,
        decay_minutes: 3.0,
        peak_extra: 4.0,
    };
    let mut series = generate(&traffic, &[outage], &[], SEED_HISTORY_START, 5 * 1440, 13);
    let cluster = 2 * 1440 + 14 * 60;
    for report in 0..16 {
        series.values[cluster + report * spread / 16] += 1.0;
    }
    (series, outage, cluster)
}

/// A quiet service's tail has seen days, not weeks, in its first week: a stray cluster of 16
/// reports in four minutes on its third day (where half a report is usual), which the tail of
/// those days alone would take for an incident, is not one (it is over before the evidence has
/// held for two steps fed by new reports), while a real outage on its fourth day still is.
#[test]
fn a_young_quiet_service_takes_a_stray_cluster_in_its_stride() {
    let (series, outage, _) = young_quiet_service(4);
    let points = run(&series);
    let alarms: Vec<usize> = (0..points.len()).filter(|i| points[*i].alarm).collect();
    assert_eq!(alarms.len(), 1, "only the outage alarms: {alarms:?}");
    // Under the young service's floor it waits for a few more reports than it would later.
    let opened = alarms[0] - outage.start_minute;
    assert!(opened <= 10, "the outage opened after {opened} minutes");
}

/// The same 16 reports spread over ten minutes (1.6 a minute, a report or two every minute) do
/// open an incident: one report feeds the evidence of a step expecting a fiftieth of one, and
/// this is the shape of the small outage issue 11 asks to find (one report a minute more on a
/// quiet service). Counts alone cannot tell the two apart.
#[test]
fn a_young_quiet_service_alarms_on_reports_spread_like_a_small_outage() {
    let (series, _, cluster) = young_quiet_service(10);
    let points = run(&series);
    let alarms: Vec<usize> = (0..points.len()).filter(|i| points[*i].alarm).collect();
    assert_eq!(
        alarms.len(),
        2,
        "the spread reports and the outage: {alarms:?}"
    );
    assert!((cluster..cluster + 15).contains(&alarms[0]));
}

/// A rise that comes back within 30 minutes of a resolution continues the previous incident.
/// For a day after that, a rise no larger than the incident's is taken for a follow-up (news
/// comes in cycles) and opens nothing; a larger one opens a new incident, and so does the same
/// rise the day after.
#[test]
fn an_alarm_soon_after_a_resolution_reopens() {
    let start = 1_749_513_600;
    let mut detector = Detector::new(Params::default(), 1.0);
    let mut t = start;
    let mut feed = |value: f64, minutes: usize, out: &mut Vec<Point>| {
        for _ in 0..minutes {
            out.push(detector.step(t, value));
            t += 60;
        }
    };
    let mut points = Vec::new();
    feed(10.0, 2 * 1440, &mut points);
    feed(80.0, 20, &mut points);
    feed(10.0, 35, &mut points);
    let first = points.iter().filter(|p| p.alarm).count();
    let resolved = points
        .iter()
        .rposition(|p| p.level != Level::Normal)
        .unwrap()
        + 1;
    assert!(resolved < points.len(), "the first incident resolved");
    let mut later = Vec::new();
    feed(80.0, 10, &mut later);
    let alarm = later
        .iter()
        .find(|p| p.alarm)
        .expect("the rise alarms again");
    assert_eq!(first, 1);
    assert!(
        alarm.reopen,
        "within 30 minutes of the resolution: reopened"
    );
    let mut follow_up = Vec::new();
    feed(10.0, 120, &mut follow_up);
    feed(80.0, 10, &mut follow_up);
    assert!(
        follow_up.iter().all(|p| !p.alarm),
        "two hours later, no larger: a follow-up"
    );
    let mut larger = Vec::new();
    feed(10.0, 120, &mut larger);
    feed(400.0, 10, &mut larger);
    let alarm = larger
        .iter()
        .find(|p| p.alarm)
        .expect("a larger rise alarms");
    assert!(!alarm.reopen, "two hours later: a new incident");
    let mut next_day = Vec::new();
    // The aftermath ends a day after the reopen window, which begins when the excursion has
    // ended: the hour window has drained the 400 and been calm for three steps.
    feed(10.0, 1440 + 30 + 60 + 20, &mut next_day);
    feed(80.0, 10, &mut next_day);
    assert!(
        next_day.iter().rev().take(10).any(|p| p.alarm),
        "a day later, the first rise's size opens again"
    );
}

/// Figures for one group of scenarios at one step.
fn figures(name: &str, factor: usize, scenarios: &[(String, Series)]) -> Score {
    let mut total = Score::default();
    for (_, series) in scenarios {
        let series = series.coarsen(factor);
        total.merge(&Score::of(&series, &run(&series)));
    }
    println!(
        "| {:<22} | {:>2} min | {:>3}/{:<3} | {:>5.1} | {:>5.1} | {:>5.1} | {:>3} ({:>2}) | {:>6.0} | {:>6.3} |",
        name,
        factor,
        total.detected,
        total.outages,
        total.latency_quantile(0.5).unwrap_or(f64::NAN),
        total.latency_quantile(0.9).unwrap_or(f64::NAN),
        quantile(
            &total
                .onset_errors_minutes
                .iter()
                .map(|e| e.abs())
                .collect::<Vec<_>>(),
            0.5
        )
        .unwrap_or(f64::NAN),
        total.false_incidents,
        total.false_beyond_history,
        total.service_weeks,
        total.false_per_service_week(),
    );
    total
}

/// The table of DETECTION.md for `seeds`: per class and step. Returns (calm, bursty, issue)
/// totals at 1-minute steps and all steps.
fn table(seeds: &[u64]) -> [Score; 4] {
    println!(
        "| class | step | found | p50 lat | p90 lat | p50 onset err | false (beyond history) | service-weeks | false/sw |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let suites: Vec<_> = seeds.iter().flat_map(|s| quality_suite(*s)).collect();
    let issue: Vec<_> = seeds.iter().flat_map(|s| issue_shapes(*s)).collect();
    let mut classes: Vec<String> = suites
        .iter()
        .map(|s| s.name.split('/').next().unwrap().to_owned())
        .collect();
    classes.dedup();
    classes.sort();
    classes.dedup();
    let mut totals: [Score; 4] = Default::default();
    for factor in [1, 5] {
        for class in &classes {
            let group: Vec<(String, Series)> = suites
                .iter()
                .filter(|s| s.name.split('/').next() == Some(class))
                .map(|s| (s.name.clone(), s.series.clone()))
                .collect();
            let score = figures(class, factor, &group);
            let slot = usize::from(class.starts_with("bursty"));
            totals[slot].merge(&score);
            if factor == 1 {
                totals[3].merge(&score);
            }
        }
        for shape in ["small-on-quiet", "4x-for-2h", "+67%-for-1h", "+67%-on-huge"] {
            let group: Vec<(String, Series)> = issue
                .iter()
                .filter(|s| s.name.ends_with(shape))
                .map(|s| (s.name.clone(), s.series.clone()))
                .collect();
            let score = figures(&format!("issue/{shape}"), factor, &group);
            totals[2].merge(&score);
            if factor == 1 {
                totals[3].merge(&score);
            }
        }
    }
    totals
}

fn check_targets(totals: &[Score; 4]) {
    let [calm, bursty, issue, one_minute] = totals;
    println!(
        "calm: {} false in {:.0} service-weeks; bursty: {} false ({} beyond history) in {:.0} service-weeks; issue shapes {}/{}; 1-minute median latency {:.1} min",
        calm.false_incidents,
        calm.service_weeks,
        bursty.false_incidents,
        bursty.false_beyond_history,
        bursty.service_weeks,
        issue.detected,
        issue.outages,
        one_minute.latency_quantile(0.5).unwrap_or(f64::NAN)
    );
    // Measured, not the targets: the issue's targets of no false incident on calm classes and
    // every issue shape found are missed, and at most one per 20 service-weeks from bursts within
    // history is met on the held-out seeds only (DETECTION.md says by how much). The calm bound
    // holds: 2 in 800 service-weeks held out (8 before the young service's floor).
    assert!(
        calm.false_per_service_week() <= 0.005,
        "calm false incidents per service-week {}",
        calm.false_per_service_week()
    );
    assert!(
        bursty.false_per_service_week() <= 0.6,
        "bursty false incidents per service-week {}",
        bursty.false_per_service_week()
    );
    assert!(
        issue.detected * 2 >= issue.outages,
        "issue shapes found {}",
        issue.detected
    );
    assert!(one_minute.latency_quantile(0.5).unwrap() <= 5.0);
    assert!(calm.recall() >= 0.9, "calm recall {}", calm.recall());
}

/// The two quiet shapes of issue 11 (one more report a minute on one an hour, for 20 minutes;
/// on 0.3 a minute, for two hours) are found at one-minute steps on every tuning seed.
#[test]
fn the_quiet_issue_shapes_are_found() {
    for seed in [1, 2] {
        for scenario in issue_shapes(seed).iter().take(2) {
            let score = Score::of(&scenario.series, &run(&scenario.series));
            assert_eq!(score.detected, 1, "{} seed {seed}", scenario.name);
            assert_eq!(score.false_incidents, 0, "{} seed {seed}", scenario.name);
        }
    }
}

#[test]
fn quality_targets_on_the_tuning_seeds() {
    check_targets(&table(&(1..=10).collect::<Vec<_>>()));
}

#[test]
#[ignore = "release build: cargo test --release --test detection held_out -- --ignored --nocapture"]
fn quality_table_on_held_out_seeds() {
    check_targets(&table(&(101..=110).collect::<Vec<_>>()));
}

/// FNV-1a over every field of every step's reading, so a change meant to be a pure speed-up can
/// show that it changed nothing: no alarm, level, reading, onset or evidence, to the last bit.
fn digest(hash: &mut u64, points: &[Point]) {
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            *hash = (*hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for p in points {
        eat(&p.t.to_le_bytes());
        for x in [p.value, p.baseline, p.upper] {
            eat(&x.to_bits().to_le_bytes());
        }
        eat(p.level.as_str().as_bytes());
        eat(&[u8::from(p.alarm), u8::from(p.reopen)]);
        eat(&p.onset.unwrap_or(i64::MIN).to_le_bytes());
        if let Some(e) = p.evidence {
            eat(&e.window_minutes.to_le_bytes());
            for x in [e.observed, e.expected, e.probability] {
                eat(&x.to_bits().to_le_bytes());
            }
        }
    }
}

/// Every step's reading on a fixed set of streams (the seed case, every class of the suite calm
/// and bursty with their gaps, the issue shapes; at 1-, 5- and 60-minute steps; other
/// significance parameters; a detector warmed from history) hashes to the value the model gave
/// when it was pinned. A change to the model's decisions must update it (and bump `REVISION` in
/// `src/detect/readings.rs`); a change to its speed alone must not.
#[test]
fn readings_are_bit_for_bit_those_pinned() {
    const PINNED: u64 = 0x8f6f_5176_0699_a877;
    let mut streams: Vec<(String, Series)> = vec![
        ("seed-case-1".into(), seed_case(1)),
        ("seed-case-3".into(), seed_case(3)),
    ];
    for scenario in quality_suite(3).into_iter().chain(issue_shapes(3)) {
        streams.push((scenario.name, scenario.series));
    }
    let strict = Params {
        z_elevated: 4.0,
        z_sustained: 3.0,
        z_outage: 6.0,
        ..Params::default()
    };
    let mut hash = 0xcbf2_9ce4_8422_2325;
    let mut each = Vec::new();
    for (name, series) in &streams {
        for factor in [1, 5, 60] {
            let coarse = series.coarsen(factor);
            digest(&mut hash, &run(&coarse));
            if factor == 5 || name.starts_with("bursty-medium") {
                let mut detector = Detector::new(strict, coarse.step_minutes);
                let points: Vec<Point> = (0..coarse.values.len())
                    .map(|i| detector.step(coarse.time(i), coarse.values[i]))
                    .collect();
                digest(&mut hash, &points);
            }
        }
        // Warmed from a week of history, as the monitor warms a tracker up, then judged.
        let mut detector = Detector::new(Params::default(), series.step_minutes);
        let week = 7 * 1440;
        for (i, v) in series.values.iter().enumerate().take(week) {
            detector.learn_history(series.time(i), *v);
        }
        let points: Vec<Point> = (week..series.values.len())
            .map(|i| detector.step(series.time(i), series.values[i]))
            .collect();
        digest(&mut hash, &points);
        each.push(format!("{name}: {hash:#018x}"));
    }
    assert_eq!(hash, PINNED, "{hash:#018x}; after each stream: {each:#?}");
}
