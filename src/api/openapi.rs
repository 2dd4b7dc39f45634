//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations,
//! and `GET /docs`: a page listing every operation, served by the binary itself.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

use crate::http::resource;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{
    breakdown, charts, curve, events, feeds, incidents, interop, minutes, ops, reports, services,
    status, subscriptions,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "downwatch", description = "Crowd-sourced outage reports: ingest, detection, queries."),
    paths(
        ops::healthz, ops::readyz, ops::metrics,
        reports::submit,
        services::list, services::show, services::create, services::update, services::archive,
        minutes::minutes,
        breakdown::problems, breakdown::countries,
        status::board,
        curve::json_curve, curve::csv_curve,
        incidents::list, incidents::show,
        charts::service_chart, charts::incident_chart,
        interop::summary, interop::badge,
        feeds::all, feeds::service, feeds::provider,
        subscriptions::create, subscriptions::list, subscriptions::show, subscriptions::update,
        subscriptions::remove, subscriptions::test, subscriptions::deliveries,
        events::stream,
    ),
    components(schemas(
        crate::domain::IncidentEvent,
        crate::domain::PeakEvent,
        crate::domain::LevelEvent,
        crate::alerts::AlertEvent,
        crate::alerts::SlackMessage,
        crate::alerts::DiscordMessage,
        crate::alerts::AlertmanagerPayload,
    )),
    modifiers(&AdminToken)
)]
struct ApiDoc;

struct AdminToken;

impl utoipa::Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The report body's doc comment speaks to Rust readers (it links the function that
        // checks it); the document speaks to API clients.
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(body))) =
            components.schemas.get_mut("ReportBody")
        {
            body.description = Some(
                "A report as clients send it; every field is checked, and every bad one named."
                    .to_owned(),
            );
        }
    }
}

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/openapi.json").get(openapi_json))
        .service(resource("/docs").get(docs_page));
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(document())
}

/// A plain page of every operation, rendered on the server: no script, no CDN.
async fn docs_page() -> HttpResponse {
    let doc = document();
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(op) = operation {
                let summary = op
                    .summary
                    .clone()
                    .or_else(|| op.description.clone())
                    .unwrap_or_default();
                rows.push_str(&format!(
                    "<tr><td><code>{method}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    crate::chart::escape(path),
                    crate::chart::escape(&summary)
                ));
            }
        }
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>downwatch API</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body><h1>downwatch API</h1><p>The full document: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1).</p>\
         <table><thead><tr><th>Method</th><th>Path</th><th>What it does</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
    );
    // No style or script at all: the app-wide policy (nothing loads, no framing) applies.
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page)
}
