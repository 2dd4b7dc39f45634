//! Fault tests: each stops, freezes, empties or cuts a dependency (or kills downwatch itself)
//! and checks what the issue promises: fast 503s, recovery by itself, nothing acknowledged lost,
//! nothing counted twice, no incident duplicated or transition lost.
//!
//! Redis faults use a Redis of the test's own on a free port; PostgreSQL faults put a TCP proxy
//! of the test's own between downwatch and the shared server and cut it. The shared Redis and
//! PostgreSQL are never stopped.

#[path = "../api/helpers.rs"]
#[allow(
    dead_code,
    reason = "shared with the api tests; these tests use only part of it"
)]
mod helpers;
mod support;

mod instances;
mod leader_gap;
mod postgres_outage;
mod process;
mod redis_emptied;
mod redis_outage;
