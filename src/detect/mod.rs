//! Spike detection: pure code, no I/O, time passed in.
//!
//! For each step of a report-count series the [`Detector`] gives a baseline (reports expected for
//! that time of day and week, at the service's current level), an upper bound (the count above
//! which one step alone would alarm) and a [`Level`], with the onset and the evidence of each
//! alarm. See DETECTION.md for the model in plain words.
//!
//! - `baseline` and `profile`: the expected count, learned only from normal, capped steps;
//! - `nb` and `noise`: evidence windows (1 to 60 minutes) judged by negative-binomial tail
//!   probabilities against each window's learned overdispersion;
//! - `tail`: each service's own largest normal excursions, which an alarm must exceed;
//! - `onset`: the change point where a rise began;
//! - `level`: hysteresis, so one outage is one incident;
//! - `memory`: what a detector learned beyond its baseline, handed to the next monitor;
//! - `synthetic`, `suite` and `score`: a seeded generator of realistic streams with ground
//!   truth, the quality suite's streams, and its scorer.

mod baseline;
mod detector;
mod level;
pub mod memory;
mod nb;
mod noise;
mod onset;
mod params;
mod profile;
pub mod readings;
pub mod score;
mod suite;
pub mod synthetic;
mod tail;

pub use detector::{Detector, Point};
pub use level::Level;
pub use memory::Memory;
pub use params::Params;
pub use tail::log_ratio;
