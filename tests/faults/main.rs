//! Fault tests: each kills, freezes, empties, cuts or hangs a dependency, or kills downwatch
//! itself, and checks what issue 7 promises: fast 503s, recovery by itself, nothing
//! acknowledged lost, nothing counted twice, no incident duplicated, no transition lost.
//!
//! Redis faults use a Redis of the test's own on a free port; PostgreSQL faults put a TCP proxy
//! of the test's own between downwatch and the shared server. Process faults run the real
//! binary. The shared Redis and PostgreSQL are never stopped.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "test arithmetic on small known counts, ports and durations"
)]

// A test binary in a folder finds `tests/common` only by its path.
#[path = "../common/mod.rs"]
mod common;
mod support;

use common::{helpers, sse};

mod cluster;
mod cluster_batches;
mod cluster_failover;
mod cluster_ingest;
mod cluster_seed;
mod cluster_tls;
mod descriptors;
mod instances;
mod leader_gap;
mod postgres_outage;
mod process;
mod redis_emptied;
mod redis_outage;
