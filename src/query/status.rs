//! What is wrong right now: services with the monitor's status, the problems first, and the
//! board that groups them by provider.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{QueryError, Reads};
use crate::detect::Level;
use crate::domain::Service;
use crate::domain::ServiceSlug;
use crate::monitor::Status;

/// A catalog entry with the monitor's view of it. `status` is null until the monitor has
/// evaluated the service, 15 minutes after it stopped, or (on the catalog) while Redis is down.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceView {
    #[serde(flatten)]
    service: Service,
    status: Option<Status>,
}

impl ServiceView {
    /// The catalog entry.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The monitor's status, if it has evaluated the service.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// The level, counting "not evaluated yet" as normal.
    pub fn level(&self) -> Level {
        self.status.as_ref().map_or(Level::Normal, |s| s.level)
    }

    fn excess(&self) -> f64 {
        self.status.as_ref().map_or(0.0, |s| {
            #[expect(clippy::cast_precision_loss, reason = "15 minutes of reports")]
            let reports = s.reports_15m as f64;
            reports - s.baseline_15m
        })
    }
}

/// Whether a status read may fail the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statuses {
    /// Redis being down is an error.
    Required,
    /// Redis being down leaves `status: null` (the catalog still answers).
    BestEffort,
}

/// Attaches statuses to services.
pub async fn with_status(
    reads: &Reads,
    services: Vec<Service>,
    statuses: Statuses,
) -> Result<Vec<ServiceView>, QueryError> {
    // Slugs are valid by the table's CHECK; one that is not simply has no status.
    let slugs: Vec<Option<ServiceSlug>> = services
        .iter()
        .map(|s| ServiceSlug::parse(&s.slug).ok())
        .collect();
    let readable: Vec<ServiceSlug> = slugs.iter().flatten().cloned().collect();
    let mut raw = match reads.windows.read_statuses(&readable).await {
        Ok(raw) => raw.into_iter(),
        Err(e) if statuses == Statuses::Required => return Err(e.into()),
        Err(_) => vec![None; readable.len()].into_iter(),
    };
    Ok(services
        .into_iter()
        .zip(slugs)
        .map(|(service, slug)| {
            let json = slug.and_then(|_| raw.next().flatten());
            ServiceView {
                service,
                status: json.and_then(|j| serde_json::from_str(&j).ok()),
            }
        })
        .collect())
}

/// One service as the catalog and the monitor see it.
pub async fn service_view(reads: &Reads, slug: &ServiceSlug) -> Result<ServiceView, QueryError> {
    let service = reads.service(slug)?;
    let mut views = with_status(reads, vec![service], Statuses::BestEffort).await?;
    Ok(views.pop().expect("one service in, one out"))
}

/// The services not at `normal`, most severe first: by level, then by reports over baseline.
pub fn problems_first(views: &[ServiceView]) -> Vec<&ServiceView> {
    let mut problems: Vec<&ServiceView> = views
        .iter()
        .filter(|v| v.level() != Level::Normal)
        .collect();
    problems.sort_by(|a, b| {
        b.level()
            .cmp(&a.level())
            .then(b.excess().total_cmp(&a.excess()))
    });
    problems
}

/// Services of one provider with problems.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderGroup {
    /// The provider.
    pub provider: String,
    /// The worst level among its services.
    pub level: Level,
    /// Slugs of its services with problems, most severe first.
    pub services: Vec<String>,
}

/// `GET /v1/status`: every service not at `normal`, most severe first, with providers grouped.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Board {
    /// When this answer was made.
    pub generated_at: DateTime<Utc>,
    /// How many services have problems.
    pub count: usize,
    /// The services with problems, most severe first.
    pub services: Vec<ServiceView>,
    /// Their providers, most severe first.
    pub providers: Vec<ProviderGroup>,
}

/// The board of every unarchived service.
pub async fn board(reads: &Reads) -> Result<Board, QueryError> {
    let services = reads.catalog.services(false);
    let all = with_status(reads, services, Statuses::Required).await?;
    let views: Vec<ServiceView> = problems_first(&all).into_iter().cloned().collect();
    let mut groups: BTreeMap<String, ProviderGroup> = BTreeMap::new();
    for view in &views {
        let group = groups
            .entry(view.service.provider.clone())
            .or_insert_with(|| ProviderGroup {
                provider: view.service.provider.clone(),
                level: Level::Normal,
                services: Vec::new(),
            });
        group.level = group.level.max(view.level());
        group.services.push(view.service.slug.clone());
    }
    let mut providers: Vec<ProviderGroup> = groups.into_values().collect();
    providers.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then(b.services.len().cmp(&a.services.len()))
    });
    Ok(Board {
        generated_at: reads.clock.now(),
        count: views.len(),
        services: views,
        providers,
    })
}
