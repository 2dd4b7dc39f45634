//! The Atlassian Statuspage v2 summary format, typed: tools that read Statuspage pages can read
//! downwatch, and the OpenAPI document describes exactly what they get.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::incidents::ServiceRef;
use crate::detect::Level;
use crate::domain::Incident;
use crate::monitor::Status;
use crate::query::status::ServiceView;

/// Every page, component and incident belongs to this page id.
const PAGE_ID: &str = "downwatch";

/// An Atlassian Statuspage v2 summary.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// The page.
    page: Page,
    /// One component per public service.
    components: Vec<Component>,
    /// Open incidents.
    incidents: Vec<StatuspageIncident>,
    /// Always empty: downwatch knows of no planned maintenance.
    scheduled_maintenances: Vec<StatuspageIncident>,
    /// The worst level across services.
    status: PageStatus,
}

/// The page itself.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page {
    /// Always `downwatch`.
    id: &'static str,
    /// The page's name.
    name: &'static str,
    /// The page's address.
    url: &'static str,
    /// Always `Etc/UTC`.
    time_zone: &'static str,
    /// Now.
    updated_at: DateTime<Utc>,
}

/// A service as a Statuspage component.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Component {
    /// The service's id.
    id: Uuid,
    /// The service's name.
    name: String,
    /// `operational`, `degraded_performance`, `partial_outage` or `major_outage`.
    status: &'static str,
    /// When the service was added.
    created_at: DateTime<Utc>,
    /// When its status was last evaluated.
    updated_at: DateTime<Utc>,
    /// Its position on the page (1-based; 0 inside an incident).
    position: usize,
    /// What it is.
    description: String,
    /// Always false.
    showcase: bool,
    /// Always null.
    start_date: Option<String>,
    /// Always null: components are not grouped.
    group_id: Option<Uuid>,
    /// Always `downwatch`.
    page_id: &'static str,
    /// Always false.
    group: bool,
    /// Always false.
    only_show_if_degraded: bool,
}

/// An open incident in Statuspage's form.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatuspageIncident {
    /// The incident's id.
    id: Uuid,
    /// "ChatGPT: user reports indicate an outage".
    name: String,
    /// Always `investigating`: downwatch sees reports, not causes.
    status: &'static str,
    /// When it was detected.
    created_at: DateTime<Utc>,
    /// Its last change.
    updated_at: DateTime<Utc>,
    /// Always null.
    monitoring_at: Option<DateTime<Utc>>,
    /// Always null: only open incidents are listed.
    resolved_at: Option<DateTime<Utc>>,
    /// `minor` (elevated) or `major` (outage).
    impact: &'static str,
    /// Its address in this API.
    shortlink: String,
    /// Where the rise began.
    started_at: DateTime<Utc>,
    /// Always `downwatch`.
    page_id: &'static str,
    /// Always empty: the timeline is at the shortlink.
    incident_updates: Vec<PageStatus>,
    /// The service affected.
    components: Vec<Component>,
}

/// The page's overall indicator.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PageStatus {
    /// `none`, `minor` or `major`.
    indicator: &'static str,
    /// In words.
    description: &'static str,
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

fn component(view: &ServiceView, position: usize) -> Component {
    let service = view.service();
    Component {
        id: service.id,
        name: service.name.to_string(),
        status: component_status(view.status()),
        created_at: service.created_at,
        updated_at: view.status().map_or(service.updated_at, |s| s.evaluated_at),
        position,
        description: format!("User reports about {}", service.name),
        showcase: false,
        start_date: None,
        group_id: None,
        page_id: PAGE_ID,
        group: false,
        only_show_if_degraded: false,
    }
}

fn incident(
    incident: &Incident,
    service: &ServiceRef,
    views: &[ServiceView],
) -> StatuspageIncident {
    let outage = incident.level == Level::Outage;
    let what = if outage { "an outage" } else { "problems" };
    StatuspageIncident {
        id: incident.id,
        name: format!("{}: user reports indicate {what}", service.name),
        status: "investigating",
        created_at: incident.started_at,
        updated_at: incident.updated_at,
        monitoring_at: None,
        resolved_at: None,
        impact: if outage { "major" } else { "minor" },
        shortlink: format!("/v1/incidents/{}", incident.id),
        started_at: incident.began_at,
        page_id: PAGE_ID,
        incident_updates: Vec::new(),
        components: views
            .iter()
            .filter(|v| v.service().id == incident.service_id)
            .map(|v| component(v, 0))
            .collect(),
    }
}

/// The summary of `views` (public services with their status) and their `open` incidents.
pub fn summary(
    views: &[ServiceView],
    open: &[(Incident, ServiceRef)],
    now: DateTime<Utc>,
) -> Summary {
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
    Summary {
        page: Page {
            id: PAGE_ID,
            name: "downwatch: user-reported problems",
            url: "/",
            time_zone: "Etc/UTC",
            updated_at: now,
        },
        components: (1..).zip(views).map(|(i, v)| component(v, i)).collect(),
        incidents: open
            .iter()
            .map(|(i, service)| incident(i, service, views))
            .collect(),
        scheduled_maintenances: Vec::new(),
        status: PageStatus {
            indicator,
            description,
        },
    }
}
