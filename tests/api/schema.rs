//! Every documented JSON answer matches its schema in `/openapi.json`.
//!
//! The document is generated from the response types the handlers return, so it can only
//! drift where a handler answers with something else than it declares, or where a type's
//! schema is written by hand (`value_type`, `serialize_with`). This test catches both: it fills
//! an instance with a service in an incident, fetches a real answer from every documented JSON
//! route, and validates each against the route's 200 (or 202) schema with a JSON Schema
//! validator. Objects are closed for the check (`unevaluatedProperties: false`), so a field the
//! schema does not name fails as surely as a missing required one.

use boon::{Compiler, Schemas};
use downwatch::alerts::{Dispatcher, TargetPolicy};
use downwatch::clock::Clock;
use downwatch::detect::Level;
use downwatch::domain::ServiceSlug;
use downwatch::monitor::Status;
use serde_json::{Value, json};

use crate::helpers::{TestApp, seed_onset};
use crate::incidents::store;

/// Where the document is registered with the validator (any absolute URL does).
const BASE: &str = "http://downwatch.test/openapi.json";

/// Puts the monitor's status on `slug`, pointing at `incident`.
async fn set_outage(app: &TestApp, slug: &str, incident: uuid::Uuid) {
    let status = Status {
        level: Level::Outage,
        since: Some(seed_onset()),
        reports_15m: 2000,
        baseline_15m: 40.0,
        incident_id: Some(incident),
        evaluated_at: app.clock.now(),
    };
    app.state
        .reads
        .windows
        .write_statuses(&[(
            ServiceSlug::parse(slug).unwrap(),
            serde_json::to_string(&status).unwrap(),
        )])
        .await
        .unwrap();
}

/// Closes every object schema (`unevaluatedProperties: false`) except the parts of an
/// `allOf` (a flattened struct): there the whole is closed, since a part alone sees only its own
/// properties.
fn close_objects(doc: &mut Value) {
    let mut parts = Vec::new();
    allof_refs(doc, &mut parts);
    let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
    for (name, schema) in schemas.iter_mut() {
        let shared_part = parts.contains(&format!("#/components/schemas/{name}"));
        close(schema, !shared_part);
    }
    for path in doc["paths"].as_object_mut().unwrap().values_mut() {
        close(path, true);
    }
}

/// The components referenced directly as parts of an `allOf`.
fn allof_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(parts)) = map.get("allOf") {
                found.extend(
                    parts
                        .iter()
                        .filter_map(|p| p["$ref"].as_str().map(str::to_owned)),
                );
            }
            map.values().for_each(|v| allof_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| allof_refs(v, found)),
        _ => {}
    }
}

