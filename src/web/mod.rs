//! Web pages for people: the live board, service pages with the "I have a problem" button,
//! incident pages a journalist can cite, and chart-only embeds for articles.
//!
//! Rules:
//! - rendered on the server with maud, which escapes every interpolated value; each page reads
//!   in full with JavaScript off, and `assets/app.js` only adds the button's requests, live
//!   updates and the viewer's time zone;
//! - every asset is compiled into the binary and served under a content-hashed name;
//! - no inline script or style: pages carry a strict Content-Security-Policy, and only the
//!   embeds may be framed by other sites;
//! - handlers are thin: they call the queries (`query/`) and hand plain values to the templates.

mod assets;
mod board;
mod embed;
mod incident;
mod layout;
mod origin;
mod report;
mod service;
mod spark;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::Markup;

use crate::error::ApiError;
use crate::http::AppState;

/// What pages may load: their own scripts, styles and images (and `data:` images), requests
/// to their own origin (the report button, live events); forms post only to their origin.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'";

/// Registers the pages and their assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::FormConfig::default().error_handler(|err, _| form_error(&err).into()))
        .configure(assets::routes)
        .service(web::resource("/").get(board::page))
        .service(web::resource("/s/{slug}").get(service::page))
        .service(web::resource("/s/{slug}/report").post(report::submit))
        .service(web::resource("/incidents/{id}").get(incident::page))
        .service(web::resource("/embed/incident/{id}").get(embed::incident))
        .service(web::resource("/embed/{slug}").get(embed::service));
}

/// A form body that could not be read, answered as a page with the status the API would give
/// (actix's own answer is a bare line of text).
fn form_error(err: &actix_web::error::UrlencodedError) -> PageError {
    use actix_web::error::UrlencodedError;
    PageError(match err {
        UrlencodedError::ContentType => ApiError::UnsupportedMediaType,
        UrlencodedError::Overflow { limit, .. } => ApiError::TooLarge { limit: *limit },
        other => {
            let message = other.to_string();
            // serde names the field between backticks (`duplicate field `problem``).
            let field = message.split('`').nth(1).unwrap_or("form").to_owned();
            ApiError::field(field, message)
        }
    })
}

/// Who may show a page in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Nobody (every page but the embeds).
    Deny,
    /// Any site (the embeds, made for articles).
    Anyone,
}

/// An HTML answer with the page policy.
fn html(status: StatusCode, markup: Markup, framing: Framing) -> HttpResponse {
    let ancestors = match framing {
        Framing::Deny => "frame-ancestors 'none'",
        Framing::Anyone => "frame-ancestors *",
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!("{PAGE_POLICY}; {ancestors}"),
        ))
        // Same-origin requests keep their referrer (and, for the report form, their real
        // `Origin` rather than `null`); other sites still get none.
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        // Pages change with every report: always revalidate.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(markup.into_string())
}

/// Drops `X-Frame-Options` from an answer whose own policy lets other sites frame it (the
/// embeds): the app-wide default denies framing, and the two headers must not disagree.
pub fn allow_declared_framing(headers: &mut HeaderMap) {
    let framable = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|csp| csp.contains("frame-ancestors *"));
    if framable {
        headers.remove(header::X_FRAME_OPTIONS);
    }
}

/// What every template needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Zone the server renders times in (`?tz=`, else UTC); the script re-renders them in the
    /// viewer's zone unless `?tz=` fixed one.
    pub zone: Tz,
    /// Whether `?tz=` chose the zone.
    pub zone_fixed: bool,
    /// Now, by the application's clock.
    pub now: DateTime<Utc>,
}

impl View {
    /// The view for a request with an optional `tz` parameter; an unknown zone means UTC.
    fn new(state: &AppState, tz: Option<&str>) -> Self {
        let zone = tz.and_then(|z| z.parse::<Tz>().ok());
        Self {
            zone: zone.unwrap_or(Tz::UTC),
            zone_fixed: zone.is_some(),
            now: state.reads.clock.now(),
        }
    }
}

/// A failure while building a page, answered as an HTML page with the API error's status.
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(error: crate::store::StoreError) -> Self {
        Self(error.into())
    }
}

impl From<crate::query::QueryError> for PageError {
    fn from(error: crate::query::QueryError) -> Self {
        Self(error.into())
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error on a page")
            }
            ApiError::Unavailable(dep) => {
                tracing::warn!(dependency = %dep, "dependency unavailable on a page")
            }
            _ => {}
        }
        let (title, detail) = match &self.0 {
            ApiError::NotFound(what) => ("Page not found", what.clone()),
            ApiError::Forbidden(error) => ("Not accepted here", error.detail.clone()),
            ApiError::BodyTimeout { .. } => (
                "Too slow",
                "Your report did not arrive in time. Please go back and try again.".to_owned(),
            ),
            ApiError::Unavailable(dep) => (
                "Temporarily unavailable",
                format!("{dep} did not answer in time. Please try again in a moment."),
            ),
            ApiError::Internal(_) => (
                "Something went wrong",
                "Something went wrong on our side. It has been logged.".to_owned(),
            ),
            other => ("Bad request", other.to_string()),
        };
        let markup = layout::error_page(title, &detail);
        let mut response = html(self.status_code(), markup, Framing::Deny);
        if matches!(self.0, ApiError::Unavailable(_) | ApiError::Busy) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }
}

/// The 404 page for a browser that asked for a page that is not there (a GET outside `/v1`
/// accepting HTML); API clients keep their problem+json.
pub fn missing_page(req: &HttpRequest) -> Option<HttpResponse> {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let page = req.method() == Method::GET && !req.path().starts_with("/v1/");
    (wants_html && page).then(|| {
        not_found(
            "There is no page at this address. The board lists every service we watch.".to_owned(),
        )
        .error_response()
    })
}

/// A 404 page naming what was asked for.
fn not_found(what: String) -> PageError {
    PageError(ApiError::NotFound(what))
}
