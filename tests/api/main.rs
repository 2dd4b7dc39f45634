//! Integration tests against the real PostgreSQL and Redis, over real TCP.
//!
//! Every test spawns its own instance (`helpers::TestApp`) with its own database, its own Redis
//! key prefix and a manual clock, so tests run in parallel and never sleep.

mod bootstrap;
mod breakdown;
mod browser;
mod charts;
mod curve;
mod errors;
mod events;
mod floods;
mod helpers;
mod hostile;
mod incidents;
mod interop;
mod monitor;
mod openapi;
mod ops;
mod pages;
mod reports;
mod schema;
mod security;
mod services;
mod simulate;
#[expect(
    dead_code,
    reason = "shared with the fault tests, which use the rest of it"
)]
mod sse;
mod status;
