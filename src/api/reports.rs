//! `POST /v1/reports`: one person's "I have a problem with X".

use std::net::{IpAddr, Ipv4Addr};

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::body::read_json;
use crate::error::{
    ApiError, RATE_LIMIT_LIMIT, RATE_LIMIT_REMAINING, RATE_LIMIT_RESET, retry_after_secs,
};
use crate::http::{AppState, resource};
use crate::ingest::{ReportBody, record_rejection};

/// Largest accepted report body, in bytes.
pub const REPORT_BODY_LIMIT: usize = 4096;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/reports").post(submit));
}

/// Reports a problem with a service: counted once per reporter per service per dedup window.
#[utoipa::path(post, path = "/v1/reports", tag = "reports", request_body = crate::ingest::ReportBody, responses((status = 202, description = "Counted", body = ReportAnswer), (status = 200, description = "Already counted for this reporter within the dedup window", body = ReportAnswer), (status = 400, description = "Malformed or invalid field", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "Unknown or archived service", body = crate::error::Problem, content_type = "application/problem+json"), (status = 413, description = "Body over 4 KiB", body = crate::error::Problem, content_type = "application/problem+json"), (status = 415, description = "Not JSON", body = crate::error::Problem, content_type = "application/problem+json"), (status = 429, description = "Rate limited; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"), (status = 503, description = "Redis unavailable; nothing recorded", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body: ReportBody = read_json(&req, payload, REPORT_BODY_LIMIT)
        .await
        .inspect_err(|e| record_rejection(e.code()))?;
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let client = state.proxies.client_ip(peer, req.headers());
    let submitted = state.ingest.submit(client, body).await?;
    let mut response = if submitted.counted {
        HttpResponse::Accepted()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((&RATE_LIMIT_LIMIT, submitted.allowance.limit))
        .insert_header((&RATE_LIMIT_REMAINING, submitted.allowance.remaining))
        .insert_header((
            &RATE_LIMIT_RESET,
            retry_after_secs(submitted.allowance.reset_after),
        ));
    Ok(response.json(ReportAnswer {
        id: submitted.id,
        service: submitted.service,
        counted: submitted.counted,
        bucket: submitted.bucket,
        reason: (!submitted.counted).then_some(NotCounted::Duplicate),
    }))
}

/// Why a report was not counted.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotCounted {
    /// This reporter was already counted for this service within the dedup window.
    Duplicate,
}

/// The answer to a report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportAnswer {
    /// Id of this submission (UUIDv7).
    id: uuid::Uuid,
    /// The service's slug.
    service: String,
    /// Whether it was counted.
    counted: bool,
    /// Start of the minute it was counted in.
    bucket: chrono::DateTime<chrono::Utc>,
    /// Why it was not counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<NotCounted>,
}
