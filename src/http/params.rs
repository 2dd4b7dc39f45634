//! Parsers of path and query parameters shared by the API and the pages. Each returns the
//! sentence a client needs to fix the value; callers attach the field name.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::ServiceSlug;
use crate::error::ApiError;

/// Parses an RFC 3339 time from a query parameter.
pub fn parse_time(raw: String) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
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

/// Parses the `{id}` path segment of an incident.
pub fn incident_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::field("id", "must be an incident id (a UUID)"))
}

/// Parses the `{slug}` path segment.
pub fn slug_param(raw: &str) -> Result<ServiceSlug, ApiError> {
    ServiceSlug::parse(raw).map_err(|e| ApiError::field("slug", e))
}

/// The `tz` parameter: an IANA zone, UTC when absent.
pub fn zone_param(raw: Option<&str>) -> Result<Tz, ApiError> {
    raw.map_or(Ok(Tz::UTC), |z| {
        crate::time::parse_zone(z).map_err(|e| ApiError::field("tz", e))
    })
}
