//! What every handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use super::admin::AdminAuth;
use crate::catalog::CatalogCache;
use crate::clock::SharedClock;
use crate::db::Db;
use crate::ingest::{Ingest, ProxyPolicy};
use crate::windows::Windows;

/// Shared application state, one per instance.
pub struct AppState {
    /// The evaluator (leader-only work).
    pub monitor: Arc<crate::monitor::Monitor>,
    /// Live events.
    pub events: Arc<crate::events::Events>,
    /// Time source.
    pub clock: SharedClock,
    /// PostgreSQL.
    pub db: Db,
    /// Redis minute buckets.
    pub windows: Windows,
    /// The report use case.
    pub ingest: Ingest,
    /// Catalog snapshot (shared with `ingest`).
    pub catalog: Arc<CatalogCache>,
    /// Who may set forwarding headers.
    pub proxies: ProxyPolicy,
    /// Admin token check.
    pub admin: AdminAuth,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// How long minute buckets stay in Redis.
    pub retention: std::time::Duration,
    /// Detection parameters (the curve's model uses the monitor's).
    pub detect: crate::detect::Params,
    /// Rendered answers of the heavy reads, shared for a moment.
    pub read_cache: super::read_cache::ReadCache,
}

impl AppState {
    /// Reloads the catalog snapshot from PostgreSQL.
    pub async fn refresh_catalog(&self) -> Result<usize, crate::error::ApiError> {
        let entries = crate::db::services::catalog_entries(&self.db).await?;
        let count = entries.len();
        self.catalog.replace(entries);
        Ok(count)
    }
}
