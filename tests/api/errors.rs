//! Every error answer of POST /v1/reports is problem+json naming the field.

use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn invalid_fields_are_named() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"problem": "login"}), "service"),
        (json!({"service": "chatgpt"}), "problem"),
        (
            json!({"service": "ChatGPT!", "problem": "login"}),
            "service",
        ),
        (
            json!({"service": "chatgpt", "problem": "login", "country": "ZZ"}),
            "country",
        ),
        (
            json!({"service": "chatgpt", "problem": "login", "country": "USA"}),
            "country",
        ),
        (
            json!({"service": "chatgpt", "problem": "login", "reporter": "short"}),
            "reporter",
        ),
        (
            json!({"service": "chatgpt", "problem": "login", "reporter": "has spaces in it"}),
            "reporter",
        ),
        (
            json!({"service": "chatgpt", "problem": "video-generation"}),
            "problem",
        ),
        (
            json!({"service": "chatgpt", "problem": "login", "ip": "1.2.3.4"}),
            "ip",
        ),
        (json!({"service": 42, "problem": "login"}), "service"),
    ];
    for (body, field) in cases {
        let reply = app.report(body.clone()).await;
        reply.assert_problem(400, Some(field));
        assert!(
            reply.json["detail"].as_str().unwrap().contains(field),
            "{body}: {}",
            reply.text
        );
    }
    let several = app
        .report(json!({"service": "", "problem": "", "country": "??"}))
        .await;
    several.assert_problem(400, Some("service"));
    assert_eq!(
        several.json["errors"].as_array().unwrap().len(),
        3,
        "all errors at once: {}",
        several.text
    );
    let wrong_kind = app
        .report(json!({"service": "chatgpt", "problem": "video-generation"}))
        .await;
    assert!(
        wrong_kind.text.contains("voice-mode"),
        "lists the allowed kinds: {}",
        wrong_kind.text
    );
}

#[actix_web::test]
async fn malformed_bodies_are_400_naming_the_body() {
    let app = TestApp::spawn().await;
    for raw in [
        &b"{\"service\": "[..],
        b"not json",
        b"[]",
        b"{} trailing",
        &[0xff, 0xfe][..],
        b"",
    ] {
        let reply = app
            .send_raw("/v1/reports", "application/json", raw.to_vec())
            .await;
        reply.assert_problem(400, Some("body"));
    }
}

#[actix_web::test]
async fn unknown_and_archived_services_are_404() {
    let app = TestApp::spawn().await;
    let reply = app
        .report(json!({"service": "no-such-service", "problem": "login"}))
        .await;
    reply.assert_problem(404, None);
    assert!(
        reply.json["detail"]
            .as_str()
            .unwrap()
            .contains("no-such-service")
    );

    assert_eq!(
        app.admin("DELETE", "/v1/services/sora", &json!(null))
            .await
            .status,
        204
    );
    let archived = app
        .report(json!({"service": "sora", "problem": "login"}))
        .await;
    archived.assert_problem(404, Some("service"));
    assert!(
        archived.json["detail"]
            .as_str()
            .unwrap()
            .contains("archived")
    );
}

#[actix_web::test]
async fn oversized_bodies_are_413_and_non_json_is_415() {
    let app = TestApp::spawn().await;
    let huge = json!({"service": "chatgpt", "problem": "login", "reporter": "x".repeat(5000)});
    app.report(huge).await.assert_problem(413, Some("body"));
    let reply = app
        .send_raw(
            "/v1/reports",
            "text/plain",
            b"service=chatgpt&problem=login".to_vec(),
        )
        .await;
    reply.assert_problem(415, Some("content-type"));
    app.send_raw(
        "/v1/reports",
        "application/x-www-form-urlencoded",
        b"a=b".to_vec(),
    )
    .await
    .assert_problem(415, Some("content-type"));
    // Structured-syntax JSON types are JSON.
    let reply = app
        .send_raw(
            "/v1/reports",
            "application/vnd.api+json",
            br#"{"service":"chatgpt","problem":"login"}"#.to_vec(),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
}

#[actix_web::test]
async fn bad_minute_ranges_and_unknown_routes_are_problems() {
    let app = TestApp::spawn().await;
    app.get("/v1/services/chatgpt/minutes?from=yesterday")
        .await
        .assert_problem(400, Some("from"));
    app.get("/v1/services/chatgpt/minutes?from=2025-06-10T06:00:00Z&to=2025-06-10T05:00:00Z")
        .await
        .assert_problem(400, Some("from"));
    app.get("/v1/services/chatgpt/minutes?from=2025-06-01T00:00:00Z&to=2025-06-10T00:00:00Z")
        .await
        .assert_problem(400, Some("to"));
    app.get("/v1/services/nope/minutes")
        .await
        .assert_problem(404, None);
    app.get("/v1/services/Bad%20Slug")
        .await
        .assert_problem(400, Some("slug"));
    app.get("/v1/nothing-here").await.assert_problem(404, None);
}

#[actix_web::test]
async fn a_404_under_v1_does_not_say_the_api_lives_under_v1() {
    let app = TestApp::spawn().await;
    for path in [
        "/v1",
        "/v1/nothing-here",
        "/v1/incidents/01975891-0000-7000-8000-000000000000",
        "/v1/services/nope",
        "/v1/services/nope/minutes",
    ] {
        let reply = app.get(path).await;
        reply.assert_problem(404, None);
        let detail = reply.json["detail"].as_str().unwrap();
        assert!(!detail.contains("lives under /v1"), "{path}: {detail}");
    }
    let outside = app.get("/api/services").await;
    outside.assert_problem(404, None);
    assert!(
        outside.json["detail"]
            .as_str()
            .unwrap()
            .contains("lives under /v1"),
        "{}",
        outside.text
    );
}

#[actix_web::test]
async fn a_bad_problem_kind_is_named_with_the_other_bad_fields() {
    let app = TestApp::spawn().await;
    let reply = app
        .report(json!({"service": "zoom", "problem": "voice", "country": "zz1", "reporter": "x"}))
        .await;
    reply.assert_problem(400, Some("problem"));
    let fields: Vec<&str> = reply.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["problem", "country", "reporter"], "{}", reply.text);
    let detail = reply.json["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"voice\" is not a problem kind of zoom")
            && !detail.contains("ProblemKind"),
        "{detail}"
    );
}

#[actix_web::test]
async fn wrong_methods_are_405_problems() {
    let app = TestApp::spawn().await;
    app.get("/v1/reports").await.assert_problem(405, None);
    app.send_json("PUT", "/v1/services", &json!({}), &[])
        .await
        .assert_problem(405, None);
    app.send_json("POST", "/healthz", &json!({}), &[])
        .await
        .assert_problem(405, None);
}
