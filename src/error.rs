//! One error type for every HTTP answer that is not a success, rendered as RFC 9457
//! `application/problem+json`. Only the HTTP adapters (`api/`, `web/`, `http/`) build it; the
//! layers below have their own errors (`StoreError`, `SubmitError`, `QueryError`), turned into
//! answers here, by the `From` conversions below, and nowhere else.
//!
//! Rules:
//! - client errors name the field at fault and say what is allowed (`errors[].field`);
//! - a dependency that cannot be reached answers 503 naming it, with `Retry-After`;
//! - `Internal` is logged once, here, where it becomes a response; its cause never reaches clients;
//! - secrets and client addresses never appear in a detail.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::domain::{FieldError, FieldErrors};
pub use crate::store::Dependency;
use crate::store::StoreError;

/// Every non-success answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: one or more fields are malformed or invalid.
    #[error("invalid request: {}", summarize(.0))]
    Invalid(Vec<FieldError>),
    /// 404: the named thing does not exist (or is archived).
    #[error("{0}")]
    NotFound(String),
    /// 404: a field of the request names something that does not exist (or is archived).
    #[error("{} {}", .0.field, .0.detail)]
    NotFoundField(FieldError),
    /// 401: the admin token is missing or wrong.
    #[error("missing or wrong admin token")]
    Unauthorized,
    /// 403: admin endpoints are disabled on this instance.
    #[error("admin endpoints are disabled")]
    AdminDisabled,
    /// 403: the request is refused for what one of its fields (or headers) says.
    #[error("{} {}", .0.field, .0.detail)]
    Forbidden(FieldError),
    /// 405: the resource exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body exceeds `limit` bytes.
    #[error("request body larger than {limit} bytes")]
    TooLarge {
        /// The largest accepted body, in bytes.
        limit: usize,
    },
    /// 408: the body did not arrive within the deadline.
    #[error("request body not received within {} ms", within.as_millis())]
    BodyTimeout {
        /// How long a body may take.
        within: Duration,
    },
    /// 415: the body is not JSON.
    #[error("request body is not application/json")]
    UnsupportedMediaType,
    /// 429: the client sent too many reports.
    #[error("rate limit exceeded")]
    RateLimited {
        /// When the next report will be accepted.
        retry_after: Duration,
        /// The burst size the client is allowed.
        limit: u32,
    },
    /// 429 (one client's) or 503 (the instance's): no slot for another event stream.
    #[error("too many event streams")]
    Streams {
        /// Whether the client's own limit (429) was reached, rather than the instance's (503).
        client: bool,
        /// That limit.
        limit: usize,
    },
    /// 503: this instance is already rendering as many expensive reads as it allows.
    #[error("too many expensive reads at once")]
    Busy,
    /// 429: the client's address or network has its cap of counted reports of the service.
    #[error("{} {}", .error.field, .error.detail)]
    Capped {
        /// Names `service`, the cap and when to retry.
        error: FieldError,
        /// When the next report of the service can count.
        retry_after: Duration,
        /// The cap.
        limit: u32,
    },
    /// 429: the client caused as many renderings of expensive reads as it may for now.
    #[error("too many reads")]
    ReadsLimited {
        /// When the next rendering will be allowed.
        retry_after: Duration,
        /// The burst the client is allowed.
        limit: u32,
    },
    /// 503: a dependency did not answer in time.
    #[error("{0} is unavailable")]
    Unavailable(Dependency),
    /// 500: a bug or an unexpected failure; the cause is logged, not shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(dependency) => Self::Unavailable(dependency),
            StoreError::Corrupt { .. } => Self::Internal(anyhow::Error::new(error)),
            StoreError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<crate::query::QueryError> for ApiError {
    fn from(error: crate::query::QueryError) -> Self {
        use crate::query::QueryError;
        match error {
            QueryError::Invalid(errors) => Self::Invalid(errors),
            QueryError::NotFound(what) => Self::NotFound(what),
            QueryError::Store(store) => store.into(),
        }
    }
}

impl From<crate::db::services::CreateError> for ApiError {
    fn from(error: crate::db::services::CreateError) -> Self {
        use crate::db::services::CreateError;
        match error {
            CreateError::SlugTaken(slug) => Self::Conflict(format!(
                "A service with slug {slug:?} already exists (it may be archived: PATCH it with archived=false)."
            )),
            CreateError::Store(store) => store.into(),
        }
    }
}

