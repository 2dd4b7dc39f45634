//! Shapes of JSON answers that handlers build inline, for the OpenAPI document.
//!
//! Each mirrors one `json!` in a handler; `tests/api/openapi.rs` checks every route is listed.

#![allow(dead_code, reason = "read by the OpenAPI derive only")]

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::status::{ProviderGroup, ServiceView};
use crate::db::incidents::{Incident, ServiceRef, Update};
use crate::detect::Level;
use crate::error::FieldError;

/// An RFC 9457 problem.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `/problems/<code>`.
    r#type: String,
    title: String,
    status: u16,
    detail: String,
    /// The fields at fault, when the problem is about input.
    errors: Option<Vec<FieldError>>,
    /// `Redis` or `PostgreSQL` on a 503.
    dependency: Option<String>,
}

/// The answer to a report.
#[derive(Serialize, ToSchema)]
pub struct ReportAnswer {
    id: Uuid,
    service: String,
    counted: bool,
    bucket: DateTime<Utc>,
    /// `duplicate` when not counted.
    reason: Option<String>,
}

/// A list of services.
#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    count: usize,
    services: Vec<ServiceView>,
}

/// The status board.
#[derive(Serialize, ToSchema)]
pub struct Board {
    generated_at: DateTime<Utc>,
    count: usize,
    services: Vec<ServiceView>,
    providers: Vec<ProviderGroup>,
}

/// One point of a curve.
#[derive(Serialize, ToSchema)]
pub struct CurvePointDoc {
    /// Step start, with the requested zone's offset.
    t: String,
    reports: f64,
    baseline: f64,
    upper: f64,
    level: Level,
}

/// An outage curve.
#[derive(Serialize, ToSchema)]
pub struct CurveDoc {
    service: String,
    name: String,
    step: String,
    tz: String,
    from: String,
    to: String,
    points: Vec<CurvePointDoc>,
}

/// An incident in a list.
#[derive(Serialize, ToSchema)]
pub struct IncidentSummary {
    #[serde(flatten)]
    incident: Incident,
    service: ServiceRef,
    /// `open` or `resolved`.
    state: String,
    duration_minutes: i64,
}

/// A page of incidents.
#[derive(Serialize, ToSchema)]
pub struct IncidentPage {
    incidents: Vec<IncidentSummary>,
    /// Pass back as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// A problem kind with its count and share of the total.
#[derive(Serialize, ToSchema)]
pub struct ProblemShare {
    problem: String,
    count: u64,
    share: f64,
}

/// A country with its count and share of the total.
#[derive(Serialize, ToSchema)]
pub struct CountryShare {
    country: String,
    count: u64,
    share: f64,
}

/// One incident in full.
#[derive(Serialize, ToSchema)]
pub struct IncidentDetail {
    incident: IncidentSummary,
    /// e.g. "ChatGPT: problem reports rose from 2:36 AM EDT and peaked at 2,014 around 3:15 AM EDT".
    headline: String,
    tz: String,
    top_problems: Vec<ProblemShare>,
    top_countries: Vec<CountryShare>,
    timeline: Vec<Update>,
    related: Vec<IncidentSummary>,
}

/// A shields.io endpoint badge.
#[derive(Serialize, ToSchema)]
pub struct Badge {
    #[serde(rename = "schemaVersion")]
    schema_version: u8,
    label: String,
    message: String,
    color: String,
    #[serde(rename = "cacheSeconds")]
    cache_seconds: u32,
}

/// Liveness.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    status: String,
}

/// Readiness: each dependency `ok` or `unavailable`.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    status: String,
    checks: Checks,
}

/// Dependency checks.
#[derive(Serialize, ToSchema)]
pub struct Checks {
    redis: String,
    postgresql: String,
}
