//! The catalog: public reads, admin writes.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::http::{AppState, resource};
use serde::Serialize;

use super::body::read_json;
use crate::catalog::{ServiceInput, ServicePatch, ServicePatchInput, ServiceSpec};
use crate::db::services::{self as queries, ListFilter};
use crate::detect::Level;
use crate::domain::Label;
use crate::domain::Service;
use crate::error::ApiError;
use crate::http::params::slug_param;
use crate::query::status::{ServiceView, Statuses, service_view, with_status};

const ADMIN_BODY_LIMIT: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/services").get(list).post(create))
        .service(
            resource("/v1/services/{slug}")
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

/// The catalog with each service's status; filters by name, category, provider and level.
#[utoipa::path(get, path = "/v1/services", tag = "catalog", params(("q" = Option<String>, Query, description = "Name or slug contains"), ("category" = Option<String>, Query), ("provider" = Option<String>, Query), ("level" = Option<crate::detect::Level>, Query), ("include_archived" = Option<bool>, Query)), responses((status = 200, body = ServiceList), (status = 400, body = crate::error::Problem, content_type = "application/problem+json")))]
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
    let services: Vec<Service> = queries::list(&state.reads.db, &filter)
        .await?
        .into_iter()
        .filter(|s| {
            needle
                .as_ref()
                .is_none_or(|q| s.name.to_lowercase().contains(q) || s.slug.contains(q))
        })
        .collect();
    let views: Vec<ServiceView> = with_status(&state.reads, services, Statuses::BestEffort)
        .await?
        .into_iter()
        .filter(|v| level.is_none_or(|l| v.level() == l))
        .collect();
    Ok(HttpResponse::Ok().json(ServiceList {
        count: views.len(),
        services: views,
    }))
}

/// A list of services.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceList {
    /// How many.
    count: usize,
    /// The services with their status, by slug.
    services: Vec<ServiceView>,
}

/// A service with its status.
#[utoipa::path(get, path = "/v1/services/{slug}", tag = "catalog", params(("slug" = String, Path)), responses((status = 200, body = ServiceView), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn show(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    let view = service_view(&state.reads, &slug).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Adds a service (admin).
#[utoipa::path(post, path = "/v1/services", tag = "admin", request_body = crate::catalog::ServiceInput, security(("admin_token" = [])), responses((status = 201, body = crate::domain::Service), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, body = crate::error::Problem, content_type = "application/problem+json"), (status = 403, body = crate::error::Problem, content_type = "application/problem+json"), (status = 409, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let input: ServiceInput = read_json(&req, payload, ADMIN_BODY_LIMIT).await?;
    let spec = ServiceSpec::parse(input, "").map_err(ApiError::Invalid)?;
    let service = queries::create(&state.reads.db, &spec, state.reads.clock.now()).await?;
    refresh(&state).await;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/services/{}", service.slug)))
        .json(service))
}

/// Changes a service (admin).
#[utoipa::path(patch, path = "/v1/services/{slug}", tag = "admin", params(("slug" = String, Path)), request_body = crate::catalog::ServicePatchInput, security(("admin_token" = [])), responses((status = 200, body = crate::domain::Service), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, body = crate::error::Problem, content_type = "application/problem+json"), (status = 403, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
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
    let service = queries::update(
        &state.reads.db,
        slug.as_str(),
        &patch,
        state.reads.clock.now(),
    )
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("No service {:?}.", slug.as_str())))?;
    refresh(&state).await;
    Ok(HttpResponse::Ok().json(service))
}

/// Archives a service (admin): it takes no reports and leaves the lists.
#[utoipa::path(delete, path = "/v1/services/{slug}", tag = "admin", params(("slug" = String, Path)), security(("admin_token" = [])), responses((status = 204, description = "Archived"), (status = 401, body = crate::error::Problem, content_type = "application/problem+json"), (status = 403, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
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
    queries::update(
        &state.reads.db,
        slug.as_str(),
        &patch,
        state.reads.clock.now(),
    )
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
