//! Liveness, readiness and metrics.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use crate::http::{AppState, resource};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").get(healthz))
        .service(resource("/readyz").get(readyz))
        .service(resource("/metrics").get(metrics));
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process serves", body = Health)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Liveness.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    status: &'static str,
}

/// Readiness: each dependency `ok` or `unavailable`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`.
    status: &'static str,
    /// Each dependency's check.
    checks: Checks,
}

/// Dependency checks.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Checks {
    /// `ok` or `unavailable`.
    redis: &'static str,
    /// `ok` or `unavailable`.
    postgresql: &'static str,
}

/// Redis and PostgreSQL both answer; otherwise 503 naming the one(s) that do not.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Redis and PostgreSQL answer", body = Ready), (status = 503, description = "A dependency does not answer; `checks` says which", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let reads = &state.reads;
    let (redis, postgres) = tokio::join!(reads.windows.redis().ping(), reads.db.ping());
    let status = |r: &Result<(), _>| if r.is_ok() { "ok" } else { "unavailable" };
    let checks = Checks {
        redis: status(&redis),
        postgresql: status(&postgres),
    };
    if redis.is_ok() && postgres.is_ok() {
        return HttpResponse::Ok().json(Ready {
            status: "ready",
            checks,
        });
    }
    // Name the address and the cause of each failure (a fresh connection is tried for that).
    let (redis_why, postgres_why) = tokio::join!(
        async {
            match redis {
                Err(_) => Some(reads.windows.redis().diagnose().await.unwrap_or_else(|| {
                    "Redis did not answer in time, and answers again now".to_owned()
                })),
                Ok(()) => None,
            }
        },
        async {
            match postgres {
                Err(_) => Some(reads.db.diagnose().await.unwrap_or_else(|| {
                    "PostgreSQL did not answer in time, and answers again now".to_owned()
                })),
                Ok(()) => None,
            }
        }
    );
    let detail: Vec<String> = [redis_why, postgres_why].into_iter().flatten().collect();
    HttpResponse::ServiceUnavailable()
        .insert_header((CONTENT_TYPE, "application/problem+json"))
        .insert_header(("Retry-After", "2"))
        .body(
            json!({
                "type": "/problems/not-ready",
                "title": "Not ready",
                "status": 503,
                "detail": format!("{}.", detail.join("; ")),
                "checks": checks,
            })
            .to_string(),
        )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Some(open) = crate::http::descriptors::open_files() {
        metrics::gauge!("downwatch_open_files").set(open as f64);
    }
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(state.metrics.render())
}
