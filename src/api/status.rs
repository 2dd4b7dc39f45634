//! `GET /v1/status`: what is wrong right now.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::http::read_cache::Rendered;
use crate::http::{AppState, resource};
use crate::query::status::{Board, board as load_board};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/status").get(board));
}

/// Every service not at `normal`, most severe first, with providers grouped.
#[utoipa::path(get, path = "/v1/status", tag = "queries", responses((status = 200, body = Board), (status = 503, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn board(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .read_cache
        .respond(&req, "status".into(), || async {
            let board = load_board(&state.reads).await?;
            Ok(Rendered::json(&board, "public, max-age=5"))
        })
        .await
}
