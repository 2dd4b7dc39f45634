//! The submit use case: from a parsed body and a client address to "counted" or "duplicate".

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::identity::{client_key, network_key};
use super::limiter::{Allowance, ReportLimiter};
use super::reporter_key::ReporterKeyer;
use crate::catalog::{CatalogCache, CatalogEntry};
use crate::clock::SharedClock;
use crate::domain::{CountryCode, ProblemKind, ReporterToken, ServiceSlug};
use crate::domain::{FieldError, FieldErrors};
use crate::store::StoreError;
use crate::time;
use crate::windows::{CapKeys, CapScope, Caps, CountRequest, Counted, SharedRate, Windows};

/// A report as clients send it; every field is checked by [`Ingest::submit`].
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// Catalog slug of the service.
    pub service: Option<String>,
    /// One of the service's problem kinds.
    pub problem: Option<String>,
    /// ISO 3166-1 alpha-2 country, any case.
    pub country: Option<String>,
    /// Opaque client token, so people behind one address count separately.
    pub reporter: Option<String>,
}

/// A report that passed validation.
struct Report {
    service: Arc<CatalogEntry>,
    problem: ProblemKind,
    country: Option<CountryCode>,
    reporter: Option<ReporterToken>,
}

/// What happened to a submitted report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// Id of this submission (UUIDv7, time-ordered), echoed in logs.
    pub id: Uuid,
    /// The service's slug.
    pub service: String,
    /// True if counted; false if this reporter was already counted in the dedup window.
    pub counted: bool,
    /// Start of the minute bucket the report was counted in.
    pub bucket: DateTime<Utc>,
    /// What the client has left of its rate limit.
    pub allowance: Allowance,
}

/// Why a report was not counted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Fields are missing or malformed (every one named).
    #[error("invalid report")]
    Invalid(Vec<FieldError>),
    /// The service is not in the catalog, or archived.
    #[error("{} {}", .0.field, .0.detail)]
    UnknownService(FieldError),
    /// The client address sent too many reports.
    #[error("rate limited")]
    RateLimited {
        /// When the next report will be accepted.
        retry_after: std::time::Duration,
        /// The burst size the client is allowed.
        limit: u32,
    },
    /// The client's address or network already has its cap of counted reports of the service.
    #[error("capped")]
    Capped {
        /// The service reported.
        service: String,
        /// Whose cap: the address's or the network's.
        scope: CapScope,
        /// That cap.
        limit: u32,
        /// The window it applies over.
        window: std::time::Duration,
        /// When the oldest counted report leaves the window.
        retry_after: std::time::Duration,
    },
    /// Redis did not count it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SubmitError {
    /// Short code for the `reason` label of rejected reports (the problem type's code).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::UnknownService(_) => "not-found",
            Self::RateLimited { .. } | Self::Capped { .. } => "rate-limited",
            Self::Store(StoreError::Unavailable(_)) => "dependency-unavailable",
            Self::Store(_) => "internal",
        }
    }
}

/// Everything the submit path needs; built once per instance.
pub struct Ingest {
    /// Catalog snapshot.
    pub catalog: Arc<CatalogCache>,
    /// Per-client limiter.
    pub limiter: Arc<ReportLimiter>,
    /// Reporter key derivation.
    pub keyer: ReporterKeyer,
    /// Redis windows.
    pub windows: Windows,
    /// Time source.
    pub clock: SharedClock,
    /// Caps on counted reports per address and network per service.
    pub caps: Caps,
    /// The per-client rate, shared by every instance through Redis (the in-process limiter is
    /// the cheap first line against floods; this one holds across instances).
    pub rate: SharedRate,
}

