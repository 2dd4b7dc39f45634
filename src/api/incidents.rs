//! `GET /v1/incidents` (cursor paginated) and `GET /v1/incidents/{id}`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::shares::{self, CountryShare, ProblemShare};
use crate::db::incidents::{ListFilter, ServiceRef};
use crate::domain::{Incident, Label, ServiceSlug, Update};
use crate::error::{ApiError, FieldErrors};
use crate::http::params::{incident_id, parse_time, zone_param};
use crate::http::{AppState, resource};
use crate::query::headline::incident_headline;
use crate::query::incidents::{self, IncidentDetail};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/incidents").get(list))
        .service(resource("/v1/incidents/{id}").get(show));
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    service: Option<String>,
    provider: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Whether an incident is still going on.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    /// Still going on.
    Open,
    /// Over.
    Resolved,
}

/// An incident as lists show it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentSummary {
    #[serde(flatten)]
    incident: Incident,
    /// Its service.
    service: ServiceRef,
    /// `open` or `resolved`.
    state: IncidentState,
    /// From its onset to its end (or now).
    duration_minutes: i64,
}

impl IncidentSummary {
    fn of(incident: Incident, service: ServiceRef, now: DateTime<Utc>) -> Self {
        let end = incident.ended_at.unwrap_or(now);
        Self {
            state: if incident.is_open() {
                IncidentState::Open
            } else {
                IncidentState::Resolved
            },
            duration_minutes: (end - incident.began_at).num_minutes().max(0),
            incident,
            service,
        }
    }
}

/// A page of incidents, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentPage {
    /// The incidents.
    incidents: Vec<IncidentSummary>,
    /// Pass back as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// One incident in full.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentBody {
    /// The incident.
    incident: IncidentSummary,
    /// e.g. "ChatGPT: problem reports rose from 2:36 AM EDT and peaked at 2,014 around 3:15 AM EDT".
    headline: String,
    /// The zone of the headline's times.
    tz: &'static str,
    /// The five most reported problems.
    top_problems: Vec<ProblemShare>,
    /// The five countries most reports came from.
    top_countries: Vec<CountryShare>,
    /// Its changes of level, oldest first.
    timeline: Vec<Update>,
    /// Incidents of other services of the same provider that overlap it.
    related: Vec<IncidentSummary>,
}

/// The cursor is the last row's start time (µs) and id: opaque to clients, stable under inserts.
fn encode_cursor(incident: &Incident) -> String {
    format!(
        "{}_{}",
        incident.started_at.timestamp_micros(),
        incident.id.simple()
    )
}

fn decode_cursor(raw: String) -> Result<(DateTime<Utc>, Uuid), String> {
    let bad = || "is not a cursor this API returned; pass next_cursor unchanged".to_owned();
    let (micros, id) = raw.split_once('_').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        // Cursors come from incident start times: anything outside these years was not ours.
        .filter(|t| (1970..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at, id))
}

/// Incidents, newest first, with filters and a cursor.
#[utoipa::path(get, path = "/v1/incidents", tag = "queries", params(("state" = Option<String>, Query, description = "open or resolved"), ("service" = Option<String>, Query), ("provider" = Option<String>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("limit" = Option<i64>, Query, description = "1-200, default 50"), ("cursor" = Option<String>, Query)), responses((status = 200, body = IncidentPage), (status = 400, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn list(
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = list_filter(query.into_inner())?;
    let (rows, more) = incidents::list(&state.reads, filter).await?;
    let next_cursor = more
        .then(|| rows.last().map(|(i, _)| encode_cursor(i)))
        .flatten();
    let now = state.reads.clock.now();
    let incidents = rows
        .into_iter()
        .map(|(i, s)| IncidentSummary::of(i, s, now))
        .collect();
    Ok(HttpResponse::Ok().json(IncidentPage {
        incidents,
        next_cursor,
    }))
}

/// Parses the list's filters, naming every bad one at once.
fn list_filter(q: ListQuery) -> Result<ListFilter, ApiError> {
    let mut errors = FieldErrors::default();
    let open = errors.optional("state", q.state, |s| match s.as_str() {
        "open" => Ok(true),
        "resolved" => Ok(false),
        _ => Err("must be open or resolved".to_owned()),
    });
    let service = errors.optional("service", q.service, |s| {
        ServiceSlug::parse(&s).map(|s| s.to_string())
    });
    let provider = errors.optional("provider", q.provider, |p| {
        Label::parse(&p).map(|l| l.to_string())
    });
    let since = errors.optional("since", q.since, parse_time);
    let until = errors.optional("until", q.until, parse_time);
    let limit = errors.optional("limit", q.limit, |v| {
        v.parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("must be a whole number from 1 to {MAX_LIMIT}"))
    });
    let after = errors.optional("cursor", q.cursor, decode_cursor);
    errors.finish().map_err(ApiError::Invalid)?;
    Ok(ListFilter {
        open,
        service,
        provider,
        since,
        until,
        after,
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    })
}

#[derive(Deserialize)]
struct ShowQuery {
    tz: Option<String>,
}

/// One incident with its headline, timeline, top problems and countries, and related incidents.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "queries", params(("id" = uuid::Uuid, Path), ("tz" = Option<String>, Query)), responses((status = 200, body = IncidentBody), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn show(
    path: web::Path<String>,
    query: web::Query<ShowQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = incident_id(&path)?;
    let zone = zone_param(query.into_inner().tz.as_deref())?;
    let detail = incidents::detail(&state.reads, id).await?;
    let now = state.reads.clock.now();
    let IncidentDetail {
        incident,
        service,
        timeline,
        related,
    } = detail;
    Ok(HttpResponse::Ok().json(IncidentBody {
        headline: incident_headline(&incident, &service.name, zone),
        tz: zone.name(),
        top_problems: shares::problems(&incident.problem_counts, 5),
        top_countries: shares::countries(&incident.country_counts, 5),
        timeline,
        related: related
            .into_iter()
            .map(|(i, s)| IncidentSummary::of(i, s, now))
            .collect(),
        incident: IncidentSummary::of(incident, service, now),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn cursors_from_clients_never_panic(raw in crate::hostile::text()) {
            if let Ok((at, _)) = decode_cursor(raw.clone()) {
                prop_assert!((1970..=9999).contains(&chrono::Datelike::year(&at)));
            }
        }

        #[test]
        fn cursors_decode_what_they_encode(micros in 0i64..253_402_300_799_000_000, id in any::<u128>()) {
            let raw = format!("{micros}_{}", Uuid::from_u128(id).simple());
            let (at, decoded) = decode_cursor(raw).unwrap();
            prop_assert_eq!(at.timestamp_micros(), micros);
            prop_assert_eq!(decoded, Uuid::from_u128(id));
        }
    }
}
