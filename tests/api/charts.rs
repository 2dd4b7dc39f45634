//! SVG charts: valid documents with title, axes, attribution, incident shading, escaped text.

use chrono::TimeDelta;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::json;

use crate::helpers::{Reply, TestApp, seed_onset};
use crate::incidents::store;

/// Parses the whole document; panics on malformed XML. Returns the root element's name.
fn parse_svg(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("image/svg+xml"));
    let mut reader = Reader::from_str(&reply.text);
    let mut root = None;
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Start(e) if root.is_none() => {
                root = Some(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.expect("a root element")
}

/// The time axis's labels, in order.
fn tick_labels(svg: &str) -> Vec<String> {
    svg.split("class=\"tick\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('>'))
        .filter_map(|(_, text)| text.split_once("</text>"))
        .map(|(label, _)| label.to_owned())
        .collect()
}

#[actix_web::test]
async fn a_service_chart_is_a_valid_titled_svg_with_axes_and_attribution() {
    let app = TestApp::spawn().await;
    let reply = app
        .get("/v1/services/chatgpt/chart.svg?tz=America/New_York")
        .await;
    assert_eq!(parse_svg(&reply), "svg");
    let svg = &reply.text;
    assert!(svg.contains("<title id=\"chart-title\">ChatGPT: user-reported problems</title>"));
    assert!(svg.contains("Source: downwatch"));
    assert!(svg.contains("(America/New_York)"));
    assert_eq!(
        svg.matches("class=\"bar\"").count(),
        96,
        "24 hours at 15 minutes"
    );
    assert!(svg.matches("class=\"tick\"").count() >= 5, "a time axis");
    assert!(svg.contains("class=\"baseline\""));
    // The 24 hours start at a quarter hour; the labels still fall on round hours.
    let labels = tick_labels(svg);
    assert!(
        labels.len() >= 5
            && labels
                .iter()
                .all(|l| l.ends_with(":00 AM") || l.ends_with(":00 PM")),
        "{labels:?}"
    );
    let utc = app.get("/v1/services/chatgpt/chart.svg").await;
    assert!(
        utc.text.contains(" UTC</text>") && !utc.text.contains("UTC (UTC)"),
        "the zone is named once: {}",
        utc.text
    );
    assert!(tick_labels(&utc.text).iter().all(|l| l.contains(":00 ")));

    let long = app.get("/v1/services/chatgpt/chart.svg?range=90d").await;
    assert_eq!(parse_svg(&long), "svg");
    assert!(
        long.text.contains("class=\"area\""),
        "90 days of hours are drawn as an area"
    );
    app.get("/v1/services/chatgpt/chart.svg?range=1w")
        .await
        .assert_problem(400, Some("range"));
}

#[actix_web::test]
async fn names_with_markup_are_escaped_in_charts() {
    let app = TestApp::spawn().await;
    let hostile = json!({"slug": "evil", "name": "<script>alert(1)</script>", "category": "ai"});
    assert_eq!(
        app.admin("POST", "/v1/services", &hostile).await.status,
        201
    );
    let reply = app.get("/v1/services/evil/chart.svg").await;
    assert_eq!(parse_svg(&reply), "svg");
    assert!(!reply.text.contains("<script>"));
    assert!(reply.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[actix_web::test]
async fn an_incident_chart_carries_its_headline_and_shading() {
    let app = TestApp::builder()
        .start_at(seed_onset() + TimeDelta::hours(8))
        .spawn()
        .await;
    let id = store(
        &app,
        "chatgpt",
        seed_onset(),
        Some(seed_onset() + TimeDelta::hours(5)),
        2014,
    )
    .await;
    let reply = app
        .get(&format!("/v1/incidents/{id}/chart.svg?tz=America/New_York"))
        .await;
    assert_eq!(parse_svg(&reply), "svg");
    assert!(reply.text.contains(
        "ChatGPT: problem reports rose from 2:36 AM EDT (detected 2:38 AM EDT) and peaked at \
         2,014 around 3:15 AM EDT"
    ));
    assert!(reply.text.contains("class=\"incident\""));
    app.get("/v1/incidents/nope/chart.svg")
        .await
        .assert_problem(400, Some("id"));
}
