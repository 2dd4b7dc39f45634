//! Views in other tools' formats: the Atlassian Statuspage v2 summary and a shields.io badge.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::db::incidents::ListFilter as IncidentFilter;
use crate::detect::Level;
use crate::error::ApiError;
use crate::http::params::slug_param;
use crate::http::{AppState, resource};
use crate::query::incidents;
use crate::query::status::{Statuses, service_view, with_status};

mod statuspage;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/statuspage/summary.json").get(summary))
        .service(resource("/v1/services/{slug}/badge.json").get(badge));
}

/// An Atlassian Statuspage v2 summary of every service, for tools that read that format.
#[utoipa::path(get, path = "/v1/statuspage/summary.json", tag = "interop", responses((status = 200, description = "Atlassian Statuspage v2 summary", body = statuspage::Summary)))]
async fn summary(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let services = state.reads.catalog.services(false);
    let views = with_status(&state.reads, services, Statuses::Required).await?;
    let (open, _) = incidents::list(
        &state.reads,
        IncidentFilter {
            open: Some(true),
            limit: 200,
            ..Default::default()
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(statuspage::summary(&views, &open, state.reads.clock.now())))
}

/// A shields.io endpoint badge: `https://img.shields.io/endpoint?url=<this URL>`.
#[utoipa::path(get, path = "/v1/services/{slug}/badge.json", tag = "interop", params(("slug" = String, Path)), responses((status = 200, body = Badge), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn badge(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    let view = service_view(&state.reads, &slug).await?;
    let (message, color) = match view.level() {
        Level::Normal => ("no problems", "brightgreen"),
        Level::Elevated => ("problems reported", "orange"),
        Level::Outage => ("outage reported", "red"),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(Badge {
            schema_version: 1,
            label: view.service().name.clone(),
            message,
            color,
            cache_seconds: 60,
        }))
}

/// A shields.io endpoint badge.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Badge {
    /// Always 1.
    #[serde(rename = "schemaVersion")]
    schema_version: u8,
    /// The service's name.
    label: String,
    /// `no problems`, `problems reported` or `outage reported`.
    message: &'static str,
    /// The badge's color.
    color: &'static str,
    /// How long shields.io may cache it.
    #[serde(rename = "cacheSeconds")]
    cache_seconds: u32,
}
