//! The service catalog: what can be reported on, and with which problem kinds.
//!
//! PostgreSQL holds the catalog (see `db::services`); every instance keeps an in-memory snapshot
//! ([`CatalogCache`]) so a report never waits on PostgreSQL. The snapshot is refreshed on a timer
//! and right after this instance changes the catalog.

mod cache;
mod file;
mod spec;

pub use cache::{CatalogCache, CatalogEntry};
pub use file::{CatalogFile, SHIPPED_CATALOG};
pub use spec::{ServiceInput, ServicePatch, ServicePatchInput, ServiceSpec};
