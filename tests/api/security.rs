//! Security properties over HTTP: headers on every answer, an admin check with no oracle, no
//! header or copied snippet carrying what a client wrote, and form errors that are pages.

use chrono::TimeDelta;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp, seed_onset};
use crate::incidents::store;

/// Asserts the headers every answer carries; only the embeds may be framed.
fn assert_security_headers(what: &str, headers: &awc::http::header::HeaderMap) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(get("x-content-type-options"), Some("nosniff"), "{what}");
    // Pages keep their referrer to their own origin (so the report form's `Origin` is real),
    // and give none to other sites; everything else gives none at all.
    let referrer = get("referrer-policy");
    let page = get("content-type").is_some_and(|t| t.starts_with("text/html"));
    assert!(
        referrer == Some("no-referrer") || (page && referrer == Some("same-origin")),
        "{what}: {referrer:?}"
    );
    let csp = get("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    if csp.contains("frame-ancestors *") {
        assert!(what.contains("/embed/"), "{what} may be framed: {csp}");
        assert_eq!(get("x-frame-options"), None, "{what}");
    } else {
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert_eq!(get("x-frame-options"), Some("DENY"), "{what}");
    }
}

#[actix_web::test]
async fn security_headers_are_on_every_answer_success_or_error() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1")
        .start_at(seed_onset() + TimeDelta::hours(8))
        .spawn()
        .await;
    let id = store(&app, "chatgpt", seed_onset(), None, 120).await;
    // Every documented GET path, with its parameters filled in.
    let doc = app.get("/openapi.json").await;
    let mut paths: Vec<String> = doc.json["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, ops)| ops.get("get").is_some())
        .map(|(path, _)| {
            path.replace("{slug}", "chatgpt")
                .replace("{id}", &id.to_string())
        })
        .filter(|path| path != "/v1/events")
        .collect();
    assert!(paths.len() >= 15, "{paths:?}");
    paths.extend(
        [
            "/",
            "/s/chatgpt",
            "/embed/chatgpt",
            "/s/nope",
            "/no/such/page",
            "/v1/nothing",
            "/v1/services/Bad%20Slug",
            "/v1/services/chatgpt/minutes?from=yesterday",
            "/v1/incidents?limit=%ff",
            "/assets/app.000000000000.css",
            "/favicon.ico",
            "/healthz",
            "/readyz",
            "/metrics",
            "/docs",
        ]
        .map(String::from),
    );
    paths.push(format!("/incidents/{id}"));
    paths.push(format!("/embed/incident/{id}"));
    let board = app.get("/").await.text;
    let start = board.find("/assets/app.").unwrap();
    paths.push(board[start..start + board[start..].find('"').unwrap()].to_owned());
    let client = awc::Client::builder().disable_redirects().finish();
    for path in &paths {
        for accept in ["application/json", "text/html"] {
            let response = client
                .get(format!("{}{path}", app.address))
                .insert_header(("accept", accept))
                .send()
                .await
                .unwrap();
            assert_security_headers(&format!("GET {path} ({accept})"), response.headers());
        }
    }
    // The event stream: headers come before the first event.
    let stream = client
        .get(format!("{}/v1/events", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_security_headers("GET /v1/events", stream.headers());
    drop(stream);
    // Writes and their errors: 202, 429, 400, 413, 415, 405, 401, 201, 303 and the form's 400.
    let report = json!({"service": "chatgpt", "problem": "login"});
    let post = |path: &'static str, content_type: &'static str, body: Vec<u8>| {
        client
            .post(format!("{}{path}", app.address))
            .insert_header(("content-type", content_type))
            .send_body(body)
    };
    let bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/v1/reports", "application/json", report.to_string().into()),
        ("/v1/reports", "application/json", report.to_string().into()),
        ("/v1/reports", "application/json", b"{".to_vec()),
        ("/v1/reports", "application/json", vec![b' '; 5000]),
        ("/v1/reports", "text/plain", b"x".to_vec()),
        ("/v1/services", "application/json", b"{}".to_vec()),
        ("/healthz", "application/json", b"{}".to_vec()),
        (
            "/s/chatgpt/report",
            "application/x-www-form-urlencoded",
            b"problem=login".to_vec(),
        ),
        ("/s/chatgpt/report", "application/json", b"{}".to_vec()),
    ];
    let mut statuses = Vec::new();
    for (path, content_type, body) in bodies {
        let response = post(path, content_type, body).await.unwrap();
        statuses.push(response.status().as_u16());
        assert_security_headers(&format!("POST {path} ({content_type})"), response.headers());
    }
    assert_eq!(statuses, [202, 429, 400, 413, 415, 401, 405, 303, 415]);
    let created = app
        .admin(
            "POST",
            "/v1/services",
            &json!({"slug": "new-one", "name": "New", "category": "ai"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_security_headers("POST /v1/services (admin)", &created.headers);
}

#[actix_web::test]
async fn wrong_admin_tokens_all_get_the_same_answer_whatever_their_length_or_prefix() {
    let app = TestApp::spawn().await;
    let mut wrong: Vec<String> = vec![
        String::new(),
        "Bearer".into(),
        "Bearer ".into(),
        format!("Basic {ADMIN_TOKEN}"),
        format!("Bearer{ADMIN_TOKEN}"),
        format!("Bearer {ADMIN_TOKEN}x"),
        format!("Bearer x{ADMIN_TOKEN}"),
        format!("Bearer {}", ADMIN_TOKEN.to_uppercase()),
        format!("Bearer {ADMIN_TOKEN} {ADMIN_TOKEN}"),
        format!("Bearer {}", "x".repeat(8000)),
    ];
    // Every prefix of the real token, and the token with each position changed.
    for len in 0..ADMIN_TOKEN.len() {
        wrong.push(format!("Bearer {}", &ADMIN_TOKEN[..len]));
        let mut changed = ADMIN_TOKEN.as_bytes().to_vec();
        changed[len] ^= 1;
        wrong.push(format!("Bearer {}", String::from_utf8(changed).unwrap()));
    }
    let body = json!({"slug": "should-not-exist", "name": "No", "category": "ai"});
    let mut answers = std::collections::BTreeSet::new();
    for header in &wrong {
        let headers: Vec<(&str, &str)> = if header.is_empty() {
            Vec::new()
        } else {
            vec![("authorization", header.as_str())]
        };
        let reply = app.send_json("POST", "/v1/services", &body, &headers).await;
        reply.assert_problem(401, None);
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert!(!reply.text.contains(ADMIN_TOKEN), "{}", reply.text);
        answers.insert(reply.text);
    }
    assert_eq!(
        answers.len(),
        1,
        "one answer for every wrong token: {answers:?}"
    );
    assert_eq!(app.get("/v1/services/should-not-exist").await.status, 404);
    // The scheme is case-insensitive; the token is not.
    let auth = format!("bearer {ADMIN_TOKEN}");
    let ok = app
        .send_json("POST", "/v1/services", &body, &[("authorization", &auth)])
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}

/// The snippet as a reader copies it: the text of the page's `<code>`, unescaped once.
fn copied_snippet(page: &str) -> String {
    let start = page.find("<code>").expect("an embed snippet") + "<code>".len();
    let end = start + page[start..].find("</code>").unwrap();
    page[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[actix_web::test]
async fn the_embed_snippet_is_escaped_and_points_only_where_a_trusted_proxy_says() {
    let app = TestApp::spawn().await;
    let name = "Evil\" onload=\"alert(document.cookie)\" x=\"<script>";
    let created = app
        .admin(
            "POST",
            "/v1/services",
            &json!({"slug": "evil", "name": name, "category": "ai"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let page = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = app.client.get(format!("{}/s/evil", app.address));
        for header in headers {
            request = request.insert_header(header);
        }
        async move {
            let mut response = request.send().await.unwrap();
            String::from_utf8(response.body().await.unwrap().to_vec()).unwrap()
        }
    };
    let snippet = copied_snippet(&page(vec![]).await);
    assert!(
        snippet.starts_with("<iframe src=\"http://127.0.0.1:"),
        "{snippet}"
    );
    assert_eq!(
        snippet.matches('"').count(),
        10,
        "five attributes, no more: {snippet}"
    );
    assert!(!snippet.contains("<script>"), "{snippet}");
    assert!(
        snippet.contains("title=\"Evil&quot; onload=&quot;"),
        "{snippet}"
    );
    // Forwarding headers from an untrusted peer, and a Host that is not a host, are ignored.
    for headers in [
        vec![("x-forwarded-host", "attacker.example")],
        vec![("forwarded", "host=attacker.example;proto=https")],
        vec![("host", "attacker.example\"><script>")],
    ] {
        let snippet = copied_snippet(&page(headers.clone()).await);
        assert!(!snippet.contains("attacker"), "{headers:?}: {snippet}");
        assert!(!snippet.contains("https"), "{headers:?}: {snippet}");
    }
    // Behind a trusted proxy, its headers say where the public site is.
    let proxied = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    let mut response = proxied
        .client
        .get(format!("{}/s/chatgpt", proxied.address))
        .insert_header(("x-forwarded-host", "downwatch.example"))
        .insert_header(("x-forwarded-proto", "https"))
        .send()
        .await
        .unwrap();
    let page = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
    assert!(
        copied_snippet(&page)
            .starts_with("<iframe src=\"https://downwatch.example/embed/chatgpt\""),
        "{}",
        copied_snippet(&page)
    );
}

#[actix_web::test]
async fn no_header_carries_text_a_client_wrote() {
    let app = TestApp::spawn().await;
    let client = awc::Client::builder().disable_redirects().finish();
    let injected = [
        "chatgpt%0d%0aSet-Cookie:%20admin=1",
        "chatgpt%0aLocation:%20http://evil.example",
        "..%2f..%2fevil",
        "%E2%80%AEchatgpt",
    ];
    for slug in injected {
        let response = client
            .post(format!("{}/s/{slug}/report", app.address))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .send_body("problem=login")
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{slug}");
        assert!(response.headers().get("set-cookie").is_none());
        assert!(response.headers().get("location").is_none(), "{slug}");
        for path in [
            format!("/v1/services/{slug}/curve.csv"),
            format!("/v1/services/{slug}"),
        ] {
            let response = client
                .get(format!("{}{path}", app.address))
                .send()
                .await
                .unwrap();
            assert!([400, 404].contains(&response.status().as_u16()), "{path}");
            for (name, value) in response.headers() {
                let value = value.to_str().unwrap_or("");
                assert!(
                    !value.contains("evil") && !value.contains("admin=1"),
                    "{path}: {name}: {value}"
                );
            }
        }
    }
    // The only headers built from request data carry validated slugs.
    let csv = app.get("/v1/services/chatgpt/curve.csv").await;
    assert_eq!(csv.status, 200);
    let disposition = csv.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"chatgpt-"),
        "{disposition}"
    );
}

#[actix_web::test]
async fn form_bodies_that_cannot_be_read_get_an_error_page_not_bare_text() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("application/json", b"{}".to_vec(), 415),
        (
            "application/x-www-form-urlencoded",
            b"problem=a&problem=b".to_vec(),
            400,
        ),
        (
            "application/x-www-form-urlencoded",
            format!("problem={}", "a".repeat(40_000)).into_bytes(),
            413,
        ),
    ];
    let client = awc::Client::builder().disable_redirects().finish();
    for (content_type, body, status) in cases {
        let mut response = client
            .post(format!("{}/s/chatgpt/report", app.address))
            .insert_header(("content-type", content_type))
            .send_body(body)
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{content_type}");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
        let page = response.body().limit(1 << 20).await.unwrap();
        let page = String::from_utf8_lossy(&page);
        assert!(page.contains("href=\"/\""), "a way back: {page}");
    }
}

#[actix_web::test]
async fn the_report_form_checks_origin_then_referer_when_sec_fetch_site_is_absent() {
    let app = TestApp::spawn().await;
    let own = app.address.clone();
    let client = awc::Client::builder().disable_redirects().finish();
    let post = |headers: Vec<(&'static str, String)>| {
        let mut request = client
            .post(format!("{}/s/chatgpt/report", app.address))
            .insert_header(("content-type", "application/x-www-form-urlencoded"));
        for header in headers {
            request = request.insert_header(header);
        }
        request.send_body("problem=login")
    };
    let refused: Vec<Vec<(&str, String)>> = vec![
        vec![("origin", "https://evil.example".into())],
        vec![("origin", "null".into())],
        vec![("origin", format!("{own}.evil.example"))],
        vec![("referer", "https://evil.example/page".into())],
        // Origin is read first: a forged Referer does not rescue it.
        vec![
            ("origin", "https://evil.example".into()),
            ("referer", format!("{own}/s/chatgpt")),
        ],
        vec![
            ("sec-fetch-site", "cross-site".into()),
            ("origin", own.clone()),
        ],
    ];
    for headers in refused {
        let mut response = post(headers.clone()).await.unwrap();
        assert_eq!(response.status(), 403, "{headers:?}");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
        let page = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
        assert!(page.contains("own pages"), "{page}");
        assert!(!page.contains("evil.example"), "no echo: {page}");
    }
    assert_eq!(
        app.total("chatgpt", "").await,
        0,
        "nothing refused was counted"
    );

    let accepted: Vec<Vec<(&str, String)>> = vec![
        vec![("origin", own.clone())],
        vec![("origin", own.to_uppercase().replace("HTTP", "https"))],
        vec![("referer", format!("{own}/s/chatgpt?report=counted"))],
        vec![("sec-fetch-site", "same-origin".into())],
        // Neither header (an old browser, a script): a report like any other.
        vec![],
    ];
    for headers in accepted {
        let response = post(headers.clone()).await.unwrap();
        assert_eq!(response.status(), 303, "{headers:?}");
    }
    assert_eq!(
        app.total("chatgpt", "").await,
        1,
        "one reporter, counted once"
    );

    // Behind a trusted proxy, the site is where the proxy says.
    let proxied = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    for (origin, status) in [
        ("https://downwatch.example", 303),
        (proxied.address.as_str(), 403),
    ] {
        let response = client
            .post(format!("{}/s/chatgpt/report", proxied.address))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("x-forwarded-host", "downwatch.example"))
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("origin", origin))
            .send_body("problem=login")
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{origin}");
    }
}

#[actix_web::test]
async fn head_answers_every_get_route_like_get_without_a_body() {
    let app = TestApp::builder()
        .start_at(seed_onset() + TimeDelta::hours(8))
        .spawn()
        .await;
    let id = store(&app, "chatgpt", seed_onset(), None, 120).await;
    let doc = app.get("/openapi.json").await;
    let mut paths: Vec<String> = doc.json["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, ops)| ops.get("get").is_some())
        .map(|(path, _)| {
            path.replace("{slug}", "chatgpt")
                .replace("{id}", &id.to_string())
        })
        .collect();
    assert!(paths.iter().any(|p| p == "/v1/events"), "{paths:?}");
    paths.extend(
        [
            "/",
            "/s/zoom",
            "/embed/chatgpt",
            "/healthz",
            "/readyz",
            "/metrics",
            "/docs",
            "/favicon.ico",
            "/s/nope",
        ]
        .map(String::from),
    );
    paths.push(format!("/incidents/{id}"));
    paths.push(format!("/embed/incident/{id}"));
    let client = awc::Client::builder()
        .disable_redirects()
        .timeout(std::time::Duration::from_secs(5))
        .finish();
    for path in &paths {
        let url = format!("{}{path}", app.address);
        let mut head = client.head(&url).send().await.unwrap();
        let body = head.body().await.unwrap();
        assert!(body.is_empty(), "HEAD {path} sent a body");
        if path == "/v1/events" {
            // The stream's headers, and an end at once instead of a stream.
            assert_eq!(head.status(), 200, "HEAD {path}");
            assert_eq!(
                head.headers().get("content-type").unwrap(),
                "text/event-stream"
            );
            continue;
        }
        let mut get = client.get(&url).send().await.unwrap();
        let full = get.body().limit(1 << 24).await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_ne!(head.status(), 405, "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert_security_headers(&format!("HEAD {path}"), head.headers());
        if path == "/v1/status" || path.ends_with("/curve.csv") {
            let length = head.headers().get("content-length").unwrap();
            assert_eq!(length.to_str().unwrap(), full.len().to_string(), "{path}");
        }
    }
    // HEAD on a route without GET is refused like any other method it lacks.
    let refused = client
        .head(format!("{}/v1/reports", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
}
