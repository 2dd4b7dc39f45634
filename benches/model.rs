//! Throughput of the detection model, in points per second, against a bare pass over the same
//! data measured in the same run (the ratio is what to compare across machines).
//!
//! `cargo bench --bench model`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use downwatch::detect::synthetic::{Traffic, generate, seed_case};
use downwatch::detect::{Detector, Params};

fn model(c: &mut Criterion) {
    let seed = seed_case(1);
    let busy = generate(&Traffic::busy(150.0), &[], &[], seed.start, 28 * 1440, 3);
    let mut group = c.benchmark_group("model");
    for (name, series) in [("seed-case-1m", &seed), ("busy-28d-1m", &busy)] {
        group.throughput(Throughput::Elements(series.values.len() as u64));
        group.bench_function(format!("{name}/bare-pass"), |b| {
            b.iter(|| {
                let mut acc = 0.0;
                for (i, v) in series.values.iter().enumerate() {
                    acc += black_box(*v) * (series.time(i) & 1) as f64;
                }
                acc
            })
        });
        group.bench_function(format!("{name}/detector"), |b| {
            b.iter(|| {
                let mut detector = Detector::new(Params::default(), series.step_minutes);
                let mut alarms = 0;
                for (i, v) in series.values.iter().enumerate() {
                    alarms += usize::from(detector.step(series.time(i), black_box(*v)).alarm);
                }
                alarms
            })
        });
    }
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
