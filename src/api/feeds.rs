//! Atom feeds (RFC 4287) of incidents, for people and newsrooms who follow outages in a feed
//! reader rather than on a page: all incidents, one service's, one provider's.
//!
//! One entry per incident, its `updated` moving with every change, so readers show it again
//! when it escalates or resolves. The XML is written by hand (a feed is a dozen elements), every
//! interpolated value through the same escaping as the SVG charts.

use std::fmt::Write as _;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::chart::escape;
use crate::db::incidents::{ListFilter, ServiceRef};
use crate::domain::{Incident, Label};
use crate::error::ApiError;
use crate::http::params::{slug_param, zone_param};
use crate::http::{AppState, resource};
use crate::query::headline::incident_headline;
use crate::query::incidents;

/// Entries per feed: the most recent incidents.
const ENTRIES: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/feeds/incidents.atom").get(all))
        .service(resource("/feeds/services/{slug}.atom").get(service))
        .service(resource("/feeds/providers/{provider}.atom").get(provider));
}

/// The feed's query: the zone of the times in entry titles.
#[derive(Deserialize)]
struct FeedQuery {
    tz: Option<String>,
}

/// Every service's incidents, newest first.
#[utoipa::path(get, path = "/feeds/incidents.atom", tag = "feeds", params(("tz" = Option<String>, Query, description = "IANA zone of the times in titles, default UTC")), responses((status = 200, description = "Atom feed", content_type = "application/atom+xml")))]
async fn all(
    req: HttpRequest,
    query: web::Query<FeedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = ListFilter::default();
    feed(
        &req,
        &state,
        query.tz.as_deref(),
        filter,
        "downwatch: all incidents",
    )
    .await
}

/// One service's incidents.
#[utoipa::path(get, path = "/feeds/services/{slug}.atom", tag = "feeds", params(("slug" = String, Path), ("tz" = Option<String>, Query)), responses((status = 200, description = "Atom feed", content_type = "application/atom+xml"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn service(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<FeedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    let entry = state.reads.catalog.get(slug.as_str()).ok_or_else(|| {
        ApiError::NotFound(format!("No service {slug}; GET /v1/services lists them."))
    })?;
    let title = format!("downwatch: {} incidents", entry.service.name);
    let filter = ListFilter {
        service: Some(slug.to_string()),
        ..ListFilter::default()
    };
    feed(&req, &state, query.tz.as_deref(), filter, &title).await
}

/// The incidents of every service of one provider.
#[utoipa::path(get, path = "/feeds/providers/{provider}.atom", tag = "feeds", params(("provider" = String, Path), ("tz" = Option<String>, Query)), responses((status = 200, description = "Atom feed", content_type = "application/atom+xml"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn provider(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<FeedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let provider = Label::parse(&path).map_err(|e| ApiError::field("provider", e))?;
    let known = state
        .reads
        .catalog
        .services(true)
        .iter()
        .any(|s| s.provider == provider.as_str());
    if !known {
        return Err(ApiError::NotFound(format!(
            "No provider {provider}; GET /v1/services lists services with their providers."
        )));
    }
    let title = format!("downwatch: {provider} incidents");
    let filter = ListFilter {
        provider: Some(provider.to_string()),
        ..ListFilter::default()
    };
    feed(&req, &state, query.tz.as_deref(), filter, &title).await
}

async fn feed(
    req: &HttpRequest,
    state: &AppState,
    tz: Option<&str>,
    filter: ListFilter,
    title: &str,
) -> Result<HttpResponse, ApiError> {
    let zone = zone_param(tz)?;
    let (rows, _) = incidents::list(
        &state.reads,
        ListFilter {
            limit: ENTRIES,
            ..filter
        },
    )
    .await?;
    // Links come from the configured public address, never from request headers a client (or
    // a cache in front) could set; the feed's id is its path there, whatever the query.
    let base = state.public_url.as_str();
    let feed_id = format!("{base}{}", req.path());
    let self_url = format!("{base}{}", req.uri());
    let now = state.reads.clock.now();
    let entries: Vec<Entry<'_>> = rows
        .iter()
        .map(|(incident, service)| Entry {
            incident,
            service,
            title: incident_headline(incident, &service.name, zone),
        })
        .collect();
    let links = Links {
        base,
        id: &feed_id,
        this: &self_url,
    };
    let body = render(&links, title, now, &entries);
    Ok(HttpResponse::Ok()
        .content_type("application/atom+xml; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=60"))
        .body(body))
}

struct Entry<'a> {
    incident: &'a Incident,
    service: &'a ServiceRef,
    title: String,
}

/// Where a feed lives: the site, the feed's stable id, and the address it was read at.
struct Links<'a> {
    base: &'a str,
    id: &'a str,
    this: &'a str,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The feed document. `updated` is the newest entry's, or `now` for an empty feed.
fn render(links: &Links<'_>, title: &str, now: DateTime<Utc>, entries: &[Entry<'_>]) -> String {
    let base = links.base;
    let updated = entries
        .iter()
        .map(|e| e.incident.updated_at)
        .max()
        .unwrap_or(now);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = write!(
        xml,
        "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>{id}</id>\n<title>{title}</title>\n<updated>{updated}</updated>\n\
         <author><name>downwatch</name></author>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{self_url}\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{base}/\"/>\n\
         <subtitle>Incidents detected from crowd-sourced user reports</subtitle>\n",
        id = escape(links.id),
        title = escape(title),
        updated = stamp(updated),
        self_url = escape(links.this),
        base = escape(base),
    );
    for entry in entries {
        let incident = entry.incident;
        let page = format!("{base}/incidents/{}", incident.id);
        let chart = format!("{base}/v1/incidents/{}/chart.svg", incident.id);
        let state = match incident.ended_at {
            Some(end) => format!("resolved at {}", stamp(end)),
            None => format!("open, level {}", incident.level),
        };
        let summary = format!(
            "{} ({}): highest level {}, {}; {} reports in total.",
            entry.service.name,
            entry.service.provider,
            incident.highest_level,
            state,
            incident.total_reports
        );
        let _ = write!(
            xml,
            "<entry>\n<id>urn:uuid:{id}</id>\n<title>{title}</title>\n\
             <published>{published}</published>\n<updated>{updated}</updated>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n\
             <link rel=\"related\" type=\"image/svg+xml\" href=\"{chart}\"/>\n\
             <category term=\"{slug}\" label=\"{name}\"/>\n\
             <summary>{summary}</summary>\n</entry>\n",
            id = incident.id,
            title = escape(&entry.title),
            published = stamp(incident.started_at),
            updated = stamp(incident.updated_at),
            page = escape(&page),
            chart = escape(&chart),
            slug = escape(&entry.service.slug),
            name = escape(&entry.service.name),
            summary = escape(&summary),
        );
    }
    xml.push_str("</feed>\n");
    xml
}
