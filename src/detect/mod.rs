//! Spike detection: pure code, no I/O, time passed in.
//!
//! For each step of a report-count series the [`Detector`] gives a baseline (reports expected for
//! that time of day and week, at the service's current level), an upper bound (the count above
//! which the excess is significant) and a [`Level`]. See DETECTION.md for the model in plain words.
//!
//! - `profile`: time-of-day and day-of-week factors, learned as ratios of decaying sums;
//! - `noise`: evidence windows judged on the square-root scale against learned overdispersion;
//! - `level`: hysteresis, so one outage is one incident;
//! - `synthetic` and `score`: a seeded generator of realistic streams with ground truth, and the
//!   scorer of the detection-quality suite.

mod detector;
mod level;
mod noise;
mod params;
mod profile;
pub mod score;
pub mod synthetic;

pub use detector::{Detector, Point};
pub use level::Level;
pub use params::Params;
