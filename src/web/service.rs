//! `GET /s/{slug}`: one service. Its status in plain words, the day's chart, what people report
//! and from where, its incidents with their timelines, and the "I have a problem" button.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::incident::{incident_item, share_bar};
use super::layout::{self, Head, badge, category_label, country_label, problem_label, sentence};
use super::report::{Outcome, report_section};
use super::{Framing, PageError, View, html as respond, not_found};
use crate::domain::ServiceSlug;
use crate::http::AppState;
use crate::query::breakdown::top_totals;
use crate::query::headline::{status_pieces, thousands};
use crate::query::status::{ServiceView, service_view};
use crate::query::{QueryError, incidents};
use crate::time::minute_of;

/// Incidents the page lists.
const HISTORY: i64 = 5;

#[derive(Deserialize)]
pub struct ServiceQuery {
    tz: Option<String>,
    /// Outcome of a report sent without JavaScript (`counted`, `duplicate`, `limited`, `failed`).
    report: Option<String>,
    /// Seconds to wait, with `report=limited` (anything else is ignored).
    retry: Option<String>,
}

/// The service with `slug` as a page sees it, or a 404 page.
pub async fn find(state: &AppState, raw: &str) -> Result<(ServiceSlug, ServiceView), PageError> {
    let missing = || {
        not_found(format!(
            "We do not watch a service called \"{raw}\". The board lists every service we watch."
        ))
    };
    let slug = ServiceSlug::parse(raw).map_err(|_| missing())?;
    match service_view(&state.reads, &slug).await {
        Err(QueryError::NotFound(_)) => Err(missing()),
        other => Ok((slug, other?)),
    }
}

pub async fn page(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ServiceQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let view = View::new(&state, query.tz.as_deref());
    let (slug, sv) = find(&state, &path).await?;
    let service = sv.service();
    let now = minute_of(view.now);
    let last_hour: u64 = state
        .reads
        .windows
        .minutes(&slug, now - 59, now + 1)
        .await?
        .iter()
        .map(|b| b.total)
        .sum();
    let top = top_totals(&state.reads, &slug, service.id, now + 1 - 1440, now + 1).await?;
    let history = incidents::history(&state.reads, &service.slug, HISTORY).await?;
    let outcome = query
        .report
        .as_deref()
        .and_then(|r| Outcome::from_query(r, query.retry.as_deref().and_then(|s| s.parse().ok())));
    let origin = super::origin::public_origin(&req, &state);
    let pieces = status_pieces(&service.name, sv.level(), sv.status().and_then(|s| s.since));
    let description = format!("{}.", crate::query::headline::join(&pieces, view.zone));
    let title = format!("Is {} down? Live status and problem reports", service.name);
    let feed = format!("/feeds/services/{}.atom", service.slug);
    let head = Head {
        title: &title,
        description: &description,
        live: true,
        feed: Some(&feed),
    };
    let main = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/" { "All services" } " › "
            a href={ "/?category=" (service.category) } { (category_label(&service.category)) }
        }
        div.service-head {
            h1 { (service.name) }
            (badge(sv.level()))
        }
        @if let Some(page) = &service.status_page {
            p.official {
                "Official status: "
                a href=(page) rel="noopener external" { (page_label(page)) }
            }
        }
        (status_section(&sv, last_hour, &view))
        (report_section(service, outcome.as_ref()))
        (chart_section(&service.slug, &service.name, &origin, &view))
        div.columns {
            (breakdown_section("Most reported problems", "problems", &top[0], problem_label))
            (breakdown_section("Where reports come from", "countries", &top[1], country_label))
        }
        section #incidents .history data-live-region aria-labelledby="history-title" {
            h2 #history-title { "Incident history" }
            @if history.is_empty() {
                p { "No incidents recorded for " (service.name) "." }
            } @else {
                ol.incidents {
                    @for (incident, timeline) in &history {
                        (incident_item(incident, &service.name, timeline, &view))
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout::page(&view, &head, main),
        Framing::Deny,
    ))
}

/// `https://status.openai.com/` → `status.openai.com`: the address as people say it.
fn page_label(url: &str) -> &str {
    let bare = url.strip_prefix("https://").unwrap_or(url);
    bare.strip_suffix('/').unwrap_or(bare)
}

fn status_section(sv: &ServiceView, last_hour: u64, view: &View) -> Markup {
    let service = sv.service();
    html! {
        section #status .status data-live-region aria-label="Status" {
            p class={ "statement lvl-" (sv.level().as_str()) } {
                (sentence(&status_pieces(&service.name, sv.level(), sv.status().and_then(|s| s.since)), view)) "."
            }
            dl.facts {
                div {
                    dt { "Reports in the last hour" }
                    dd #recent-count { (thousands(last_hour)) }
                }
                @if let Some(status) = sv.status() {
                    div {
                        dt { "Last 15 minutes" }
                        dd { (thousands(status.reports_15m)) }
                    }
                    div {
                        dt { "Usual for this time" }
                        dd { "about " (thousands(crate::domain::whole(status.baseline_15m))) " per 15 minutes" }
                    }
                    @if let Some(id) = status.incident_id {
                        div {
                            dt { "Open incident" }
                            dd { a href={ "/incidents/" (id) } { "Details and timeline" } }
                        }
                    }
                }
            }
        }
    }
}

fn chart_section(slug: &str, name: &str, origin: &str, view: &View) -> Markup {
    let zone = view.zone.name();
    let stamp = minute_of(view.now);
    // The snippet is HTML that people paste into their own pages: rendered (and so escaped)
    // like any markup, then shown as text.
    let embed = html! {
        iframe src={ (origin) "/embed/" (slug) } title={ (name) ": user-reported problems (downwatch)" }
            width="640" height="360" loading="lazy" {}
    }
    .into_string();
    html! {
        section #chart .chart data-live-region aria-labelledby="chart-title" {
            h2 #chart-title { "Reports over the last 24 hours" }
            figure {
                img src={ "/v1/services/" (slug) "/chart.svg?range=24h&tz=" (zone) "&v=" (stamp) } data-tz-src
                    width="960" height="480"
                    alt={ "Chart of problem reports for " (name) " per 15 minutes over the last 24 hours, with the usual volume as a dashed line and band, and incidents shaded." };
            }
            p.downloads {
                a href={ "/v1/services/" (slug) "/curve.csv?tz=" (zone) } data-tz-href download { "CSV" }
                a href={ "/v1/services/" (slug) "/chart.svg?range=24h&tz=" (zone) } data-tz-href { "SVG chart" }
                a href={ "/v1/services/" (slug) "/curve?tz=" (zone) } data-tz-href { "JSON" }
            }
            details.embed {
                summary { "Embed this chart" }
                p { "Paste this into an article; the chart keeps itself up to date and links back here." }
                pre { code { (embed) } }
            }
        }
    }
}

fn breakdown_section(
    title: &str,
    id: &str,
    counts: &std::collections::BTreeMap<String, u64>,
    label: fn(&str) -> String,
) -> Markup {
    let ranked = crate::query::ranked(counts.iter().map(|(k, c)| (k.as_str(), *c)), 5);
    html! {
        section.breakdown data-live-region id=(id) aria-labelledby={ (id) "-title" } {
            h2 id={ (id) "-title" } { (title) }
            p.note { "Last 24 hours" }
            @if ranked.is_empty() {
                p { "No reports in the last 24 hours." }
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
}
