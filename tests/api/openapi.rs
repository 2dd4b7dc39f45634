//! The OpenAPI document lists every route, and every reference in it resolves.

use serde_json::Value;

use crate::helpers::TestApp;

/// Every route the server has, method and path.
const ROUTES: [(&str, &str); 32] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/v1/reports"),
    ("get", "/v1/services"),
    ("post", "/v1/services"),
    ("get", "/v1/services/{slug}"),
    ("patch", "/v1/services/{slug}"),
    ("delete", "/v1/services/{slug}"),
    ("get", "/v1/services/{slug}/minutes"),
    ("get", "/v1/services/{slug}/problems"),
    ("get", "/v1/services/{slug}/countries"),
    ("get", "/v1/status"),
    ("get", "/v1/services/{slug}/curve"),
    ("get", "/v1/services/{slug}/curve.csv"),
    ("get", "/v1/incidents"),
    ("get", "/v1/incidents/{id}"),
    ("get", "/v1/services/{slug}/chart.svg"),
    ("get", "/v1/incidents/{id}/chart.svg"),
    ("get", "/v1/statuspage/summary.json"),
    ("get", "/v1/services/{slug}/badge.json"),
    ("get", "/v1/events"),
    ("get", "/feeds/incidents.atom"),
    ("get", "/feeds/services/{slug}.atom"),
    ("get", "/feeds/providers/{provider}.atom"),
    ("get", "/v1/admin/subscriptions"),
    ("post", "/v1/admin/subscriptions"),
    ("get", "/v1/admin/subscriptions/{id}"),
    ("patch", "/v1/admin/subscriptions/{id}"),
    ("delete", "/v1/admin/subscriptions/{id}"),
    ("post", "/v1/admin/subscriptions/{id}/test"),
    ("get", "/v1/admin/subscriptions/{id}/deliveries"),
];

fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_openapi_document_covers_every_route_and_resolves() {
    let app = TestApp::spawn().await;
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let doc = &reply.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "the document lists a route the server does not have"
    );
    // Every route answers something other than "no such route".
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{slug}", "chatgpt")
            .replace("{id}", "00000000-0000-0000-0000-000000000000");
        if method == "get" && path != "/v1/events" {
            let reply = app.get(&concrete).await;
            assert!(
                reply.json["type"] != "/problems/not-found" || path.contains("{id}"),
                "{path}: {}",
                reply.text
            );
        }
    }
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .expect("schema refs only");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{target} does not resolve"
        );
    }
    assert!(
        serde_json::from_value::<utoipa::openapi::OpenApi>(doc.clone()).is_ok(),
        "parses as OpenAPI"
    );
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());

    let docs = app.get("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("<code>/v1/reports</code>") && docs.text.contains("/openapi.json"));
}

/// Every `description` and `summary` in the document, with where it is.
fn texts(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{at}/{key}");
                match inner {
                    Value::String(text) if key == "description" || key == "summary" => {
                        found.push((here, text.clone()));
                    }
                    _ => texts(inner, &here, found),
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                texts(inner, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[actix_web::test]
async fn descriptions_are_for_api_clients_not_rustdoc() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.json;
    let mut found = Vec::new();
    texts(&doc, "", &mut found);
    assert!(found.len() > 50, "{} descriptions", found.len());
    let rustdoc: Vec<&(String, String)> = found
        .iter()
        .filter(|(_, text)| text.contains("[`") || text.contains("`]"))
        .collect();
    assert!(rustdoc.is_empty(), "rustdoc link syntax: {rustdoc:#?}");
    let docs = app.get("/docs").await;
    assert!(!docs.text.contains("[`"), "{}", docs.text);
}
