//! A fixed workload for profiling the detection model by instruction counts, which stay
//! repeatable on a busy machine where the criterion bench's timings do not: the bench's two
//! series (the seed case, 28 days of a busy service at one-minute steps), each through one
//! detector. Not part of the product.
//!
//! `cargo build --release --example model_profile`, then
//! `valgrind --tool=callgrind target/release/examples/model_profile`

use std::hint::black_box;

use downwatch::detect::synthetic::{Traffic, generate, seed_case};
use downwatch::detect::{Detector, Params};

fn main() {
    let seed = seed_case(1);
    let busy = generate(&Traffic::busy(150.0), &[], &[], seed.start, 28 * 1440, 3);
    for series in [&seed, &busy] {
        let mut detector = Detector::new(Params::default(), series.step_minutes);
        let mut alarms = 0;
        for (i, v) in series.values.iter().enumerate() {
            alarms += usize::from(detector.step(series.time(i), black_box(*v)).alarm);
        }
        println!("{} steps, {alarms} alarms", series.values.len());
    }
}
