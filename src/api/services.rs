//! The catalog: public reads, admin writes.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::body::read_json;
use super::status::{ServiceView, with_status};
use crate::catalog::{ServiceInput, ServicePatch, ServicePatchInput, ServiceSpec};
use crate::db::services::{self as queries, ListFilter, Service};
use crate::detect::Level;
use crate::domain::{Label, ServiceSlug};
use crate::error::ApiError;

const ADMIN_BODY_LIMIT: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/services").get(list).post(create))
        .service(
            super::resource("/v1/services/{slug}")
                .get(show)
                .patch(update)
                .delete(archive),
        );
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    category: Option<String>,
    provider: Option<String>,
    level: Option<String>,
    include_archived: Option<String>,
}

#[utoipa::path(get, path = "/v1/services", tag = "catalog", params(("q" = Option<String>, Query, description = "Name or slug contains"), ("category" = Option<String>, Query), ("provider" = Option<String>, Query), ("level" = Option<crate::detect::Level>, Query), ("include_archived" = Option<bool>, Query)), responses((status = 200, body = super::docs::ServiceList), (status = 400, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn list(
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let label = |field: &str, value: Option<String>| {
        value
            .map(|v| {
                Label::parse(&v)
                    .map(|l| l.to_string())
                    .map_err(|e| ApiError::field(field, e))
            })
            .transpose()
    };
    let include_archived = match query.include_archived.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("include_archived", "must be true or false")),
    };
    let level = query
        .level
        .as_deref()
        .map(|l| l.parse::<Level>().map_err(|e| ApiError::field("level", e)))
        .transpose()?;
    let filter = ListFilter {
        include_archived,
        category: label("category", query.category)?,
        provider: label("provider", query.provider)?,
    };
    let needle = query
        .q
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let services: Vec<Service> = queries::list(&state.db, &filter)
        .await?
        .into_iter()
        .filter(|s| {
            needle
                .as_ref()
                .is_none_or(|q| s.name.to_lowercase().contains(q) || s.slug.contains(q))
        })
        .collect();
    let views: Vec<ServiceView> = with_status(&state, services, false)
        .await?
        .into_iter()
        .filter(|v| level.is_none_or(|l| v.level() == l))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "count": views.len(), "services": views })))
}

/// Parses the `{slug}` path segment.
pub fn slug_param(raw: &str) -> Result<ServiceSlug, ApiError> {
    ServiceSlug::parse(raw).map_err(|e| ApiError::field("slug", e))
}

/// The service with `slug` (archived too), or 404.
/// The service with `slug` (archived or not) from the catalog snapshot.
pub fn find_or_404(state: &AppState, slug: &ServiceSlug) -> Result<Service, ApiError> {
    state
        .catalog
        .get(slug.as_str())
        .map(|entry| entry.service.clone())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "No service {:?}; GET /v1/services lists them.",
                slug.as_str()
            ))
        })
}

#[utoipa::path(get, path = "/v1/services/{slug}", tag = "catalog", params(("slug" = String, Path)), responses((status = 200, body = super::status::ServiceView), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn show(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    let service = find_or_404(&state, &slug)?;
    let view = with_status(&state, vec![service], false).await?.pop();
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/v1/services", tag = "admin", request_body = crate::catalog::ServiceInput, security(("admin_token" = [])), responses((status = 201, body = crate::db::services::Service), (status = 400, body = super::docs::Problem, content_type = "application/problem+json"), (status = 401, body = super::docs::Problem, content_type = "application/problem+json"), (status = 403, body = super::docs::Problem, content_type = "application/problem+json"), (status = 409, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let input: ServiceInput = read_json(&req, payload, ADMIN_BODY_LIMIT).await?;
    let spec = ServiceSpec::parse(input, "").map_err(ApiError::Invalid)?;
    let service = queries::create(&state.db, &spec, state.clock.now()).await?;
    refresh(&state).await;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/services/{}", service.slug)))
        .json(service))
}

#[utoipa::path(patch, path = "/v1/services/{slug}", tag = "admin", params(("slug" = String, Path)), request_body = crate::catalog::ServicePatchInput, security(("admin_token" = [])), responses((status = 200, body = crate::db::services::Service), (status = 400, body = super::docs::Problem, content_type = "application/problem+json"), (status = 401, body = super::docs::Problem, content_type = "application/problem+json"), (status = 403, body = super::docs::Problem, content_type = "application/problem+json"), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let slug = slug_param(&path)?;
    let input: ServicePatchInput = read_json(&req, payload, ADMIN_BODY_LIMIT).await?;
    let patch = ServicePatch::parse(input).map_err(ApiError::Invalid)?;
    let service = queries::update(&state.db, slug.as_str(), &patch, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("No service {:?}.", slug.as_str())))?;
    refresh(&state).await;
    Ok(HttpResponse::Ok().json(service))
}

#[utoipa::path(delete, path = "/v1/services/{slug}", tag = "admin", params(("slug" = String, Path)), security(("admin_token" = [])), responses((status = 204, description = "Archived"), (status = 401, body = super::docs::Problem, content_type = "application/problem+json"), (status = 403, body = super::docs::Problem, content_type = "application/problem+json"), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn archive(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let slug = slug_param(&path)?;
    let patch = ServicePatch {
        archived: Some(true),
        ..Default::default()
    };
    queries::update(&state.db, slug.as_str(), &patch, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("No service {:?}.", slug.as_str())))?;
    refresh(&state).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Makes this instance's report path see a catalog change at once (others follow on their timer).
async fn refresh(state: &AppState) {
    if let Err(e) = state.refresh_catalog().await {
        tracing::warn!(error = %e, "catalog refresh after an admin change failed; the timer will retry");
    }
}
