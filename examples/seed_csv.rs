//! Writes the sample series `examples/seed.csv` that the README's backtest example reads.
//!
//! The series is the detection suite's seed case (`detect::synthetic::seed_case`, seed 1): two
//! weeks of one-minute ChatGPT-like report counts, then 10 June 2025 with the outage from 06:36
//! UTC. Not part of the product.
//!
//! `cargo run --example seed_csv > examples/seed.csv`

use std::io::Write;

use chrono::DateTime;
use downwatch::detect::synthetic::seed_case;

fn main() -> std::io::Result<()> {
    let series = seed_case(1);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "timestamp,value")?;
    for (i, value) in series.values.iter().enumerate() {
        let at = DateTime::from_timestamp(series.time(i), 0)
            .ok_or_else(|| std::io::Error::other("time out of range"))?;
        writeln!(out, "{},{value}", at.format("%Y-%m-%dT%H:%M:%SZ"))?;
    }
    out.flush()
}
