//! Alert subscriptions (admin): create, list, change, delete, send a test event, read the
//! delivery log. The signing secret is shown once, in the answer to the creation.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use serde::Serialize;
use uuid::Uuid;

use super::body::read_json;
use crate::alerts::{
    AlertEvent, AlertIncident, AlertKind, AlertLinks, AlertService, NewSubscription, Subscription,
    SubscriptionInput, SubscriptionPatch, SubscriptionPatchInput, new_secret, render,
};
use crate::db::alerts::{self as stored, DeliveryLog, NewDelivery};
use crate::domain::Level;
use crate::error::ApiError;
use crate::http::{AppState, resource};

const ADMIN_BODY_LIMIT: usize = 16 * 1024;
/// Deliveries the log shows.
const LOG_LENGTH: i64 = 100;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/admin/subscriptions").get(list).post(create))
        .service(
            resource("/v1/admin/subscriptions/{id}")
                .get(show)
                .patch(update)
                .delete(remove),
        )
        .service(resource("/v1/admin/subscriptions/{id}/test").post(test))
        .service(resource("/v1/admin/subscriptions/{id}/deliveries").get(deliveries));
}

/// A new subscription with its signing secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Created {
    /// The subscription.
    #[serde(flatten)]
    subscription: Subscription,
    /// Verifies `webhook-signature` (HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`
    /// keyed with the base64 after `whsec_`). Shown only now.
    secret: String,
}

/// Every subscription.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    /// Oldest first.
    subscriptions: Vec<Subscription>,
}

/// A subscription's recent deliveries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    /// Newest first, each with its attempts.
    deliveries: Vec<DeliveryLog>,
}

/// A test delivery was queued.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestQueued {
    /// Its `webhook-id`; it appears in the delivery log.
    webhook_id: Uuid,
}

fn id_param(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field("id", "must be a subscription id (a UUID)"))
}

fn missing(id: Uuid) -> ApiError {
    ApiError::NotFound(format!(
        "No subscription {id}; GET /v1/admin/subscriptions lists them."
    ))
}

/// The subscription with `id`, or a 404 saying where to find them.
async fn existing(state: &AppState, id: Uuid) -> Result<Subscription, ApiError> {
    let found = stored::find(&state.reads.db, id).await?;
    found
        .map(|(subscription, _)| subscription)
        .ok_or_else(|| missing(id))
}

/// Checks the target against the delivery policy, now (its addresses included).
async fn check_target(state: &AppState, url: &str) -> Result<(), ApiError> {
    state
        .webhook_policy
        .check_target(url)
        .await
        .map(drop)
        .map_err(|e| ApiError::field("url", format!("the target {e}")))
}

/// Subscribes a target to incident changes (admin).
#[utoipa::path(post, path = "/v1/admin/subscriptions", tag = "admin", request_body = SubscriptionInput, security(("admin_token" = [])), responses((status = 201, body = Created), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, body = crate::error::Problem, content_type = "application/problem+json"), (status = 403, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let input: SubscriptionInput = read_json(&req, payload, ADMIN_BODY_LIMIT).await?;
    let new = NewSubscription::parse(input).map_err(ApiError::Invalid)?;
    check_target(&state, &new.url).await?;
    let secret = new_secret();
    let subscription =
        stored::create(&state.reads.db, &new, &secret, state.reads.clock.now()).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            LOCATION,
            format!("/v1/admin/subscriptions/{}", subscription.id),
        ))
        .json(Created {
            subscription,
            secret,
        }))
}

/// Every subscription (admin).
#[utoipa::path(get, path = "/v1/admin/subscriptions", tag = "admin", security(("admin_token" = [])), responses((status = 200, body = SubscriptionList), (status = 401, body = crate::error::Problem, content_type = "application/problem+json"), (status = 403, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let subscriptions = stored::list(&state.reads.db).await?;
    Ok(HttpResponse::Ok().json(SubscriptionList { subscriptions }))
}

