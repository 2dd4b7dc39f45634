//! The benchmark's ceiling: the same actix-web server setup as downwatch with no work at all.
//!
//! Every POST answers 202 and every GET 200 with a small fixed JSON body, so the load
//! generator, the HTTP stack and the loopback are all that is measured. `bench/run.sh` runs it
//! beside downwatch and quotes every figure as a ratio to it. Not part of the product.
//!
//! `cargo run --release --example bare -- 127.0.0.1:18081`

use actix_web::http::Method;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

const ANSWER: &str = r#"{"id":"0198b3f0-0000-7000-8000-000000000000","service":"chatgpt","counted":true,"bucket":"2025-06-10T06:36:00Z"}"#;

/// 202 for a POST (its body read, as a real handler would), 200 for anything else.
async fn answer(req: HttpRequest, _body: web::Bytes) -> HttpResponse {
    let mut response = if req.method() == Method::POST {
        HttpResponse::Accepted()
    } else {
        HttpResponse::Ok()
    };
    response.content_type("application/json").body(ANSWER)
}

fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    // Same worker rule as downwatch: DOWNWATCH_WORKERS, or one per core.
    let workers = std::env::var("DOWNWATCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().default_service(web::to(answer)))
            .workers(workers)
            .bind(&address)?
            .run()
            .await
    })
}