impl From<crate::ingest::SubmitError> for ApiError {
    fn from(error: crate::ingest::SubmitError) -> Self {
        use crate::ingest::SubmitError;
        match error {
            SubmitError::Invalid(errors) => Self::Invalid(errors),
            SubmitError::UnknownService(error) => Self::NotFoundField(error),
            SubmitError::RateLimited { retry_after, limit } => {
                Self::RateLimited { retry_after, limit }
            }
            SubmitError::Capped {
                service,
                scope,
                limit,
                window,
                retry_after,
            } => {
                let whose = match scope {
                    crate::windows::CapScope::Address => "this address (IPv6: its /64)",
                    crate::windows::CapScope::Network => {
                        "this address's network (IPv4 /24, IPv6 /48)"
                    }
                };
                Self::Capped {
                    error: FieldError::new(
                        "service",
                        format!(
                            "{whose} already has {limit} reports counted for {service} in the last {} minutes, the most it may; retry after {} seconds",
                            window.as_secs() / 60,
                            retry_after_secs(retry_after)
                        ),
                    ),
                    retry_after,
                    limit,
                }
            }
            SubmitError::Store(store) => store.into(),
        }
    }
}

fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{} {}", e.field, e.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// A 400 about a single field.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, detail)])
    }

    /// Short code used in the problem `type` and in metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::NotFound(_) | Self::NotFoundField(_) => "not-found",
            Self::Unauthorized => "unauthorized",
            Self::AdminDisabled => "admin-disabled",
            Self::Forbidden(_) => "forbidden",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::TooLarge { .. } => "payload-too-large",
            Self::BodyTimeout { .. } => "request-timeout",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::RateLimited { .. } | Self::Capped { .. } | Self::ReadsLimited { .. } => {
                "rate-limited"
            }
            Self::Unavailable(_) => "dependency-unavailable",
            Self::Busy => "busy",
            Self::Streams { .. } => "too-many-streams",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "The request has invalid fields",
            Self::NotFound(_) | Self::NotFoundField(_) => "Not found",
            Self::Unauthorized => "Admin token required",
            Self::AdminDisabled => "Admin endpoints are disabled",
            Self::Forbidden(_) => "Forbidden",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict(_) => "Conflict",
            Self::TooLarge { .. } => "Request body too large",
            Self::BodyTimeout { .. } => "Request body too slow",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::RateLimited { .. } | Self::Capped { .. } => "Too many reports",
            Self::ReadsLimited { .. } => "Too many reads",
            Self::Unavailable(_) => "A dependency is unavailable",
            Self::Busy => "Too many reads at once",
            Self::Streams { .. } => "Too many event streams",
            Self::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Invalid(errors) => format!("Fix these fields and retry: {}.", summarize(errors)),
            Self::NotFound(what) | Self::Conflict(what) => what.clone(),
            Self::NotFoundField(error) | Self::Forbidden(error) | Self::Capped { error, .. } => {
                format!("{}: {}", error.field, error.detail)
            }
            Self::Unauthorized => "Send 'Authorization: Bearer <DOWNWATCH_ADMIN_TOKEN>'.".to_owned(),
            Self::AdminDisabled => {
                "This instance has no admin token. Set DOWNWATCH_ADMIN_TOKEN (16+ characters) and restart to enable admin endpoints."
                    .to_owned()
            }
            Self::MethodNotAllowed => "This resource does not take that method; see the README for the API.".to_owned(),
            Self::TooLarge { limit } => format!("Send at most {limit} bytes."),
            Self::BodyTimeout { within } => format!(
                "The body did not arrive within {} ms of the request; send it whole, at once.",
                within.as_millis()
            ),
            Self::UnsupportedMediaType => "Send the body as JSON with 'Content-Type: application/json'.".to_owned(),
            Self::RateLimited { retry_after, .. } => format!(
                "This address sent too many reports. Retry after {} seconds.",
                retry_after_secs(*retry_after)
            ),
            Self::Unavailable(dep) => format!("{dep} did not answer in time. Nothing was recorded; retry shortly."),
            Self::Streams { client: true, limit } => format!("This address already has {limit} event streams open; close one (one stream carries every event) and retry."),
            Self::Streams { client: false, limit } => format!("This instance already serves {limit} event streams; retry shortly (possibly reaching another instance)."),
            Self::ReadsLimited { retry_after, limit } => format!(
                "This address asked for more fresh curves, charts, breakdowns and boards than it may ({limit} at once, then DOWNWATCH_READ_RATE_PER_MINUTE a minute); answers already rendered are still served. Retry after {} seconds.",
                retry_after_secs(*retry_after)
            ),
            Self::Busy => "This instance is rendering as many curves, charts and breakdowns as it allows; retry after a second (answers already rendered are still served).".to_owned(),
            Self::Internal(_) => "Something went wrong on our side. It has been logged.".to_owned(),
        }
    }
}

