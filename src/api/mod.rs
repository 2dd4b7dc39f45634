//! HTTP handlers, grouped by resource. Handlers are thin: parse, call a use case or a query,
//! shape the response. Every error leaves as problem+json (see `error`).

mod admin;
mod body;
pub(crate) mod breakdown;
pub(crate) mod charts;
pub(crate) mod curve;
mod docs;
mod events;
pub(crate) mod incidents;
mod interop;
mod minutes;
pub mod openapi;
mod ops;
pub mod read_cache;
mod reports;
pub(crate) mod services;
mod state;
pub(crate) mod status;

pub use admin::AdminAuth;
pub use state::AppState;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// Registers every route and the error shaping of actix's own extractors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| {
        let message = err.to_string();
        // serde names the parameter between backticks (`duplicate field `step``).
        let field = message.split('`').nth(1).unwrap_or("query").to_owned();
        ApiError::field(field, message).into()
    }))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::field("path", err.to_string()).into()),
    )
    .configure(ops::routes)
    .configure(reports::routes)
    .configure(services::routes)
    .configure(minutes::routes)
    .configure(status::routes)
    .configure(incidents::routes)
    .configure(curve::routes)
    .configure(interop::routes)
    .configure(charts::routes)
    .configure(events::routes)
    .configure(openapi::routes)
    .configure(breakdown::routes)
    .default_service(web::to(not_found));
}

/// Parses an RFC 3339 time from a query parameter.
pub fn parse_time(raw: String) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| "must be an RFC 3339 time, like 2025-06-10T06:36:00Z".to_owned())
}

/// Parses a duration like `15m`, `24h` or `7d` into minutes within `[min, max]`.
pub fn parse_duration(raw: &str, min: i64, max: i64, examples: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "must be a duration like {examples} (m, h or d), from {min} minutes to {} days",
            max / 1440
        )
    };
    let (number, per_unit) = if let Some(n) = raw.strip_suffix('m') {
        (n, 1)
    } else if let Some(n) = raw.strip_suffix('h') {
        (n, 60)
    } else if let Some(n) = raw.strip_suffix('d') {
        (n, 1440)
    } else {
        return Err(bad());
    };
    let minutes = number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .ok_or_else(bad)?;
    (min..=max)
        .contains(&minutes)
        .then_some(minutes)
        .ok_or_else(bad)
}

/// `{<name>: key, count, share}` entries, largest first (ties by key), at most `limit`; shares
/// are of the total over all keys, to three decimals.
pub fn shares<'a>(
    counts: impl IntoIterator<Item = (&'a str, u64)>,
    name: &str,
    limit: usize,
) -> Vec<serde_json::Value> {
    ranked(counts, limit)
        .into_iter()
        .map(|(key, count, share)| serde_json::json!({ name: key, "count": count, "share": share }))
        .collect()
}

/// `(key, count, share)`, largest first (ties by key), at most `limit`; shares are of the total
/// over all keys, to three decimals.
pub fn ranked<'a>(
    counts: impl IntoIterator<Item = (&'a str, u64)>,
    limit: usize,
) -> Vec<(&'a str, u64, f64)> {
    let mut entries: Vec<(&str, u64)> = counts.into_iter().collect();
    let total: u64 = entries.iter().map(|(_, c)| c).sum();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    entries
        .into_iter()
        .take(limit)
        .map(|(key, count)| {
            let share = if total > 0 {
                (count as f64 / total as f64 * 1000.0).round() / 1000.0
            } else {
                0.0
            };
            (key, count, share)
        })
        .collect()
}

/// Parses the `{id}` path segment of an incident.
pub fn incident_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::field("id", "must be an incident id (a UUID)"))
}

/// A resource whose unsupported methods answer 405 problem+json (actix's own 405 has no body).
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if let Some(page) = crate::web::missing_page(&req) {
        return Ok(page);
    }
    Err(ApiError::NotFound(format!(
        "No resource at {} {}. The API lives under /v1 (see README).",
        req.method(),
        req.path()
    )))
}
