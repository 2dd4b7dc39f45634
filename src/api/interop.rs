//! Views in other tools' formats: the Atlassian Statuspage v2 summary and a shields.io badge.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use serde::Serialize;

use crate::db::incidents::ListFilter as IncidentFilter;
use crate::detect::Level;
use crate::error::ApiError;
use crate::http::params::slug_param;
use crate::http::{AppState, resource};
use crate::monitor::Status;
use crate::query::incidents;
use crate::query::status::{ServiceView, Statuses, service_view, with_status};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/statuspage/summary.json").get(summary))
        .service(resource("/v1/services/{slug}/badge.json").get(badge));
}

/// Statuspage's component status for a level. An elevated service whose reports are at least
/// three times the baseline is a partial outage; below that, degraded performance.
fn component_status(status: Option<&Status>) -> &'static str {
    match status {
        None => "operational",
        Some(s) => match s.level {
            Level::Normal => "operational",
            Level::Elevated if s.reports_15m as f64 >= 3.0 * s.baseline_15m.max(1.0) => {
                "partial_outage"
            }
            Level::Elevated => "degraded_performance",
            Level::Outage => "major_outage",
        },
    }
}

fn component(view: &ServiceView, position: usize) -> Value {
    let service = view.service();
    json!({
        "id": service.id,
        "name": service.name,
        "status": component_status(view.status()),
        "created_at": service.created_at,
        "updated_at": view.status().map_or(service.updated_at, |s| s.evaluated_at),
        "position": position,
        "description": format!("User reports about {}", service.name),
        "showcase": false,
        "start_date": null,
        "group_id": null,
        "page_id": "downwatch",
        "group": false,
        "only_show_if_degraded": false,
    })
}

/// An Atlassian Statuspage v2 summary of every service, for tools that read that format.
#[utoipa::path(get, path = "/v1/statuspage/summary.json", tag = "interop", responses((status = 200, description = "Atlassian Statuspage v2 summary", body = Object)))]
async fn summary(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let services = state.reads.catalog.services(false);
    let views = with_status(&state.reads, services, Statuses::Required).await?;
    let components: Vec<Value> = views
        .iter()
        .enumerate()
        .map(|(i, v)| component(v, i + 1))
        .collect();
    let (open, _) = incidents::list(
        &state.reads,
        IncidentFilter {
            open: Some(true),
            limit: 200,
            ..Default::default()
        },
    )
    .await?;
    let incidents: Vec<Value> = open
        .iter()
        .map(|(incident, service)| {
            let outage = incident.level == Level::Outage;
            let component = views.iter().find(|v| v.service().id == incident.service_id).map(|v| component(v, 0));
            json!({
                "id": incident.id,
                "name": format!("{}: user reports indicate {}", service.name, if outage { "an outage" } else { "problems" }),
                "status": "investigating",
                "created_at": incident.started_at,
                "updated_at": incident.updated_at,
                "monitoring_at": null,
                "resolved_at": null,
                "impact": if outage { "major" } else { "minor" },
                "shortlink": format!("/v1/incidents/{}", incident.id),
                "started_at": incident.began_at,
                "page_id": "downwatch",
                "incident_updates": [],
                "components": component.into_iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    let worst = views
        .iter()
        .map(ServiceView::level)
        .max()
        .unwrap_or(Level::Normal);
    let (indicator, description) = match worst {
        Level::Normal => ("none", "All Systems Operational"),
        Level::Elevated => ("minor", "Partially Degraded Service"),
        Level::Outage => ("major", "Partial System Outage"),
    };
    Ok(HttpResponse::Ok().json(json!({
        "page": {
            "id": "downwatch",
            "name": "downwatch: user-reported problems",
            "url": "/",
            "time_zone": "Etc/UTC",
            "updated_at": state.reads.clock.now(),
        },
        "components": components,
        "incidents": incidents,
        "scheduled_maintenances": [],
        "status": { "indicator": indicator, "description": description },
    })))
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
