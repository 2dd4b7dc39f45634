//! `GET /embed/{slug}` and `GET /embed/incident/{id}`: the chart alone, for an `<iframe>` in an
//! article, with attribution and a link back. The only pages other sites may frame.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::assets::{CSS, ICON, JS};
use super::{Framing, PageError, View, html as respond};
use crate::http::AppState;
use crate::query::headline::incident_headline;

#[derive(Deserialize)]
pub struct EmbedQuery {
    tz: Option<String>,
}

fn embed_page(
    view: &View,
    title: &str,
    chart: &str,
    alt: &str,
    link: &str,
    link_text: &str,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" data-tz=(view.zone.name()) data-tz-fixed[view.zone_fixed] {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · downwatch" }
                meta name="robots" content="noindex";
                link rel="icon" type="image/svg+xml" href=(ICON.path());
                link rel="stylesheet" href=(CSS.path());
                script src=(JS.path()) defer {}
            }
            body.embed {
                figure {
                    img src=(chart) data-tz-src width="960" height="480" alt=(alt);
                    figcaption {
                        "Source: "
                        a href=(link) target="_blank" rel="noopener" { "downwatch" }
                        ", crowd-sourced user reports. "
                        a href=(link) target="_blank" rel="noopener" { (link_text) }
                    }
                }
            }
        }
    }
}

pub async fn service(
    path: web::Path<String>,
    query: web::Query<EmbedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let view = View::new(&state, query.tz.as_deref());
    let (_, sv) = super::service::find(&state, &path).await?;
    let service = sv.service();
    let markup = embed_page(
        &view,
        &format!("{}: user-reported problems", service.name),
        &format!(
            "/v1/services/{}/chart.svg?range=24h&tz={}",
            service.slug,
            view.zone.name()
        ),
        &format!(
            "Chart of problem reports for {} over the last 24 hours.",
            service.name
        ),
        &format!("/s/{}", service.slug),
        &format!("Live status of {}", service.name),
    );
    Ok(respond(StatusCode::OK, markup, Framing::Anyone))
}

pub async fn incident(
    path: web::Path<String>,
    query: web::Query<EmbedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let view = View::new(&state, query.tz.as_deref());
    let (incident, service) = super::incident::find(&state, &path).await?;
    let headline = incident_headline(&incident, &service.name, view.zone);
    let markup = embed_page(
        &view,
        &headline,
        &format!(
            "/v1/incidents/{}/chart.svg?tz={}",
            incident.id,
            view.zone.name()
        ),
        &format!("Chart of problem reports: {headline}."),
        &format!("/incidents/{}", incident.id),
        "The incident in full",
    );
    Ok(respond(StatusCode::OK, markup, Framing::Anyone))
}