impl ApiError {
    /// The fields this error is about, for the problem's `errors` list.
    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            Self::NotFoundField(error) | Self::Forbidden(error) | Self::Capped { error, .. } => {
                vec![error.clone()]
            }
            Self::TooLarge { limit } => vec![FieldError::new(
                "body",
                format!("must be at most {limit} bytes"),
            )],
            Self::BodyTimeout { within } => vec![FieldError::new(
                "body",
                format!("must arrive within {} ms", within.as_millis()),
            )],
            Self::UnsupportedMediaType => {
                vec![FieldError::new("content-type", "must be application/json")]
            }
            _ => Vec::new(),
        }
    }
}

/// The rate-limit headers every answer to a report carries, named once (a name given as text
/// is parsed and copied for each response).
pub static RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// See [`RATE_LIMIT_LIMIT`].
pub static RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// See [`RATE_LIMIT_LIMIT`].
pub static RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Whole seconds to wait, rounded up so that a client retrying on time is accepted.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// An RFC 9457 problem: the body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `/problems/<code>`.
    r#type: String,
    /// A short summary of the problem type.
    title: &'static str,
    /// The HTTP status.
    status: u16,
    /// What went wrong and how to fix it.
    detail: String,
    /// The fields at fault, when the problem is about input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    /// The dependency that did not answer, on a 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    dependency: Option<Dependency>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) | Self::NotFoundField(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::AdminDisabled | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } | Self::Capped { .. } | Self::ReadsLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Unavailable(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Streams { client: true, .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Streams { client: false, .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            Self::Unavailable(dep) => tracing::warn!(dependency = %dep, "dependency unavailable"),
            _ => {}
        }
        let status = self.status_code();
        let body = Problem {
            r#type: format!("/problems/{}", self.code()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: self.field_errors(),
            dependency: match self {
                Self::Unavailable(dep) => Some(*dep),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            Self::RateLimited { retry_after, limit }
            | Self::Capped {
                retry_after, limit, ..
            }
            | Self::ReadsLimited { retry_after, limit } => {
                let secs = retry_after_secs(*retry_after);
                response.insert_header((header::RETRY_AFTER, secs));
                response.insert_header((&RATE_LIMIT_LIMIT, *limit));
                response.insert_header((&RATE_LIMIT_REMAINING, 0));
                response.insert_header((&RATE_LIMIT_RESET, secs));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("2")));
            }
            Self::Busy => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::Streams { .. } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            Self::Unauthorized => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&body).expect("problem serializes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(err: &ApiError) -> serde_json::Value {
        let bytes = err.error_response().into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn invalid_fields_are_listed_by_name() {
        let err = ApiError::field("country", "must be an ISO 3166-1 alpha-2 country code");
        let body = body_of(&err);
        assert_eq!(body["status"], 400);
        assert_eq!(body["type"], "/problems/invalid-request");
        assert_eq!(body["errors"][0]["field"], "country");
        assert!(body["detail"].as_str().unwrap().contains("country"));
    }

    #[test]
    fn rate_limit_rounds_retry_after_up() {
        let err = ApiError::RateLimited {
            retry_after: Duration::from_millis(1200),
            limit: 10,
        };
        let resp = err.error_response();
        assert_eq!(resp.headers().get("retry-after").unwrap(), "2");
        assert_eq!(resp.headers().get("ratelimit-remaining").unwrap(), "0");
    }

    #[test]
    fn unavailable_names_the_dependency() {
        let body = body_of(&ApiError::Unavailable(Dependency::Redis));
        assert_eq!(body["dependency"], "Redis");
        assert!(body["detail"].as_str().unwrap().starts_with("Redis"));
    }

    #[test]
    fn internal_causes_are_not_shown() {
        let body = body_of(&ApiError::Internal(anyhow::anyhow!("password=hunter2")));
        assert!(!body.to_string().contains("hunter2"));
    }
}
