//! `GET /v1/incidents` (cursor paginated) and `GET /v1/incidents/{id}`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use crate::db::incidents::{self as queries, Incident, ListFilter, ServiceRef};
use crate::domain::{Label, ServiceSlug};
use crate::error::{ApiError, FieldErrors};
use crate::headline::{HeadlineFacts, headline, parse_zone};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/incidents").get(list))
        .service(super::resource("/v1/incidents/{id}").get(show));
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

/// An incident as lists show it.
#[derive(Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    incident: &'a Incident,
    service: &'a ServiceRef,
    state: &'static str,
    duration_minutes: i64,
}

fn summary<'a>(incident: &'a Incident, service: &'a ServiceRef, now: DateTime<Utc>) -> Summary<'a> {
    let end = incident.ended_at.unwrap_or(now);
    Summary {
        incident,
        service,
        state: if incident.ended_at.is_some() {
            "resolved"
        } else {
            "open"
        },
        duration_minutes: (end - incident.started_at).num_minutes().max(0),
    }
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

#[utoipa::path(get, path = "/v1/incidents", tag = "queries", params(("state" = Option<String>, Query, description = "open or resolved"), ("service" = Option<String>, Query), ("provider" = Option<String>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("limit" = Option<i64>, Query, description = "1-200, default 50"), ("cursor" = Option<String>, Query)), responses((status = 200, body = super::docs::IncidentPage), (status = 400, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn list(
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
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
    let since = errors.optional("since", q.since, super::parse_time);
    let until = errors.optional("until", q.until, super::parse_time);
    let limit = errors.optional("limit", q.limit, |v| {
        v.parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("must be a whole number from 1 to {MAX_LIMIT}"))
    });
    let after = errors.optional("cursor", q.cursor, decode_cursor);
    errors.finish().map_err(ApiError::Invalid)?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    let filter = ListFilter {
        open,
        service,
        provider,
        since,
        until,
        after,
        limit: limit + 1,
    };
    let mut rows = queries::list(&state.db, &filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let now = state.clock.now();
    let next_cursor = if more {
        rows.last().map(|(i, _)| encode_cursor(i))
    } else {
        None
    };
    let incidents: Vec<Summary> = rows.iter().map(|(i, s)| summary(i, s, now)).collect();
    Ok(HttpResponse::Ok().json(json!({ "incidents": incidents, "next_cursor": next_cursor })))
}

#[derive(Deserialize)]
struct ShowQuery {
    tz: Option<String>,
}

/// The largest counts of a `{key: count}` object, with shares of the total.
fn top(counts: &Value, name: &str) -> Vec<Value> {
    let Some(map) = counts.as_object() else {
        return Vec::new();
    };
    super::shares(
        map.iter()
            .filter_map(|(k, v)| v.as_u64().map(|c| (k.as_str(), c))),
        name,
        5,
    )
}

/// The `tz` parameter: an IANA zone, UTC when absent.
pub fn zone_param(raw: Option<&str>) -> Result<Tz, ApiError> {
    raw.map_or(Ok(Tz::UTC), |z| {
        parse_zone(z).map_err(|e| ApiError::field("tz", e))
    })
}

/// The incident with `id` and its service, or 404.
pub async fn find_or_404(state: &AppState, id: Uuid) -> Result<(Incident, ServiceRef), ApiError> {
    queries::find(&state.db, id).await?.ok_or_else(|| {
        ApiError::NotFound(format!("No incident {id}; GET /v1/incidents lists them."))
    })
}

/// The one-line summary of an incident, times in `zone`.
pub fn incident_headline(incident: &Incident, service: &ServiceRef, zone: Tz) -> String {
    let facts = HeadlineFacts {
        service: &service.name,
        started_at: incident.started_at,
        peak_bin_at: incident.peak_bin_at,
        peak_bin_count: i64::from(incident.peak_bin_count),
        ended_at: incident.ended_at,
    };
    headline(&facts, zone)
}

#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "queries", params(("id" = uuid::Uuid, Path), ("tz" = Option<String>, Query)), responses((status = 200, body = super::docs::IncidentDetail), (status = 400, body = super::docs::Problem, content_type = "application/problem+json"), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn show(
    path: web::Path<String>,
    query: web::Query<ShowQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = super::incident_id(&path)?;
    let zone = zone_param(query.into_inner().tz.as_deref())?;
    let (incident, service) = find_or_404(&state, id).await?;
    let timeline = queries::timeline(&state.db, id).await?;
    let related = queries::overlapping(
        &state.db,
        &service.provider,
        incident.service_id,
        incident.started_at,
        incident.ended_at,
    )
    .await?;
    let now = state.clock.now();
    let related: Vec<Summary> = related.iter().map(|(i, s)| summary(i, s, now)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "incident": summary(&incident, &service, now),
        "headline": incident_headline(&incident, &service, zone),
        "tz": zone.name(),
        "top_problems": top(&incident.problem_counts, "problem"),
        "top_countries": top(&incident.country_counts, "country"),
        "timeline": timeline,
        "related": related,
    })))
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
