//! `GET /incidents/{id}`: an incident a journalist can cite. The headline, the chart, the
//! timeline, what was reported and from where, related incidents of the same provider, and
//! links to the CSV and SVG behind the chart.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{self, Head, TimeFormat, badge, country_label, problem_label, time};
use super::{Framing, PageError, View, html as respond, not_found};
use crate::api::AppState;
use crate::api::charts::incident_range;
use crate::db::incidents::{self as queries, Incident, ServiceRef, Update};
use crate::detect::Level;
use crate::headline::{HeadlineFacts, headline_pieces, thousands};

#[derive(Deserialize)]
pub struct IncidentQuery {
    tz: Option<String>,
}

/// The incident with `id` and its service, or a 404 page.
pub async fn find(state: &AppState, raw: &str) -> Result<(Incident, ServiceRef), PageError> {
    let missing = || {
        not_found(format!(
            "There is no incident \"{raw}\". Incidents are listed on each service's page."
        ))
    };
    let id = Uuid::parse_str(raw).map_err(|_| missing())?;
    queries::find(&state.db, id).await?.ok_or_else(missing)
}

/// The headline with its times marked up.
pub fn headline(incident: &Incident, service_name: &str, view: &View) -> Markup {
    let facts = HeadlineFacts {
        service: service_name,
        started_at: incident.started_at,
        peak_bin_at: incident.peak_bin_at,
        peak_bin_count: i64::from(incident.peak_bin_count),
        ended_at: incident.ended_at,
    };
    layout::sentence(&headline_pieces(&facts), view)
}

fn level_of(raw: &str) -> Level {
    raw.parse().unwrap_or(Level::Normal)
}

/// `45 min`, `5 h 31 min`, `2 d 3 h`.
fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes().max(0);
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 2 * 1440 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} d {} h", m / 1440, m % 1440 / 60),
    }
}

/// "Open for 2 h 5 min" or "Lasted 5 h 31 min".
fn state_words(incident: &Incident, view: &View) -> String {
    match incident.ended_at {
        Some(end) => format!("Resolved, lasted {}", duration(incident.started_at, end)),
        None => format!("Ongoing for {}", duration(incident.started_at, view.now)),
    }
}

/// One entry of a service page's incident history.
pub fn incident_item(
    incident: &Incident,
    service_name: &str,
    timeline: &[Update],
    view: &View,
) -> Markup {
    html! {
        li.incident {
            div.incident-head {
                (badge(level_of(&incident.highest_level)))
                span.state { (state_words(incident, view)) }
            }
            p { a href={ "/incidents/" (incident.id) } { (headline(incident, service_name, view)) } }
            @if !timeline.is_empty() {
                details {
                    summary { "Timeline" }
                    (timeline_list(timeline, view))
                }
            }
        }
    }
}

fn event_words(update: &Update) -> String {
    let level = layout::level_label(level_of(&update.level)).to_lowercase();
    match update.kind.as_str() {
        "opened" => format!("Incident opened: {level}"),
        "escalated" => format!("Escalated to {level}"),
        "deescalated" => format!("Eased to {level}"),
        "resolved" => "Back to normal".to_owned(),
        other => other.to_owned(),
    }
}

fn timeline_list(timeline: &[Update], view: &View) -> Markup {
    html! {
        ol.timeline {
            @for update in timeline {
                li class={ "lvl-" (level_of(&update.level).as_str()) } {
                    (time(update.at, view, TimeFormat::DateTime))
                    span.event { (event_words(update)) }
                    span.numbers { (thousands(i64::from(update.reports))) " reports that minute, usually " (format!("{:.0}", update.baseline)) }
                }
            }
        }
    }
}

/// A share as a small bar (SVG, since the policy allows no inline styles).
pub fn share_bar(share: f64) -> Markup {
    let width = format!("{:.1}", (share * 100.0).clamp(0.0, 100.0));
    html! {
        svg.bar xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true" focusable="false" {
            rect.bar-track width="100" height="6" {}
            rect.bar-fill width=(width) height="6" {}
        }
    }
}

fn counts_list(counts: &serde_json::Value, label: fn(&str) -> String) -> Markup {
    let pairs: Vec<(&str, u64)> = counts
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let ranked = crate::api::ranked(pairs, 5);
    html! {
        @if ranked.is_empty() {
            p { "None recorded." }
        } @else {
            ol.shares {
                @for (key, count, share) in &ranked {
                    li {
                        span.share-label { (label(key)) }
                        span.share-value { (layout::percent(*share)) " · " (thousands(*count as i64)) }
                        (share_bar(*share))
                    }
                }
            }
        }
    }
}

