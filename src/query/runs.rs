//! Model runs a curve starts from, kept in the process.
//!
//! The steps of a curve that have no stored reading (the bins under way, history the monitor
//! has not read yet) are read by a run started at their day's anchor, up to a week before
//! them. The run up to the first such step depends only on stored, final bins, so it is kept
//! here once computed: every curve of a service that ends now starts its open steps from the
//! same run until the monitor reads the next bin, and then only that curve computes it again.
//! Where the first such step comes after the final bins (the first quarter hour of a UTC day),
//! the run is kept where they end instead, and each curve feeds it the few steps after.
//! Keys name everything the run depends on; entries are never stale, only unused, and the map
//! is emptied when it grows past [`MAX_RUNS`].

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use crate::detect::readings::Run;

/// Most runs kept at once (a run of a 15-minute series is a few kilobytes).
pub const MAX_RUNS: usize = 4096;

/// What a kept run depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunKey {
    /// The service.
    pub service_id: Uuid,
    /// Step, in minutes.
    pub step: i64,
    /// Where the run started.
    pub anchor: i64,
    /// The step it is positioned at (every step before it is fed).
    pub at: i64,
    /// The model that ran (`detect::readings::model_id`).
    pub model: i64,
    /// The stored readings' generation: it grows when bins already read were rolled up again.
    pub generation: i64,
}

/// Runs by what they depend on.
#[derive(Default)]
pub struct Runs {
    runs: Mutex<HashMap<RunKey, Run>>,
}

impl Runs {
    /// A copy of the run kept under `key`, if any.
    pub fn get(&self, key: &RunKey) -> Option<Run> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.get(key).cloned()
    }

    /// Keeps `run` under `key`.
    pub fn keep(&self, key: RunKey, run: Run) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if runs.len() >= MAX_RUNS {
            runs.clear();
        }
        runs.insert(key, run);
    }

    /// How many runs are kept.
    pub fn len(&self) -> usize {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
