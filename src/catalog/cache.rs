//! The in-memory catalog snapshot that the report path reads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::domain::{ProblemKind, ServiceSlug};

/// What the report path needs to know about one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Database id.
    pub id: Uuid,
    /// The slug.
    pub slug: ServiceSlug,
    /// Allowed problem kinds.
    pub problems: Vec<ProblemKind>,
    /// Archived services take no reports.
    pub archived: bool,
}

/// A swappable snapshot of the catalog; readers never wait on a refresh.
#[derive(Default)]
pub struct CatalogCache {
    snapshot: RwLock<Arc<HashMap<String, Arc<CatalogEntry>>>>,
}

impl CatalogCache {
    /// Replaces the snapshot with `entries`.
    pub fn replace(&self, entries: impl IntoIterator<Item = CatalogEntry>) {
        let map = entries
            .into_iter()
            .map(|e| (e.slug.as_str().to_owned(), Arc::new(e)))
            .collect();
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
    }

    /// The entry for `slug`, archived or not.
    pub fn get(&self, slug: &str) -> Option<Arc<CatalogEntry>> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .cloned()
    }

    /// Every entry, archived or not.
    pub fn entries(&self) -> Vec<Arc<CatalogEntry>> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
