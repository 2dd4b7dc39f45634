//! `GET /v1/services/{slug}/problems` and `.../countries`: what people report, over a window
//! and per step, so "voice mode is still failing after the rest recovered" can be seen.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::services::{find_or_404, slug_param};
use crate::curve::Step;
use crate::db::bins;
use crate::domain::ServiceSlug;
use crate::error::{ApiError, FieldErrors};
use crate::headline::parse_zone;
use crate::windows::keys::{BIN_MINUTES, align_down, align_up, minute_of, minute_start};

/// Most points a breakdown series may have.
const MAX_POINTS: i64 = 3_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/services/{slug}/problems").get(problems))
        .service(super::resource("/v1/services/{slug}/countries").get(countries));
}

#[derive(Deserialize)]
struct BreakdownQuery {
    window: Option<String>,
    step: Option<String>,
    tz: Option<String>,
}

/// `15m`, `1h`, `24h`, `7d` → minutes, from 15 minutes to 90 days.
pub fn parse_window(raw: &str) -> Result<i64, String> {
    super::parse_duration(raw, 15, 90 * 1440, "15m, 1h or 7d")
}

#[utoipa::path(get, path = "/v1/services/{slug}/problems", tag = "queries", params(("slug" = String, Path), ("window" = Option<String>, Query, description = "15m to 90d, default 1h"), ("step" = Option<String>, Query, description = "1m, 5m, 15m or 1h: adds a series"), ("tz" = Option<String>, Query)), responses((status = 200, description = "Counts and shares over the window, and per step", body = Object), (status = 400, body = super::docs::Problem, content_type = "application/problem+json"), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn problems(
    path: web::Path<String>,
    query: web::Query<BreakdownQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    breakdown(&state, &path, query.into_inner(), Dimension::Problem).await
}

#[utoipa::path(get, path = "/v1/services/{slug}/countries", tag = "queries", params(("slug" = String, Path), ("window" = Option<String>, Query, description = "15m to 90d, default 1h"), ("step" = Option<String>, Query, description = "1m, 5m, 15m or 1h: adds a series"), ("tz" = Option<String>, Query)), responses((status = 200, description = "Counts and shares over the window, and per step", body = Object), (status = 400, body = super::docs::Problem, content_type = "application/problem+json"), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn countries(
    path: web::Path<String>,
    query: web::Query<BreakdownQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    breakdown(&state, &path, query.into_inner(), Dimension::Country).await
}

/// What a breakdown counts.
#[derive(Clone, Copy)]
pub enum Dimension {
    /// Problem kinds.
    Problem,
    /// Countries.
    Country,
}

impl Dimension {
    fn name(self) -> &'static str {
        match self {
            Self::Problem => "problem",
            Self::Country => "country",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Self::Problem => "problems",
            Self::Country => "countries",
        }
    }
}

async fn breakdown(
    state: &AppState,
    slug: &str,
    query: BreakdownQuery,
    dimension: Dimension,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(slug)?;
    let service = find_or_404(state, &slug)?;
    let mut errors = FieldErrors::default();
    let window = errors
        .optional("window", query.window, |w| parse_window(&w))
        .unwrap_or(60);
    let step = errors.optional("step", query.step, |s| Step::parse(&s));
    let zone = errors
        .optional("tz", query.tz, |z| parse_zone(&z))
        .unwrap_or(Tz::UTC);
    errors.finish().map_err(ApiError::Invalid)?;

    let now_minute = minute_of(state.clock.now());
    let to = now_minute + 1;
    let from = to - window;
    let per_minute = per_minute(state, &slug, service.id, from, to, dimension).await?;
    let totals = totals(&per_minute);
    let total: u64 = totals.values().sum();
    let shares = super::shares(
        totals.iter().map(|(k, c)| (k.as_str(), *c)),
        dimension.name(),
        usize::MAX,
    );
    let mut body = json!({
        "service": service.slug,
        "window_minutes": window,
        "from": minute_start(from).with_timezone(&zone).to_rfc3339(),
        "to": minute_start(to).with_timezone(&zone).to_rfc3339(),
        "total": total,
        dimension.plural(): shares,
    });
    if let Some(step) = step {
        let size = step.minutes();
        if window / size > MAX_POINTS {
            return Err(ApiError::field(
                "step",
                format!(
                    "gives more than {MAX_POINTS} points for this window; use a larger step or a shorter window"
                ),
            ));
        }
        let first = align_down(from, size);
        let mut series: BTreeMap<i64, BTreeMap<String, u64>> = (0..)
            .map(|i| first + i * size)
            .take_while(|m| *m < to)
            .map(|m| (m, BTreeMap::new()))
            .collect();
        for (minute, counts) in &per_minute {
            let slot = series.entry(align_down(*minute, size)).or_default();
            for (key, count) in counts {
                *slot.entry(key.clone()).or_default() += count;
            }
        }
        body["step"] = json!(step.label());
        body["series"] = series
            .into_iter()
            .map(|(m, counts)| json!({ "t": minute_start(m).with_timezone(&zone).to_rfc3339(), "counts": counts }))
            .collect();
    }
    Ok(HttpResponse::Ok().json(body))
}

/// Counts of one dimension per minute in `[from, to)` (minute numbers), oldest first: older
/// bins from PostgreSQL (at their start minute), recent minutes from Redis, joined at a bin
/// boundary. Minutes without reports are left out.
pub async fn per_minute(
    state: &AppState,
    slug: &ServiceSlug,
    service_id: uuid::Uuid,
    from: i64,
    to: i64,
    dimension: Dimension,
) -> Result<Vec<(i64, BTreeMap<String, u64>)>, ApiError> {
    let now_minute = minute_of(state.clock.now());
    let retention = (state.retention.as_secs() / 60) as i64;
    let redis_from = (now_minute - retention).max(from);
    let seam = align_up(redis_from, BIN_MINUTES);
    let seam = if from >= now_minute - retention {
        from
    } else {
        seam
    };
    let mut per_minute: Vec<(i64, BTreeMap<String, u64>)> = Vec::new();
    if seam > from {
        let stored = bins::breakdowns(
            &state.db,
            service_id,
            dimension.name(),
            minute_start(from),
            minute_start(seam),
        )
        .await?;
        for (bin, key, count) in stored {
            let minute = minute_of(bin);
            match per_minute.last_mut() {
                Some((m, counts)) if *m == minute => {
                    *counts.entry(key).or_default() += count.max(0) as u64
                }
                _ => per_minute.push((minute, BTreeMap::from([(key, count.max(0) as u64)]))),
            }
        }
    }
    for bucket in state.windows.minutes(slug, seam, to).await? {
        let counts = match dimension {
            Dimension::Problem => bucket.problems,
            Dimension::Country => bucket.countries,
        };
        if !counts.is_empty() {
            per_minute.push((minute_of(bucket.t), counts));
        }
    }

    Ok(per_minute)
}

/// Sums per-minute counts over the whole window.
pub fn totals(per_minute: &[(i64, BTreeMap<String, u64>)]) -> BTreeMap<String, u64> {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (_, counts) in per_minute {
        for (key, count) in counts {
            *totals.entry(key.clone()).or_default() += count;
        }
    }
    totals
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
