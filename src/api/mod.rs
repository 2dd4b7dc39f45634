//! The JSON API for programs, grouped by resource. Handlers are thin: parse the request, call a
//! use case (`ingest`) or a query (`query`), and answer with a typed body whose OpenAPI schema
//! is derived from the same struct. Every error leaves as problem+json (see `error`).

mod body;
mod breakdown;
mod charts;
mod curve;
mod curve_json;
mod events;
mod feeds;
mod incidents;
mod interop;
mod minutes;
pub mod openapi;
mod ops;
mod reports;
mod services;
mod shares;
mod status;
mod subscriptions;

use actix_web::web;

use crate::error::ApiError;

/// The intake listener's routes (`DOWNWATCH_INTAKE_BIND`): reports and the health, readiness
/// and metrics endpoints, nothing a read flood could use.
pub fn intake(cfg: &mut web::ServiceConfig) {
    cfg.configure(ops::routes).configure(reports::routes);
}

/// Registers every route and the error shaping of actix's own extractors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| {
        let message = err.to_string();
        // serde names the parameter between backticks (`duplicate field `step``).
        let field = message.split('`').nth(1).unwrap_or("query").to_owned();
        ApiError::field(field, message).into()
    }))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::field("path", err.to_string()).into()),
    )
    .configure(ops::routes)
    .configure(reports::routes)
    .configure(services::routes)
    .configure(minutes::routes)
    .configure(status::routes)
    .configure(incidents::routes)
    .configure(curve::routes)
    .configure(interop::routes)
    .configure(charts::routes)
    .configure(events::routes)
    .configure(openapi::routes)
    .configure(breakdown::routes)
    .configure(feeds::routes)
    .configure(subscriptions::routes);
}