impl Ingest {
    /// Validates, rate-limits and counts one report from `client_ip`.
    pub async fn submit(
        &self,
        client_ip: IpAddr,
        body: ReportBody,
    ) -> Result<Submitted, SubmitError> {
        let report = self
            .validate(body)
            .inspect_err(|e| record_rejection(e.code()))?;
        let client = client_key(client_ip);
        let allowance = self.limiter.check(client).inspect_err(|_| {
            metrics::counter!("downwatch_reports_total", "outcome" => "rate_limited").increment(1);
        })?;
        let now = self.clock.now();
        let reporter = self.keyer.key(client, report.reporter.as_ref());
        let address_hex = self.keyer.cap_key("address", client);
        let network_hex = self.keyer.cap_key("network", network_key(client));
        let counting = self
            .windows
            .count_capped(
                CountRequest {
                    service: &report.service.slug,
                    reporter,
                    problem: &report.problem,
                    country: report.country,
                    at: now,
                },
                CapKeys {
                    address_hex: &address_hex,
                    network_hex: &network_hex,
                },
                self.caps,
                self.rate,
            )
            .await
            .inspect_err(|_| {
                metrics::counter!("downwatch_reports_total", "outcome" => "failed").increment(1);
            })?;
        let counted = match counting {
            Counted::Yes => true,
            Counted::Duplicate => false,
            Counted::RateLimited { retry_after } => {
                metrics::counter!("downwatch_reports_total", "outcome" => "rate_limited")
                    .increment(1);
                return Err(SubmitError::RateLimited {
                    retry_after: retry_after.max(std::time::Duration::from_millis(1)),
                    limit: self.rate.burst,
                });
            }
            Counted::Capped { scope, retry_after } => {
                let (label, limit) = match scope {
                    CapScope::Address => ("address", self.caps.per_address),
                    CapScope::Network => ("network", self.caps.per_network),
                };
                metrics::counter!("downwatch_reports_total", "outcome" => "capped", "scope" => label)
                    .increment(1);
                return Err(SubmitError::Capped {
                    service: report.service.slug.to_string(),
                    scope,
                    limit,
                    window: self.caps.window,
                    retry_after,
                });
            }
        };
        let outcome = if counted { "counted" } else { "duplicate" };
        metrics::counter!("downwatch_reports_total", "outcome" => outcome).increment(1);
        let id = report_id(now);
        tracing::debug!(report.id = %id, service = %report.service.slug, outcome, "report");
        Ok(Submitted {
            id,
            service: report.service.slug.to_string(),
            counted,
            bucket: time::minute_start(time::minute_of(now)),
            allowance,
        })
    }

    /// Checks fields against their formats and the problem against the service's kinds, all
    /// at once (every bad field is named in one answer); then the service against the catalog.
    fn validate(&self, body: ReportBody) -> Result<Report, SubmitError> {
        let mut errors = FieldErrors::default();
        let slug = errors.required("service", body.service, |s| ServiceSlug::parse(&s));
        let problem = errors.required("problem", body.problem, |p| ProblemKind::parse(&p));
        let known = slug.as_ref().and_then(|s| self.catalog.get(s.as_str()));
        if let (Some(service), Some(problem)) = (known.filter(|e| !e.archived), &problem)
            && !service.problems.contains(problem)
        {
            let allowed: Vec<&str> = service.problems.iter().map(ProblemKind::as_str).collect();
            errors.push(
                "problem",
                format!(
                    "{:?} is not a problem kind of {}; use one of: {}",
                    problem.as_str(),
                    service.slug,
                    allowed.join(", ")
                ),
            );
        }
        let country = errors.optional("country", body.country, |c| CountryCode::parse(&c));
        let reporter = errors.optional("reporter", body.reporter, |r| ReporterToken::parse(&r));
        errors.finish().map_err(SubmitError::Invalid)?;
        let (Some(slug), Some(problem)) = (slug, problem) else {
            unreachable!("required fields are present when no error was recorded");
        };
        let unknown =
            |detail: String| SubmitError::UnknownService(FieldError::new("service", detail));
        let service = match self.catalog.get(slug.as_str()) {
            Some(entry) if !entry.archived => entry,
            Some(_) => {
                return Err(unknown(format!(
                    "{:?} is archived and takes no reports",
                    slug.as_str()
                )));
            }
            None => {
                return Err(unknown(format!(
                    "{:?} is not in the catalog; GET /v1/services lists them",
                    slug.as_str()
                )));
            }
        };
        Ok(Report {
            service,
            problem,
            country,
            reporter,
        })
    }
}

/// Counts a rejected report under the problem type's code, the label every rejection uses.
pub fn record_rejection(code: &'static str) {
    metrics::counter!("downwatch_reports_total", "outcome" => "rejected", "reason" => code)
        .increment(1);
}

/// A time-ordered (v7) id whose timestamp is the injected clock's, so ids sort with buckets.
fn report_id(at: DateTime<Utc>) -> Uuid {
    let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        seconds,
        at.timestamp_subsec_nanos(),
    ))
}
