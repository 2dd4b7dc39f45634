//! The in-memory catalog snapshot that the report path reads, and the reads that name a
//! service (so they keep answering while PostgreSQL is away). This instance's catalog writes
//! replace it at once; other instances pick them up within `DOWNWATCH_CATALOG_REFRESH_SECONDS`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::domain::{ProblemKind, Service, ServiceSlug};

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
    /// The whole row, so that reads naming a service answer from memory, also while
    /// PostgreSQL is away.
    pub service: Service,
}

impl CatalogEntry {
    /// The entry for `service`; `None` for a row whose slug is not valid (the table's CHECK
    /// keeps them out). Problem kinds that do not parse are left out.
    pub fn of(service: &Service) -> Option<Self> {
        Some(Self {
            id: service.id,
            slug: ServiceSlug::parse(&service.slug).ok()?,
            problems: service
                .problems
                .iter()
                .filter_map(|p| ProblemKind::parse(p).ok())
                .collect(),
            archived: service.archived,
            service: service.clone(),
        })
    }
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

    /// The services' rows by slug, archived ones only if asked for.
    pub fn services(&self, include_archived: bool) -> Vec<Service> {
        let mut services: Vec<Service> = self
            .entries()
            .into_iter()
            .filter(|e| include_archived || !e.archived)
            .map(|e| e.service.clone())
            .collect();
        services.sort_by(|a, b| a.slug.cmp(&b.slug));
        services
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
