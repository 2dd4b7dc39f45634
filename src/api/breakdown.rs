//! `GET /v1/services/{slug}/problems` and `.../countries`: what people report, over a window
//! and per step, so "voice mode is still failing after the rest recovered" can be seen.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::shares::{self, CountryShare, ProblemShare};
use crate::error::{ApiError, FieldErrors};
use crate::http::params::{parse_duration, slug_param};
use crate::http::read_cache::Rendered;
use crate::http::{AppState, resource};
use crate::query::breakdown::{BreakdownRequest, load};
use crate::query::history::Dimension;
use crate::query::points::Step;
use crate::time::{minute_start, parse_zone};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/services/{slug}/problems").get(problems))
        .service(resource("/v1/services/{slug}/countries").get(countries));
}

#[derive(Deserialize)]
struct BreakdownQuery {
    window: Option<String>,
    step: Option<String>,
    tz: Option<String>,
}

/// `15m`, `1h`, `24h`, `7d` → minutes, from 15 minutes to 90 days.
pub fn parse_window(raw: &str) -> Result<i64, String> {
    parse_duration(raw, 15, 90 * 1440, "15m, 1h or 7d")
}

/// Counts per key at one step.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SeriesPoint {
    /// Step start, with the requested zone's offset.
    t: String,
    /// Reports per key in the step.
    counts: BTreeMap<String, u64>,
}

/// A breakdown of a service's reports.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BreakdownBody {
    /// The service's slug.
    service: String,
    /// Minutes covered, up to now.
    window_minutes: i64,
    /// Start of the window.
    from: String,
    /// End of the window (exclusive).
    to: String,
    /// Reports in the window that named a key.
    total: u64,
    /// On `/problems`: counts per problem kind over the window, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<Vec<ProblemShare>>,
    /// On `/countries`: counts per country over the window, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    countries: Option<Vec<CountryShare>>,
    /// The series' step, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<&'static str>,
    /// Counts per step, when a step was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<Vec<SeriesPoint>>,
}

/// What people report as the problem, over a window and per step.
#[utoipa::path(get, path = "/v1/services/{slug}/problems", tag = "queries", params(("slug" = String, Path), ("window" = Option<String>, Query, description = "15m to 90d, default 1h"), ("step" = Option<String>, Query, description = "1m, 5m, 15m or 1h: adds a series"), ("tz" = Option<String>, Query)), responses((status = 200, body = BreakdownBody), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn problems(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<BreakdownQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    breakdown(&req, &state, &path, query.into_inner(), Dimension::Problem).await
}

/// Where reports come from, over a window and per step.
#[utoipa::path(get, path = "/v1/services/{slug}/countries", tag = "queries", params(("slug" = String, Path), ("window" = Option<String>, Query, description = "15m to 90d, default 1h"), ("step" = Option<String>, Query, description = "1m, 5m, 15m or 1h: adds a series"), ("tz" = Option<String>, Query)), responses((status = 200, body = BreakdownBody), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn countries(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<BreakdownQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    breakdown(&req, &state, &path, query.into_inner(), Dimension::Country).await
}

/// Parses the request and answers it through the read cache, keyed by what was asked: a
/// 90-day breakdown per hour reads every bin of the range, and is as heavy as a curve.
async fn breakdown(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    query: BreakdownQuery,
    dimension: Dimension,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(slug)?;
    let mut errors = FieldErrors::default();
    let window = errors
        .optional("window", query.window, |w| parse_window(&w))
        .unwrap_or(60);
    let step = errors.optional("step", query.step, |s| Step::parse(&s));
    let zone = errors
        .optional("tz", query.tz, |z| parse_zone(&z))
        .unwrap_or(Tz::UTC);
    errors.finish().map_err(ApiError::Invalid)?;
    let request = BreakdownRequest {
        dimension,
        window,
        step,
    };
    let key = format!("breakdown|{slug}|{request:?}|{zone:?}");
    state
        .read_cache
        .respond(req, key, || render(state, slug, request, zone))
        .await
}

async fn render(
    state: &AppState,
    slug: crate::domain::ServiceSlug,
    request: BreakdownRequest,
    zone: Tz,
) -> Result<Rendered, ApiError> {
    let BreakdownRequest {
        dimension,
        window,
        step,
    } = request;
    let found = load(&state.reads, &slug, request).await?;
    // UTC (and any zero offset) as `Z`, like every other time in the API.
    let stamp = |minute: i64| {
        minute_start(minute)
            .with_timezone(&zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let body = BreakdownBody {
        service: found.service.slug,
        window_minutes: window,
        from: stamp(found.from),
        to: stamp(found.to),
        total: found.totals.values().sum(),
        problems: (dimension == Dimension::Problem)
            .then(|| shares::problems(&found.totals, usize::MAX)),
        countries: (dimension == Dimension::Country)
            .then(|| shares::countries(&found.totals, usize::MAX)),
        step: step.map(Step::label),
        series: found.series.map(|series| {
            series
                .into_iter()
                .map(|(minute, counts)| SeriesPoint {
                    t: stamp(minute),
                    counts,
                })
                .collect()
        }),
    };
    Ok(Rendered::json(&body, "public, max-age=15"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_within_bounds() {
        assert_eq!(parse_window("15m").unwrap(), 15);
        assert_eq!(parse_window("7d").unwrap(), 7 * 1440);
        for bad in ["", "5m", "91d", "1w", "1é", "99999999999999999d"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
