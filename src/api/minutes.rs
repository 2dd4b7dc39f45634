//! `GET /v1/services/{slug}/minutes`: raw minute buckets from the hot window.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::error::{ApiError, FieldErrors};
use crate::http::params::slug_param;
use crate::http::{AppState, resource};
use crate::time::{minute_ceil, minute_of};

#[derive(Deserialize)]
struct MinutesQuery {
    from: Option<String>,
    to: Option<String>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/services/{slug}/minutes").get(minutes));
}

/// Reports per minute from Redis (the last hours), with problems and countries.
#[utoipa::path(get, path = "/v1/services/{slug}/minutes", tag = "queries", params(("slug" = String, Path), ("from" = Option<String>, Query, description = "RFC 3339"), ("to" = Option<String>, Query, description = "RFC 3339")), responses((status = 200, body = Vec<crate::windows::MinuteBucket>), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn minutes(
    path: web::Path<String>,
    query: web::Query<MinutesQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    state.reads.service(&slug)?;
    let now = state.reads.clock.now();
    let retention = TimeDelta::from_std(state.reads.retention).expect("retention fits");
    let (from, to) = minute_range(&query, now, retention)?;
    let buckets = state.reads.windows.minutes(&slug, from, to).await?;
    Ok(HttpResponse::Ok().json(buckets))
}

/// Minute numbers `[from, to)` for the query: default the last 60 minutes up to the current one.
fn minute_range(
    query: &MinutesQuery,
    now: DateTime<Utc>,
    retention: TimeDelta,
) -> Result<(i64, i64), ApiError> {
    let mut errors = FieldErrors::default();
    let from = errors.optional("from", query.from.clone(), crate::http::params::parse_time);
    let to = errors.optional("to", query.to.clone(), crate::http::params::parse_time);
    errors.finish().map_err(ApiError::Invalid)?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ApiError::field("from", "must be earlier than to"));
    }
    // Minutes that have not begun yet hold no reports: the range stops at the current minute.
    let next_minute = minute_of(now) + 1;
    // Every minute that starts before `to`.
    let to_minute = to.map_or(next_minute, minute_ceil).min(next_minute);
    let from_minute = from.map_or(to_minute - 60, minute_of);
    let retention_minutes = retention.num_minutes();
    if from_minute >= to_minute {
        return Err(ApiError::field(
            "from",
            "must be earlier than the current minute",
        ));
    }
    if to_minute - from_minute > retention_minutes {
        return Err(ApiError::field(
            "to",
            format!(
                "the range may span at most {} hours (the Redis retention)",
                retention_minutes / 60
            ),
        ));
    }
    if from_minute < minute_of(now) - retention_minutes {
        return Err(ApiError::field(
            "from",
            format!(
                "must be within the last {} hours; older minutes have left Redis",
                retention_minutes / 60
            ),
        ));
    }
    Ok((from_minute, to_minute))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), ApiError> {
        let now = Utc.with_ymd_and_hms(2025, 6, 10, 7, 0, 30).unwrap();
        let q = MinutesQuery {
            from: from.map(String::from),
            to: to.map(String::from),
        };
        minute_range(&q, now, TimeDelta::hours(48))
    }

    #[test]
    fn default_is_the_last_sixty_minutes_including_the_current_one() {
        let (from, to) = range(None, None).unwrap();
        assert_eq!(to - from, 60);
        assert_eq!(
            to,
            minute_of(Utc.with_ymd_and_hms(2025, 6, 10, 7, 1, 0).unwrap())
        );
    }

    #[test]
    fn explicit_bounds_cover_minutes_starting_before_to() {
        let (from, to) = range(Some("2025-06-10T06:36:00Z"), Some("2025-06-10T06:38:00Z")).unwrap();
        assert_eq!(to - from, 2);
        let (_, to2) = range(Some("2025-06-10T06:36:00Z"), Some("2025-06-10T06:38:01Z")).unwrap();
        assert_eq!(to2 - from, 3);
    }

    #[test]
    fn bad_ranges_name_the_field() {
        let field = |r: Result<(i64, i64), ApiError>| match r {
            Err(ApiError::Invalid(e)) => e[0].field.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(range(Some("yesterday"), None)), "from");
        assert_eq!(field(range(None, Some("2025-13-01T00:00:00Z"))), "to");
        assert_eq!(
            field(range(
                Some("2025-06-10T07:00:00Z"),
                Some("2025-06-10T06:00:00Z")
            )),
            "from"
        );
        assert_eq!(
            field(range(
                Some("2025-06-01T00:00:00Z"),
                Some("2025-06-10T00:00:00Z")
            )),
            "to"
        );
        assert_eq!(
            field(range(
                Some("2025-06-01T00:00:00Z"),
                Some("2025-06-01T01:00:00Z")
            )),
            "from"
        );
        assert_eq!(
            field(range(
                Some("2025-06-10T06:00:50Z"),
                Some("2025-06-10T06:00:20Z")
            )),
            "from"
        );
        assert_eq!(field(range(Some("2025-06-10T08:00:00Z"), None)), "from");
    }

    #[test]
    fn the_range_never_reaches_into_the_future() {
        let (from, to) = range(Some("2025-06-10T06:30:00Z"), Some("2025-06-11T00:00:00Z")).unwrap();
        assert_eq!(
            to,
            minute_of(Utc.with_ymd_and_hms(2025, 6, 10, 7, 1, 0).unwrap())
        );
        assert_eq!(to - from, 31);
    }
}
