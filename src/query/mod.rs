//! The read model shared by the API and the pages: what a service looks like now (status),
//! its history (the one place that joins PostgreSQL bins and Redis minutes), curves with the
//! model's baseline, breakdowns by problem and country, incidents with their headlines, and
//! rankings.
//!
//! Queries take a narrow handle ([`Reads`]), never the HTTP state, and answer with plain
//! values or a [`QueryError`]; `api/` and `web/` parse requests, call them and render.

pub mod breakdown;
pub mod curve;
pub mod headline;
pub mod history;
pub mod incidents;
pub mod points;
pub mod readings;
pub mod runs;
pub mod sparks;
pub mod status;
pub mod stored;

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::CatalogCache;
use crate::clock::SharedClock;
use crate::db::Db;
use crate::domain::Service;
use crate::domain::{FieldError, ServiceSlug};
use crate::store::StoreError;
use crate::time::minute_of;
use crate::windows::Windows;

/// What the queries read: the stores, the catalog snapshot, the clock, and the settings that
/// shape answers.
#[derive(Clone)]
pub struct Reads {
    /// PostgreSQL: bins, incidents.
    pub db: Db,
    /// Redis: minutes and statuses.
    pub windows: Windows,
    /// The catalog snapshot (reads naming a service answer from memory).
    pub catalog: Arc<CatalogCache>,
    /// Time source.
    pub clock: SharedClock,
    /// How long minute buckets stay in Redis.
    pub retention: Duration,
    /// Detection parameters (curves run the monitor's model).
    pub detect: crate::detect::Params,
    /// Model runs curves start their unread steps from (see [`runs`]).
    pub runs: Arc<runs::Runs>,
    /// Stored bins with their readings, and the rollup's progress (see [`stored`]).
    pub stored: Arc<stored::StoredCache>,
}

impl Reads {
    /// The current minute number.
    pub fn now_minute(&self) -> i64 {
        minute_of(self.clock.now())
    }

    /// Minutes of Redis retention.
    pub fn retention_minutes(&self) -> i64 {
        i64::try_from(self.retention.as_secs() / 60).unwrap_or(i64::MAX)
    }

    /// The service with `slug` (archived or not) from the catalog snapshot.
    pub fn service(&self, slug: &ServiceSlug) -> Result<Service, QueryError> {
        self.catalog
            .get(slug.as_str())
            .map(|entry| entry.service.clone())
            .ok_or_else(|| {
                QueryError::NotFound(format!(
                    "No service {:?}; GET /v1/services lists them.",
                    slug.as_str()
                ))
            })
    }
}

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request's values do not fit together (every bad field named).
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// An invalid request about one field.
    pub fn field(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, detail)])
    }
}

/// `(key, count, share)`, largest first (ties by key), at most `limit`; shares are of the total
/// over all keys, to three decimals.
pub fn ranked<'a>(
    counts: impl IntoIterator<Item = (&'a str, u64)>,
    limit: usize,
) -> Vec<(&'a str, u64, f64)> {
    let mut entries: Vec<(&str, u64)> = counts.into_iter().collect();
    let total: u64 = entries.iter().map(|(_, c)| c).sum();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    entries
        .into_iter()
        .take(limit)
        .map(|(key, count)| (key, count, share(count, total)))
        .collect()
}

/// `count / total` to three decimals (0 when there is no total).
fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "report counts stay far below 2^52"
    )]
    let ratio = count as f64 / total as f64;
    (ratio * 1000.0).round() / 1000.0
}