pub async fn page(
    path: web::Path<String>,
    query: web::Query<IncidentQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let view = View::new(&state, query.tz.as_deref());
    let (incident, service) = find(&state, &path).await?;
    let timeline = queries::timeline(&state.db, incident.id).await?;
    let related = queries::overlapping(
        &state.db,
        &service.provider,
        incident.service_id,
        incident.started_at,
        incident.ended_at,
    )
    .await?;
    let (from, to, step) = incident_range(&incident, view.now);
    let zone = view.zone.name();
    let id = incident.id;
    let plain = crate::api::incidents::incident_headline(&incident, &service, view.zone);
    let head = Head {
        title: &plain,
        description: &plain,
        live: incident.ended_at.is_none(),
    };
    let csv = format!(
        "/v1/services/{}/curve.csv?from={}&to={}&step={step}&tz={zone}",
        service.slug,
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ"),
    );
    // While it lasts, the chart changes every minute: a new address for each.
    let chart = match incident.ended_at {
        Some(_) => format!("/v1/incidents/{id}/chart.svg?tz={zone}"),
        None => format!(
            "/v1/incidents/{id}/chart.svg?tz={zone}&v={}",
            crate::windows::keys::minute_of(view.now)
        ),
    };
    let main = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/" { "All services" } " › "
            a href={ "/s/" (service.slug) } { (service.name) }
        }
        div #summary data-live-region {
            h1.headline { (headline(&incident, &service.name, &view)) }
            div.incident-head {
                (badge(level_of(&incident.highest_level)))
                span.state { (state_words(&incident, &view)) }
            }
            dl.facts {
                div { dt { "Started" } dd { (time(incident.started_at, &view, TimeFormat::DateTime)) } }
                div { dt { "Peak (15 minutes)" } dd { (thousands(i64::from(incident.peak_bin_count))) " reports, usually " (format!("{:.0}", incident.baseline_at_peak)) } }
                div { dt { "Reports in total" } dd { (thousands(incident.total_reports)) } }
                @if let Some(end) = incident.ended_at {
                    div { dt { "Back to normal" } dd { (time(end, &view, TimeFormat::DateTime)) } }
                }
            }
        }
        section #incident-chart .chart data-live-region aria-labelledby="chart-title" {
            h2 #chart-title { "Reports around the incident" }
            figure {
                img src=(chart) data-tz-src width="960" height="480"
                    alt={ "Chart of problem reports for " (service.name) " from two hours before the incident to two hours after it, the incident shaded." };
            }
            p.downloads {
                a href=(csv) data-tz-href download { "CSV" }
                a href={ "/v1/incidents/" (id) "/chart.svg?tz=" (zone) } data-tz-href { "SVG chart" }
                a href={ "/v1/incidents/" (id) "?tz=" (zone) } data-tz-href { "JSON" }
                a href={ "/embed/incident/" (id) } { "Embeddable chart" }
            }
        }
        section #timeline .timeline-section data-live-region aria-labelledby="timeline-title" {
            h2 #timeline-title { "Timeline" }
            (timeline_list(&timeline, &view))
        }
        div.columns {
            section.breakdown aria-labelledby="problems-title" {
                h2 #problems-title { "Most reported problems" }
                (counts_list(&incident.problem_counts, problem_label))
            }
            section.breakdown aria-labelledby="countries-title" {
                h2 #countries-title { "Where reports came from" }
                (counts_list(&incident.country_counts, country_label))
            }
        }
        @if !related.is_empty() {
            section aria-labelledby="related-title" {
                h2 #related-title { "Other " (service.provider) " services at the same time" }
                ul.related {
                    @for (other, other_service) in &related {
                        li {
                            (badge(level_of(&other.highest_level)))
                            a href={ "/incidents/" (other.id) } { (headline(other, &other_service.name, &view)) }
                        }
                    }
                }
            }
        }
        section.cite aria-labelledby="cite-title" {
            h2 #cite-title { "Cite this incident" }
            p {
                "Source: downwatch, crowd-sourced user reports. Counts are reports from people, "
                "not confirmed by " (service.name) "."
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout::page(&view, &head, main),
        Framing::Deny,
    ))
}
