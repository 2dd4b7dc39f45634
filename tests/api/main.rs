//! Integration tests against the real PostgreSQL and Redis, over real TCP.
//!
//! Every test spawns its own instance (`helpers::TestApp`) with its own database, its own Redis
//! key prefix and a manual clock, so tests run in parallel and never sleep.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "test arithmetic on small known counts, ports and durations"
)]

// A test binary in a folder finds `tests/common` only by its path.
#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod batching;
mod bootstrap;
mod breakdown;
mod browser;
mod buckets;
mod charts;
mod curve;
mod errors;
mod events;
mod feeds;
mod floods;
mod history;
mod hostile;
mod incidents;
mod interop;
mod monitor;
mod openapi;
mod ops;
mod pages;
mod postgres_tls;
mod readings;
mod readme;
mod reads;
mod reports;
mod schema;
mod security;
mod services;
mod simulate;
mod status;

use common::{helpers, sse};
