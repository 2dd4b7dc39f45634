//! The catalog API: public reads, admin writes.

use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp};

#[actix_web::test]
async fn the_shipped_catalog_is_seeded_and_public() {
    let app = TestApp::spawn().await;
    let list = app.get("/v1/services").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let services = list.json["services"].as_array().unwrap();
    assert!(services.len() >= 25, "{} services", services.len());
    assert_eq!(list.json["count"], services.len());

    let openai = app.get("/v1/services?provider=openai").await;
    let slugs: Vec<&str> = openai.json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["chatgpt", "openai-api", "sora"]);

    let chatgpt = app.get("/v1/services/chatgpt").await;
    assert_eq!(chatgpt.json["name"], "ChatGPT");
    assert_eq!(chatgpt.json["provider"], "openai");
    assert!(
        chatgpt.json["problems"]
            .as_array()
            .unwrap()
            .contains(&json!("voice-mode"))
    );
    app.get("/v1/services/nope").await.assert_problem(404, None);
    app.get("/v1/services?category=NOT%20A%20LABEL")
        .await
        .assert_problem(400, Some("category"));
}

#[actix_web::test]
async fn admin_creates_updates_and_archives_a_service() {
    let app = TestApp::spawn().await;
    let created = app
        .admin(
            "POST",
            "/v1/services",
            &json!({"slug": "bluesky", "name": "Bluesky", "category": "social"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("location"), Some("/v1/services/bluesky"));
    assert_eq!(
        created.json["provider"], "bluesky",
        "provider defaults to the slug"
    );
    assert_eq!(
        created.json["problems"],
        json!(["website", "app", "login", "connection", "other"])
    );
    // The new service takes reports at once on this instance.
    assert_eq!(
        app.report(json!({"service": "bluesky", "problem": "app"}))
            .await
            .status,
        202
    );

    let again = app
        .admin(
            "POST",
            "/v1/services",
            &json!({"slug": "bluesky", "name": "Again", "category": "social"}),
        )
        .await;
    again.assert_problem(409, None);

    let updated = app
        .admin(
            "PATCH",
            "/v1/services/bluesky",
            &json!({"name": "Bluesky Social", "problems": ["feed", "app"]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["name"], "Bluesky Social");
    assert_eq!(updated.json["problems"], json!(["feed", "app"]));
    assert_eq!(
        app.report(json!({"service": "bluesky", "problem": "feed", "reporter": "new-kind-01"}))
            .await
            .status,
        202
    );

    assert_eq!(
        app.admin("DELETE", "/v1/services/bluesky", &json!(null))
            .await
            .status,
        204
    );
    let archived = app.get("/v1/services/bluesky").await;
    assert_eq!(archived.json["archived"], true);
    let listed = app.get("/v1/services").await;
    assert!(
        !listed.text.contains("\"bluesky\""),
        "archived services leave the list"
    );
    assert!(
        app.get("/v1/services?include_archived=true")
            .await
            .text
            .contains("\"bluesky\"")
    );

    let restored = app
        .admin("PATCH", "/v1/services/bluesky", &json!({"archived": false}))
        .await;
    assert_eq!(restored.json["archived"], false);
    app.admin("PATCH", "/v1/services/ghost", &json!({"name": "Ghost"}))
        .await
        .assert_problem(404, None);
    app.admin("DELETE", "/v1/services/ghost", &json!(null))
        .await
        .assert_problem(404, None);
}

#[actix_web::test]
async fn admin_input_errors_name_the_field() {
    let app = TestApp::spawn().await;
    let bad = app
        .admin(
            "POST",
            "/v1/services",
            &json!({"slug": "../etc", "name": "", "category": "ai", "problems": []}),
        )
        .await;
    bad.assert_problem(400, Some("slug"));
    bad.assert_problem(400, Some("name"));
    bad.assert_problem(400, Some("problems"));
    app.admin(
        "POST",
        "/v1/services",
        &json!({"slug": "a", "name": "A", "category": "ai", "owner": "me"}),
    )
    .await
    .assert_problem(400, Some("owner"));
    app.admin(
        "PATCH",
        "/v1/services/chatgpt",
        &json!({"provider": "Open AI"}),
    )
    .await
    .assert_problem(400, Some("provider"));
}

#[actix_web::test]
async fn admin_endpoints_need_the_token() {
    let app = TestApp::spawn().await;
    let body = json!({"slug": "bluesky", "name": "Bluesky", "category": "social"});
    let missing = app.send_json("POST", "/v1/services", &body, &[]).await;
    missing.assert_problem(401, None);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let wrong = format!("Bearer {ADMIN_TOKEN}x");
    for method in ["POST", "PATCH", "DELETE"] {
        let path = if method == "POST" {
            "/v1/services"
        } else {
            "/v1/services/chatgpt"
        };
        let reply = app
            .send_json(method, path, &body, &[("authorization", &wrong)])
            .await;
        reply.assert_problem(401, None);
        assert!(
            !reply.text.contains(ADMIN_TOKEN),
            "the token never appears in answers"
        );
    }
    assert_eq!(
        app.get("/v1/services/chatgpt").await.json["archived"],
        false
    );
}

#[actix_web::test]
async fn admin_endpoints_are_403_when_no_token_is_configured() {
    let app = TestApp::builder()
        .var("DOWNWATCH_ADMIN_TOKEN", "<unset>")
        .spawn()
        .await;
    let body = json!({"slug": "bluesky", "name": "Bluesky", "category": "social"});
    let reply = app
        .send_json(
            "POST",
            "/v1/services",
            &body,
            &[("authorization", "Bearer whatever-token-here")],
        )
        .await;
    reply.assert_problem(403, None);
    assert!(
        reply.json["detail"]
            .as_str()
            .unwrap()
            .contains("DOWNWATCH_ADMIN_TOKEN")
    );
    app.send_json("DELETE", "/v1/services/chatgpt", &body, &[])
        .await
        .assert_problem(403, None);
}

#[actix_web::test]
async fn services_carry_their_official_status_page() {
    let app = TestApp::spawn().await;
    let chatgpt = app.get("/v1/services/chatgpt").await;
    assert_eq!(chatgpt.json["status_page"], "https://status.openai.com/");
    assert_eq!(chatgpt.json["provider_name"], "OpenAI");
    let unknown = app.get("/v1/services/tiktok").await;
    assert!(unknown.json["status_page"].is_null(), "{}", unknown.text);

    let created = app
        .admin(
            "POST",
            "/v1/services",
            &json!({"slug": "bluesky", "name": "Bluesky", "category": "social",
                    "status_page": "https://status.bsky.app"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["status_page"], "https://status.bsky.app/");
    let renamed = app
        .admin(
            "PATCH",
            "/v1/services/bluesky",
            &json!({"name": "Bluesky Social"}),
        )
        .await;
    assert_eq!(
        renamed.json["status_page"], "https://status.bsky.app/",
        "a patch without it keeps it"
    );
    let named = app
        .admin(
            "PATCH",
            "/v1/services/bluesky",
            &json!({"provider_name": "Bluesky Social PBC"}),
        )
        .await;
    assert_eq!(
        named.json["provider_name"], "Bluesky Social PBC",
        "{}",
        named.text
    );
    let cleared = app
        .admin(
            "PATCH",
            "/v1/services/bluesky",
            &json!({"status_page": "", "provider_name": ""}),
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert!(cleared.json["status_page"].is_null(), "{}", cleared.text);
    assert!(cleared.json["provider_name"].is_null(), "{}", cleared.text);
    app.admin(
        "PATCH",
        "/v1/services/bluesky",
        &json!({"status_page": "http://status.bsky.app"}),
    )
    .await
    .assert_problem(400, Some("status_page"));

    let page = app.get("/s/chatgpt").await;
    assert!(
        page.text.contains(
            "Official status: <a href=\"https://status.openai.com/\" rel=\"noopener external\">status.openai.com</a>"
        ),
        "{}",
        page.text
    );
    let without = app.get("/s/tiktok").await;
    assert!(!without.text.contains("Official status"));
}
