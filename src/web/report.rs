//! The "I have a problem" button.
//!
//! With JavaScript, `app.js` posts the report to `/v1/reports` with a reporter token it keeps in
//! local storage, and shows the answer in place. Without it, the same form posts to
//! `POST /s/{slug}/report`, which counts the report by the same use case and redirects back to
//! the service page with the outcome (post, redirect, get: a reload never reports twice).

use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::problem_label;
use super::{PageError, not_found};
use crate::domain::Service;
use crate::domain::ServiceSlug;
use crate::error::retry_after_secs;
use crate::http::AppState;
use crate::ingest::{ReportBody, SubmitError};

/// What happened to a report, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted.
    Counted,
    /// This reporter was already counted within the dedup window.
    Duplicate,
    /// Rate limited; retry after this many seconds.
    Limited(u64),
    /// Not recorded (invalid, or a dependency was down).
    Failed,
}

impl Outcome {
    /// From the `report` (and `retry`) query parameters of the redirect.
    pub fn from_query(raw: &str, retry: Option<u64>) -> Option<Self> {
        match raw {
            "counted" => Some(Self::Counted),
            "duplicate" => Some(Self::Duplicate),
            "limited" => Some(Self::Limited(retry.unwrap_or(60).min(3600))),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    fn query(self) -> String {
        match self {
            Self::Counted => "report=counted".to_owned(),
            Self::Duplicate => "report=duplicate".to_owned(),
            Self::Limited(secs) => format!("report=limited&retry={secs}"),
            Self::Failed => "report=failed".to_owned(),
        }
    }

    /// The class and the words the page shows (the script uses the same words).
    fn message(self, service: &str) -> (&'static str, String) {
        match self {
            Self::Counted => (
                "ok",
                format!("Counted. Thank you for reporting your problem with {service}."),
            ),
            Self::Duplicate => (
                "info",
                format!(
                    "Already counted: you reported a problem with {service} recently, and each person counts once."
                ),
            ),
            Self::Limited(secs) => (
                "warn",
                format!(
                    "Slow down: too many reports from your network. Try again in {secs} seconds."
                ),
            ),
            Self::Failed => (
                "error",
                "Your report could not be recorded. Please try again in a moment.".to_owned(),
            ),
        }
    }
}

/// The button, the problem kinds, and the place where the answer appears.
pub fn report_section(service: &Service, outcome: Option<&Outcome>) -> Markup {
    html! {
        section #report .report aria-labelledby="report-title" {
            h2 #report-title { "Having trouble with " (service.name) "?" }
            @if service.archived {
                p { (service.name) " is archived and no longer takes reports." }
            } @else {
                form #report-form method="post" action={ "/s/" (service.slug) "/report" } data-service=(service.slug) data-name=(service.name) {
                    button #report-open .big type="button" hidden aria-expanded="false" aria-controls="report-kinds" {
                        "I have a problem with " (service.name)
                    }
                    fieldset #report-kinds .kinds {
                        legend { "What is not working?" }
                        div.kind-list {
                            @for problem in &service.problems {
                                button.kind type="submit" name="problem" value=(problem) { (problem_label(problem)) }
                            }
                        }
                    }
                    @match outcome.map(|o| o.message(&service.name)) {
                        Some((class, text)) => p #report-result class={ "result " (class) } role="status" aria-live="polite" { (text) },
                        None => p #report-result .result role="status" aria-live="polite" {},
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ReportForm {
    problem: Option<String>,
}

/// `POST /s/{slug}/report`: the button without JavaScript.
pub async fn submit(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ReportForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    // Another site's form must not report in its visitors' names.
    super::origin::check_same_origin(&req, &state)?;
    let slug = ServiceSlug::parse(&path)
        .map_err(|_| not_found(format!("We do not watch a service called \"{path}\".")))?;
    let body = ReportBody {
        service: Some(slug.to_string()),
        problem: form.into_inner().problem,
        country: None,
        reporter: None,
    };
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let client = state.proxies.client_ip(peer, req.headers());
    let outcome = match state.ingest.submit(client, body).await {
        Ok(submitted) if submitted.counted => Outcome::Counted,
        Ok(_) => Outcome::Duplicate,
        Err(
            SubmitError::RateLimited { retry_after, .. } | SubmitError::Capped { retry_after, .. },
        ) => Outcome::Limited(retry_after_secs(retry_after)),
        Err(SubmitError::UnknownService(_)) => {
            return Err(not_found(format!(
                "We do not watch a service called \"{slug}\", or it no longer takes reports."
            )));
        }
        Err(_) => Outcome::Failed,
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/s/{slug}?{}#report", outcome.query()),
        ))
        .finish())
}
