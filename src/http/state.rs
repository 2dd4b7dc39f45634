//! What every handler can reach: the queries' handle, the use cases, and HTTP-only parts.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use super::admin::AdminAuth;
use super::read_cache::ReadCache;
use crate::events::Events;
use crate::ingest::{Ingest, ProxyPolicy};
use crate::monitor::Monitor;
use crate::query::Reads;
use crate::store::StoreError;

/// Shared application state, one per instance.
pub struct AppState {
    /// What the queries read (stores, catalog, clock, settings).
    pub reads: Reads,
    /// The report use case.
    pub ingest: Ingest,
    /// The evaluator (leader-only work).
    pub monitor: Arc<Monitor>,
    /// Live events.
    pub events: Arc<Events>,
    /// Who may set forwarding headers.
    pub proxies: ProxyPolicy,
    /// Admin token check.
    pub admin: AdminAuth,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Rendered answers of the heavy reads, shared for a moment.
    pub read_cache: ReadCache,
    /// PostgreSQL for background work (the monitor, rollups, catalog refresh): a pool of its
    /// own, which requests never take from.
    pub background_db: crate::db::Db,
    /// Slots of open event streams.
    pub streams: Arc<super::streams::StreamSlots>,
    /// Which webhook targets subscriptions may name.
    pub webhook_policy: crate::alerts::TargetPolicy,
    /// Where this site is reached from outside, for links in alerts.
    pub public_url: String,
}

impl AppState {
    /// Reloads the catalog snapshot from PostgreSQL (on the background pool).
    pub async fn refresh_catalog(&self) -> Result<usize, StoreError> {
        let entries = crate::db::services::catalog_entries(&self.background_db).await?;
        let count = entries.len();
        self.reads.catalog.replace(entries);
        Ok(count)
    }
}