fn close(schema: &mut Value, this_level: bool) {
    match schema {
        Value::Object(map) => {
            let object = map.contains_key("properties") || map.contains_key("allOf");
            if this_level && object && !map.contains_key("unevaluatedProperties") {
                map.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            for (key, value) in map.iter_mut() {
                if key == "allOf" {
                    // The parts: their own nested objects are closed, they are not.
                    if let Value::Array(parts) = value {
                        parts.iter_mut().for_each(|p| close(p, false));
                    }
                } else {
                    close(value, true);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| close(v, true)),
        _ => {}
    }
}

/// The schema of `path`'s answer with `status` for `method`, registered under a name.
fn route_schema(doc: &mut Value, method: &str, path: &str, status: &str) -> String {
    let schema =
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            .clone();
    assert!(
        schema.is_object(),
        "{method} {path} documents no JSON schema for {status}"
    );
    let name = format!(
        "route_{}",
        doc["components"]["schemas"].as_object().unwrap().len()
    );
    doc["components"]["schemas"][&name] = schema;
    format!("{BASE}#/components/schemas/{name}")
}

/// Validates `body` against the schema at `location` of the document.
fn check(doc: &Value, location: &str, body: &Value) -> Result<(), String> {
    let mut compiler = Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource(BASE, doc.clone())
        .map_err(|e| format!("{e:#}"))?;
    let mut schemas = Schemas::new();
    let index = compiler
        .compile(location, &mut schemas)
        .map_err(|e| format!("schema does not compile: {e:#}"))?;
    schemas.validate(body, index).map_err(|e| format!("{e:#}"))
}

#[actix_web::test]
async fn every_documented_json_answer_matches_its_schema() {
    let app = TestApp::builder()
        .var("DOWNWATCH_WEBHOOK_ALLOW_HTTP", "true")
        .var("DOWNWATCH_WEBHOOK_ALLOW_PRIVATE", "true")
        .spawn()
        .await;
    for (problem, country) in [("voice-mode", "US"), ("login", "KR"), ("app", "US")] {
        let reply = app
            .report(json!({"service": "chatgpt", "problem": problem, "country": country}))
            .await;
        assert!(reply.status == 202 || reply.status == 200, "{}", reply.text);
    }
    let started = app.clock.now() - chrono::TimeDelta::minutes(30);
    let open = store(&app, "chatgpt", started, None, 2014).await;
    let ended = started + chrono::TimeDelta::minutes(20);
    store(&app, "openai-api", started, Some(ended), 300).await;
    set_outage(&app, "chatgpt", open).await;

    let mut doc = app.get("/openapi.json").await.json;
    close_objects(&mut doc);
    let mut cases: Vec<(String, String, Value)> = Vec::new();
    let routes = [
        ("/healthz", "/healthz".to_owned()),
        ("/readyz", "/readyz".to_owned()),
        ("/v1/services", "/v1/services".to_owned()),
        ("/v1/services/{slug}", "/v1/services/chatgpt".to_owned()),
        (
            "/v1/services/{slug}/minutes",
            "/v1/services/chatgpt/minutes".to_owned(),
        ),
        (
            "/v1/services/{slug}/problems",
            "/v1/services/chatgpt/problems?step=15m".to_owned(),
        ),
        (
            "/v1/services/{slug}/countries",
            "/v1/services/chatgpt/countries".to_owned(),
        ),
        ("/v1/status", "/v1/status".to_owned()),
        (
            "/v1/services/{slug}/curve",
            "/v1/services/chatgpt/curve?step=1h".to_owned(),
        ),
        ("/v1/incidents", "/v1/incidents?limit=1".to_owned()),
        (
            "/v1/incidents/{id}",
            format!("/v1/incidents/{open}?tz=America/New_York"),
        ),
        (
            "/v1/statuspage/summary.json",
            "/v1/statuspage/summary.json".to_owned(),
        ),
        (
            "/v1/services/{slug}/badge.json",
            "/v1/services/chatgpt/badge.json".to_owned(),
        ),
    ];
    for (path, concrete) in routes {
        let reply = app.get(&concrete).await;
        assert_eq!(reply.status, 200, "{concrete}: {}", reply.text);
        let location = route_schema(&mut doc, "get", path, "200");
        cases.push((concrete, location, reply.json));
    }
    // Alerts: a subscription (its creation shows the secret), a test delivery and one failed
    // attempt at it (nobody listens on the discard port).
    let created = app
        .admin(
            "POST",
            "/v1/admin/subscriptions",
            &json!({"name": "schema", "url": "http://127.0.0.1:9/hook", "format": "json"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let location = route_schema(&mut doc, "post", "/v1/admin/subscriptions", "201");
    let subscription = created.json["id"].as_str().unwrap().to_owned();
    cases.push((
        "POST /v1/admin/subscriptions".into(),
        location,
        created.json,
    ));
    let test = app
        .admin(
            "POST",
            &format!("/v1/admin/subscriptions/{subscription}/test"),
            &json!(null),
        )
        .await;
    assert_eq!(test.status, 202, "{}", test.text);
    let location = route_schema(&mut doc, "post", "/v1/admin/subscriptions/{id}/test", "202");
    cases.push(("POST .../test".into(), location, test.json));
    Dispatcher::new(
        app.state.reads.db.clone(),
        app.clock.clone(),
        TargetPolicy {
            allow_http: true,
            allow_private: true,
        },
        app.address.clone(),
        std::time::Duration::from_secs(2),
    )
    .tick()
    .await
    .unwrap();
    for (path, concrete) in [
        (
            "/v1/admin/subscriptions",
            "/v1/admin/subscriptions".to_owned(),
        ),
        (
            "/v1/admin/subscriptions/{id}",
            format!("/v1/admin/subscriptions/{subscription}"),
        ),
        (
            "/v1/admin/subscriptions/{id}/deliveries",
            format!("/v1/admin/subscriptions/{subscription}/deliveries"),
        ),
    ] {
        let reply = app.admin("GET", &concrete, &json!(null)).await;
        assert_eq!(reply.status, 200, "{concrete}: {}", reply.text);
        let location = route_schema(&mut doc, "get", path, "200");
        cases.push((concrete, location, reply.json));
    }
    let log = &cases.last().unwrap().2;
    let tried = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event"] == "test")
        .unwrap();
    assert_eq!(tried["attempts"].as_array().unwrap().len(), 1, "{log}");

    let report = app
        .report(json!({"service": "sora", "problem": "login", "reporter": "schema-check-1"}))
        .await;
    assert_eq!(report.status, 202, "{}", report.text);
    let location = route_schema(&mut doc, "post", "/v1/reports", "202");
    cases.push(("POST /v1/reports".into(), location, report.json));

    // The answers hold what makes the check worth something: an incident, a status, a series.
    let board = &cases.iter().find(|c| c.0 == "/v1/status").unwrap().2;
    assert_eq!(board["services"][0]["status"]["level"], "outage", "{board}");
    let incidents = &cases
        .iter()
        .find(|c| c.0.starts_with("/v1/incidents?"))
        .unwrap()
        .2;
    assert_eq!(incidents["incidents"].as_array().unwrap().len(), 1);
    assert!(incidents["next_cursor"].is_string(), "{incidents}");

    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(route, location, body)| {
            check(&doc, location, body)
                .err()
                .map(|e| format!("{route}: {e}\n{body}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[actix_web::test]
async fn the_check_fails_on_a_field_the_schema_does_not_name() {
    let app = TestApp::spawn().await;
    let mut doc = app.get("/openapi.json").await.json;
    close_objects(&mut doc);
    let location = route_schema(&mut doc, "get", "/healthz", "200");
    assert!(check(&doc, &location, &json!({"status": "ok"})).is_ok());
    let renamed = check(&doc, &location, &json!({"state": "ok"}));
    assert!(renamed.is_err(), "a renamed field must fail the check");
    let extra = check(&doc, &location, &json!({"status": "ok", "uptime": 3}));
    assert!(extra.is_err(), "an undocumented field must fail the check");
}
