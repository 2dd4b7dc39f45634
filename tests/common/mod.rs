//! What every test binary shares: `TestApp` (an instance of its own, with its own database,
//! Redis prefix and manual clock) and an SSE reader.
//!
//! Each binary uses part of it: the API tests most, the log and metrics tests a little.

#![allow(
    dead_code,
    reason = "every test binary compiles this module and uses a different part of it"
)]

pub mod certs;
pub mod cluster;
pub mod helpers;
pub mod sse;
