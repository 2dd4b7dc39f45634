//! Sparklines for the board: every service's reports per 15 minutes over the last day, read
//! for all services at once (one PostgreSQL query for the rolled-up bins, pipelined Redis reads
//! for the minutes after them) and drawn as a tiny inline SVG.
//!
//! Redis is read for at most the last six hours: when rollups lag further behind (no monitor
//! has run), the sparkline shows only those hours rather than make the board slow.

use std::collections::HashMap;
use std::fmt::Write;

use maud::{Markup, PreEscaped, html};
use uuid::Uuid;

use crate::api::AppState;
use crate::curve::{Counts, Step};
use crate::db::bins;
use crate::domain::ServiceSlug;
use crate::error::ApiError;
use crate::windows::keys::{BIN_MINUTES, align_down, align_up, minute_of, minute_start};

/// Minutes a sparkline covers.
const SPAN_MINUTES: i64 = 24 * 60;
/// Most recent minutes read from Redis per service.
const REDIS_MINUTES: i64 = 6 * 60;

/// Reports per 15 minutes over the last day, oldest first, for each service.
pub async fn last_day(
    state: &AppState,
    services: &[(Uuid, ServiceSlug)],
) -> Result<HashMap<Uuid, Vec<f64>>, ApiError> {
    let now = minute_of(state.clock.now());
    let to = align_up(now + 1, BIN_MINUTES);
    let from = to - SPAN_MINUTES;
    let complete = bins::complete_before(&state.db).await?.map(minute_of);
    let earliest = align_down(now - REDIS_MINUTES, BIN_MINUTES).max(from);
    let seam = complete
        .map_or(earliest, |c| align_down(c, BIN_MINUTES))
        .clamp(earliest, align_down(now, BIN_MINUTES));
    let elapsed = now + 1 - align_down(now, BIN_MINUTES);
    let ids: Vec<Uuid> = services.iter().map(|(id, _)| *id).collect();
    let mut stored: HashMap<Uuid, Vec<(i64, f64)>> = HashMap::new();
    for (id, start, total) in
        bins::totals_many(&state.db, &ids, minute_start(from), minute_start(seam)).await?
    {
        stored
            .entry(id)
            .or_default()
            .push((minute_of(start), f64::from(total)));
    }
    let ranges: Vec<(ServiceSlug, i64, i64)> = services
        .iter()
        .map(|(_, slug)| (slug.clone(), seam, now + 1))
        .collect();
    let minutes = state.windows.minutes_many(&ranges).await?;
    Ok(services
        .iter()
        .zip(minutes)
        .map(|((id, _), buckets)| {
            let counts = Counts {
                bins: stored.remove(id).unwrap_or_default(),
                minutes: buckets.iter().map(|b| b.total as f64).collect(),
                seam,
            };
            let mut series: Vec<f64> = counts
                .per_step(from, to, Step::QuarterHour)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            // The quarter hour under way is drawn at its pace so far: its few minutes
            // would otherwise look like a sudden recovery.
            if let Some(last) = series.last_mut() {
                *last *= BIN_MINUTES as f64 / elapsed as f64;
            }
            (*id, series)
        })
        .collect())
}

const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 32.0;

/// The sparkline: a line with the area under it, scaled to its own peak (at least 4 reports,
/// so a quiet service stays flat instead of showing noise as a mountain range).
pub fn svg(series: &[f64], label: &str) -> Markup {
    let peak = series.iter().copied().fold(4.0, f64::max);
    let n = series.len().max(2) - 1;
    let mut line = String::new();
    for (i, v) in series.iter().enumerate() {
        let x = WIDTH * i as f64 / n as f64;
        let y = HEIGHT - 1.0 - (HEIGHT - 2.0) * v / peak;
        let _ = write!(line, "{x:.1},{y:.1} ");
    }
    let line = line.trim_end().to_owned();
    let area = format!("0,{HEIGHT} {line} {WIDTH},{HEIGHT}");
    html! {
        svg.spark xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            preserveAspectRatio="none" role="img" aria-label=(label) focusable="false" {
            polygon.spark-area points=(area) {}
            polyline.spark-line points=(PreEscaped(&line)) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_spans_the_box_and_scales_to_its_peak() {
        let svg = svg(&[0.0, 2.0, 8.0, 0.0], "label").into_string();
        assert!(svg.contains("points=\"0.0,31.0 40.0,23.5 80.0,1.0 120.0,31.0\""));
        assert!(svg.contains("aria-label=\"label\""));
        let flat = super::svg(&[1.0, 1.0], "x").into_string();
        assert!(flat.contains("0.0,23.5 120.0,23.5"), "{flat}");
    }
}