/// One subscription (admin).
#[utoipa::path(get, path = "/v1/admin/subscriptions/{id}", tag = "admin", params(("id" = Uuid, Path)), security(("admin_token" = [])), responses((status = 200, body = Subscription), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let id = id_param(&path)?;
    let subscription = existing(&state, id).await?;
    Ok(HttpResponse::Ok().json(subscription))
}

/// Changes a subscription (admin); enabling a paused one clears its pause.
#[utoipa::path(patch, path = "/v1/admin/subscriptions/{id}", tag = "admin", params(("id" = Uuid, Path)), request_body = SubscriptionPatchInput, security(("admin_token" = [])), responses((status = 200, body = Subscription), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let id = id_param(&path)?;
    let input: SubscriptionPatchInput = read_json(&req, payload, ADMIN_BODY_LIMIT).await?;
    let patch = SubscriptionPatch::parse(input).map_err(ApiError::Invalid)?;
    if let Some(url) = &patch.url {
        check_target(&state, url).await?;
    }
    let subscription = stored::update(&state.reads.db, id, &patch, state.reads.clock.now())
        .await?
        .ok_or_else(|| missing(id))?;
    Ok(HttpResponse::Ok().json(subscription))
}

/// Deletes a subscription and its delivery log (admin).
#[utoipa::path(delete, path = "/v1/admin/subscriptions/{id}", tag = "admin", params(("id" = Uuid, Path)), security(("admin_token" = [])), responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn remove(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let id = id_param(&path)?;
    if !stored::delete(&state.reads.db, id).await? {
        return Err(missing(id));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Queues a test event for a subscription (admin); it is delivered like any other.
#[utoipa::path(post, path = "/v1/admin/subscriptions/{id}/test", tag = "admin", params(("id" = Uuid, Path)), security(("admin_token" = [])), responses((status = 202, body = TestQueued), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn test(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let id = id_param(&path)?;
    let subscription = existing(&state, id).await?;
    let now = state.reads.clock.now();
    let event = test_event(&state.public_url, now);
    let webhook_id = Uuid::now_v7();
    let delivery = NewDelivery {
        subscription_id: subscription.id,
        update_id: None,
        webhook_id,
        event: event.event_type.clone(),
        body: render(subscription.format, &event).to_string(),
    };
    stored::queue(&state.reads.db, &[delivery], &[], now).await?;
    Ok(HttpResponse::Accepted().json(TestQueued { webhook_id }))
}

/// A made-up incident, plainly labelled as a test.
fn test_event(public_url: &str, now: chrono::DateTime<chrono::Utc>) -> AlertEvent {
    let id = Uuid::nil();
    AlertEvent {
        event_type: "test".to_owned(),
        kind: AlertKind::Opened,
        at: now,
        level: Level::Elevated,
        headline: "Test: this is what a downwatch alert looks like".to_owned(),
        service: AlertService {
            slug: "test".to_owned(),
            name: "Test service".to_owned(),
            provider: "downwatch".to_owned(),
            category: "test".to_owned(),
        },
        incident: AlertIncident {
            id,
            began_at: now - TimeDelta::minutes(3),
            started_at: now,
            ended_at: None,
            highest_level: Level::Elevated,
            peak_bin_count: 0,
            total_reports: 0,
        },
        links: AlertLinks {
            incident: format!("{public_url}/"),
            chart: format!("{public_url}/"),
            csv: format!("{public_url}/"),
        },
    }
}

/// A subscription's recent deliveries with every attempt (admin).
#[utoipa::path(get, path = "/v1/admin/subscriptions/{id}/deliveries", tag = "admin", params(("id" = Uuid, Path)), security(("admin_token" = [])), responses((status = 200, body = DeliveryList), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn deliveries(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.admin.authorize(&req)?;
    let id = id_param(&path)?;
    existing(&state, id).await?;
    let deliveries = stored::log(&state.reads.db, id, LOG_LENGTH).await?;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries }))
}
