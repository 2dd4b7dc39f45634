//! What the two HTTP adapters (`api/` for programs, `web/` for people) share: the per-instance
//! state they read, the read cache, the admin token check, and parsers of request parameters.
//!
//! Nothing here renders a route: `api/` and `web/` never import each other, and both import
//! this module and the queries in `query/`.

pub mod admin;
pub mod deadline;
pub mod descriptors;
pub mod params;
pub mod read_cache;
mod state;
pub mod streams;

pub use admin::AdminAuth;
pub use state::AppState;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// A resource whose unsupported methods answer 405 problem+json (actix's own 405 has no body).
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
