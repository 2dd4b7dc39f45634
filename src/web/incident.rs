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
use crate::db::incidents::ServiceRef;
use crate::domain::{Counts, Incident, Update};
use crate::http::AppState;
use crate::query::curve::incident_range;
use crate::query::headline::incident_headline;
use crate::query::headline::{evidence_sentence, headline_pieces, incident_facts, thousands};
use crate::query::incidents::{self, IncidentDetail};
use crate::query::{QueryError, Reads};

#[derive(Deserialize)]
pub struct IncidentQuery {
    tz: Option<String>,
}

/// The incident `raw` names (a 404 page for one that does not exist), as `load` gives it.
async fn lookup<T>(
    state: &AppState,
    raw: &str,
    load: impl AsyncFnOnce(&Reads, Uuid) -> Result<T, QueryError>,
) -> Result<T, PageError> {
    let missing = || {
        not_found(format!(
            "There is no incident \"{raw}\". Incidents are listed on each service's page."
        ))
    };
    let id = Uuid::parse_str(raw).map_err(|_| missing())?;
    match load(&state.reads, id).await {
        Err(QueryError::NotFound(_)) => Err(missing()),
        other => Ok(other?),
    }
}

/// The incident with `id` and its service, or a 404 page.
pub async fn find(state: &AppState, raw: &str) -> Result<(Incident, ServiceRef), PageError> {
    lookup(state, raw, incidents::find).await
}

/// The headline with its times marked up.
pub fn headline(incident: &Incident, service_name: &str, view: &View) -> Markup {
    layout::sentence(
        &headline_pieces(&incident_facts(incident, service_name)),
        view,
    )
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
        Some(end) => format!("Resolved, lasted {}", duration(incident.began_at, end)),
        None => format!("Ongoing for {}", duration(incident.began_at, view.now)),
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
                (badge(incident.highest_level))
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
    let level = layout::level_label(update.level).to_lowercase();
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
                li class={ "lvl-" (update.level.as_str()) } {
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

fn counts_list(counts: &Counts, label: fn(&str) -> String) -> Markup {
    let ranked = crate::query::ranked(counts.iter().map(|(k, c)| (k.as_str(), *c)), 5);
    html! {
        @if ranked.is_empty() {
            p { "None recorded." }
        } @else {
            ol.shares {
                @for (key, count, share) in &ranked {
                    li {
                        span.share-label { (label(key)) }
                        span.share-value { (layout::percent(*share)) " · " (thousands(*count)) }
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
    let IncidentDetail {
        incident,
        service,
        timeline,
        related,
    } = lookup(&state, &path, incidents::detail).await?;
    // How pages name the provider (`OpenAI`), from the catalog in memory.
    let provider_name = state
        .reads
        .catalog
        .get(&service.slug)
        .and_then(|entry| entry.service.provider_name.clone());
    let (from, to, step) = incident_range(&incident, view.now);
    let zone = view.zone.name();
    let id = incident.id;
    let plain = incident_headline(&incident, &service.name, view.zone);
    let feed = format!("/feeds/services/{}.atom", service.slug);
    let head = Head {
        title: &plain,
        description: &plain,
        live: incident.ended_at.is_none(),
        feed: Some(&feed),
    };
    let csv = format!(
        "/v1/services/{}/curve.csv?from={}&to={}&step={}&tz={zone}",
        service.slug,
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ"),
        step.label(),
    );
    // While it lasts, the chart changes every minute: a new address for each.
    let chart = match incident.ended_at {
        Some(_) => format!("/v1/incidents/{id}/chart.svg?tz={zone}"),
        None => format!(
            "/v1/incidents/{id}/chart.svg?tz={zone}&v={}",
            crate::time::minute_of(view.now)
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
                (badge(incident.highest_level))
                span.state { (state_words(&incident, &view)) }
            }
            dl.facts {
                div { dt { "Began" } dd { (time(incident.began_at, &view, TimeFormat::DateTime)) } }
                div { dt { "Detected" } dd { (time(incident.started_at, &view, TimeFormat::DateTime)) } }
                div { dt { "Peak (15 minutes)" } dd { (thousands(i64::from(incident.peak_bin_count))) " reports, usually " (format!("{:.0}", incident.baseline_at_peak)) } }
                div { dt { "Reports in total" } dd { (thousands(incident.total_reports)) } }
                @if let Some(end) = incident.ended_at {
                    div { dt { "Back to normal" } dd { (time(end, &view, TimeFormat::DateTime)) } }
                }
            }
            @if let Some(evidence) = &incident.evidence {
                p.evidence { (evidence_sentence(evidence)) }
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
                h2 #related-title {
                    @match &provider_name {
                        Some(provider) => { "Other " (provider) " services at the same time" }
                        None => { "Other services of the same provider at the same time" }
                    }
                }
                ul.related {
                    @for (other, other_service) in &related {
                        li {
                            (badge(other.highest_level))
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
