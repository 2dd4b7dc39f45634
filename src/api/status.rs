//! Service status on every catalog answer, and `GET /v1/status`: what is wrong right now.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::AppState;
use super::read_cache::Rendered;
use crate::db::services::Service;
use crate::detect::Level;
use crate::domain::ServiceSlug;
use crate::error::ApiError;
use crate::monitor::Status;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/status").get(board));
}

/// A catalog entry with the monitor's view of it. `status` is null until the monitor has
/// evaluated the service, 15 minutes after it stopped, or (on the catalog) while Redis is down.
#[derive(Serialize, utoipa::ToSchema)]
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
        self.status
            .as_ref()
            .map_or(0.0, |s| s.reports_15m as f64 - s.baseline_15m)
    }
}

/// Attaches statuses to services. With `strict`, Redis being down is an error; otherwise the
/// services are returned with `status: null` (the catalog still answers).
pub async fn with_status(
    state: &AppState,
    services: Vec<Service>,
    strict: bool,
) -> Result<Vec<ServiceView>, ApiError> {
    // Slugs are valid by the table's CHECK; one that is not simply has no status.
    let slugs: Vec<Option<ServiceSlug>> = services
        .iter()
        .map(|s| ServiceSlug::parse(&s.slug).ok())
        .collect();
    let readable: Vec<ServiceSlug> = slugs.iter().flatten().cloned().collect();
    let mut raw = match state.windows.read_statuses(&readable).await {
        Ok(raw) => raw.into_iter(),
        Err(e) if strict => return Err(e.into()),
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderGroup {
    provider: String,
    level: Level,
    services: Vec<String>,
}

/// Every service not at `normal`, most severe first, with providers grouped.
#[utoipa::path(get, path = "/v1/status", tag = "queries", responses((status = 200, body = super::docs::Board), (status = 503, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn board(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .read_cache
        .respond(&req, "status".into(), || board_body(&state))
        .await
}

async fn board_body(state: &web::Data<AppState>) -> Result<Rendered, ApiError> {
    let services = state.catalog.services(false);
    let all = with_status(state, services, true).await?;
    let views = problems_first(&all);
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
    let body = serde_json::json!({
        "generated_at": state.clock.now(),
        "count": views.len(),
        "services": views,
        "providers": providers,
    });
    Ok(Rendered::new(
        body.to_string(),
        "application/json",
        "public, max-age=5",
    ))
}
