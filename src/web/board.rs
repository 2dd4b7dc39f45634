//! `GET /`: the board. Services with problems first (level, reports against the usual volume,
//! since when), then every service in a searchable, filterable grid with a sparkline of the
//! last day. The filter works as a plain form without JavaScript and instantly with it.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{self, Head, TimeFormat, badge, category_label, sentence, time};
use super::{Framing, PageError, View, html as respond, spark};
use crate::detect::Level;
use crate::domain::ServiceSlug;
use crate::http::AppState;
use crate::query::headline::status_pieces;
use crate::query::sparks;
use crate::query::status::{ServiceView, Statuses, problems_first, with_status};

#[derive(Deserialize)]
pub struct BoardQuery {
    q: Option<String>,
    category: Option<String>,
    level: Option<String>,
    tz: Option<String>,
}

/// The grid's filter, as the form sent it.
struct Filter {
    q: String,
    category: String,
    level: String,
}

impl Filter {
    fn matches(&self, view: &ServiceView) -> bool {
        let service = view.service();
        let q = self.q.trim().to_lowercase();
        (q.is_empty() || service.name.to_lowercase().contains(&q) || service.slug.contains(&q))
            && (self.category.is_empty() || service.category == self.category)
            && match self.level.as_str() {
                "problems" => view.level() != Level::Normal,
                "" => true,
                level => view.level().as_str() == level,
            }
    }
}

pub async fn page(
    query: web::Query<BoardQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let view = View::new(&state, query.tz.as_deref());
    let services = state.reads.catalog.services(false);
    let views = with_status(&state.reads, services, Statuses::BestEffort).await?;
    let slugs: Vec<(Uuid, ServiceSlug)> = views
        .iter()
        .filter_map(|v| Some((v.service().id, ServiceSlug::parse(&v.service().slug).ok()?)))
        .collect();
    let sparks = sparks::last_day(&state.reads, &slugs).await?;
    let filter = Filter {
        q: query.q.unwrap_or_default(),
        category: query.category.unwrap_or_default(),
        level: query.level.unwrap_or_default(),
    };
    let problems = problems_first(&views);
    let head = Head {
        title: "Is it down? Live status from user reports",
        description: "Which online services people have trouble with right now, from their own reports, updated live.",
        live: true,
        feed: Some("/feeds/incidents.atom"),
    };
    let main = html! {
        h1 { "Is it down right now?" }
        p.lead {
            "Live status of " (views.len()) " services from people's own problem reports. "
            "This page updates by itself."
        }
        (problem_section(&problems, &view))
        (grid_section(&views, &sparks, &filter))
    };
    Ok(respond(
        StatusCode::OK,
        layout::page(&view, &head, main),
        Framing::Deny,
    ))
}

fn problem_section(problems: &[&ServiceView], view: &View) -> Markup {
    html! {
        section #problems .problems data-live-region aria-labelledby="problems-title" {
            div.section-head {
                h2 #problems-title { "Problems right now" }
                p.updated { "As of " (time(view.now, view, TimeFormat::Clock)) }
            }
            @if problems.is_empty() {
                p.calm { "No service has an unusual number of problem reports right now." }
            } @else {
                ul.problem-list {
                    @for v in problems {
                        @let service = v.service();
                        li class={ "problem lvl-" (v.level().as_str()) } data-slug=(service.slug) data-level=(v.level().as_str()) {
                            div.problem-head {
                                a href={ "/s/" (service.slug) } { (service.name) }
                                (badge(v.level()))
                            }
                            p { (sentence(&status_pieces(&service.name, v.level(), v.status().and_then(|s| s.since)), view)) "." }
                            @if let Some(status) = v.status() {
                                p.numbers {
                                    strong { (crate::query::headline::thousands(status.reports_15m)) }
                                    " reports in the last 15 minutes, usually about "
                                    (crate::domain::whole(status.baseline_15m)) "."
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn grid_section(
    views: &[ServiceView],
    sparks: &HashMap<Uuid, Vec<f64>>,
    filter: &Filter,
) -> Markup {
    let categories: BTreeSet<&str> = views
        .iter()
        .map(|v| v.service().category.as_str())
        .collect();
    let shown = views.iter().filter(|v| filter.matches(v)).count();
    html! {
        section.all aria-labelledby="all-title" {
            h2 #all-title { "All services" }
            form #filter .filter method="get" action="/" role="search" {
                div.field {
                    label for="q" { "Search" }
                    input #q type="search" name="q" value=(filter.q) placeholder="Service name" autocomplete="off";
                }
                div.field {
                    label for="category" { "Category" }
                    select #category name="category" {
                        option value="" { "All categories" }
                        @for c in &categories {
                            option value=(c) selected[filter.category == *c] { (category_label(c)) }
                        }
                    }
                }
                div.field {
                    label for="level" { "Status" }
                    select #level name="level" {
                        @for (value, label) in [("", "Any status"), ("problems", "With problems"), ("outage", "Outage"), ("elevated", "Problems"), ("normal", "No problems")] {
                            option value=(value) selected[filter.level == value] { (label) }
                        }
                    }
                }
                button.secondary type="submit" { "Filter" }
            }
            p #grid-count .count aria-live="polite" { (shown) " of " (views.len()) " services" }
            ul #grid .grid data-live-region {
                @for v in views {
                    (card(v, sparks.get(&v.service().id).map(Vec::as_slice).unwrap_or(&[]), !filter.matches(v)))
                }
            }
        }
    }
}

fn card(v: &ServiceView, spark: &[f64], hidden: bool) -> Markup {
    let service = v.service();
    let level = v.level();
    let last_hour: f64 = spark.iter().rev().take(4).sum();
    let label = format!(
        "{}: reports per 15 minutes over the last 24 hours, {} in the last hour",
        service.name,
        crate::domain::whole(last_hour)
    );
    html! {
        li class={ "card lvl-" (level.as_str()) } hidden[hidden]
            data-slug=(service.slug) data-level=(level.as_str()) data-category=(service.category)
            data-search={ (service.name.to_lowercase()) " " (service.slug) } {
            a.card-link href={ "/s/" (service.slug) } { (service.name) }
            (spark::svg(spark, &label))
            div.card-foot {
                span.card-meta { (category_label(&service.category)) }
                (badge(level))
            }
        }
    }
}
