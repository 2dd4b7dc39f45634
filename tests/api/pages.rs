//! Web pages without a browser: status codes, content in the HTML (readable with JavaScript
//! off), escaping of catalog text, the security policy and who may frame what, assets, and
//! the report form that works without JavaScript.

use chrono::TimeDelta;
use serde_json::json;

use crate::helpers::{Reply, TestApp, seed_onset};
use crate::incidents::store;

/// The page's text: tags removed (block tags leave a space), whitespace collapsed.
fn text(html: &str) -> String {
    const INLINE: [&str; 6] = ["time", "a", "strong", "em", "code", "abbr"];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('>').unwrap_or(rest.len() - open - 1);
        let name: String = rest[open + 1..close]
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        if !INLINE.contains(&name.as_str()) {
            out.push(' ');
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An HTML page under the page policy: no inline script or style anywhere.
fn assert_page(reply: &Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = reply.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = &reply.text;
    assert!(html.starts_with("<!DOCTYPE html>"));
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(tag.contains(" src=\"/assets/"), "inline script: {tag}");
    }
    assert!(!html.contains(" style=\""), "inline style");
    assert!(!html.contains("<style"), "inline style");
    for (i, _) in html.match_indices(" on") {
        let name: String = html[i + 3..]
            .chars()
            .take_while(char::is_ascii_lowercase)
            .collect();
        let rest = &html[i + 3 + name.len()..];
        assert!(
            name.is_empty() || !rest.starts_with("=\""),
            "inline handler on{name}"
        );
    }
}

fn assert_unframable(reply: &Reply) {
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert!(
        reply
            .header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

#[actix_web::test]
async fn the_board_shows_every_service_in_the_html() {
    let app = TestApp::spawn().await;
    let reply = app.get("/").await;
    assert_page(&reply, 200);
    assert_unframable(&reply);
    let page = text(&reply.text);
    assert!(page.contains("Is it down right now?"), "{page}");
    assert!(page.contains("No service has an unusual number of problem reports right now."));
    assert!(page.contains("35 of 35 services"), "{page}");
    assert_eq!(reply.text.matches("<li class=\"card ").count(), 35);
    assert!(reply.text.contains("href=\"/s/chatgpt\""));
    assert!(reply.text.contains("data-level=\"normal\""));
    assert_eq!(
        reply.text.matches("<svg class=\"spark\"").count(),
        35,
        "a sparkline per service"
    );
    // The live script is the only script, loaded from the page's own origin.
    assert!(reply.text.contains("<script src=\"/assets/app."));
    // Without JavaScript the filter is a plain form.
    let filtered = app.get("/?q=chat&level=").await;
    assert_page(&filtered, 200);
    assert!(
        filtered.text.contains("1 of 35 services"),
        "{}",
        filtered.text
    );
    let chatgpt = filtered.text.find("data-slug=\"chatgpt\"").unwrap();
    let card_start = filtered.text[..chatgpt].rfind("<li").unwrap();
    assert!(!filtered.text[card_start..chatgpt].contains("hidden"));
}

#[actix_web::test]
async fn services_with_problems_come_first_with_plain_words() {
    let app = TestApp::spawn().await;
    let since = seed_onset();
    let status = |level: &str, reports: u64| {
        json!({
            "level": level, "since": since, "reports_15m": reports, "baseline_15m": 41.6,
            "incident_id": null, "evaluated_at": since + TimeDelta::minutes(5),
        })
        .to_string()
    };
    let slug = |s: &str| downwatch::domain::ServiceSlug::parse(s).unwrap();
    app.state
        .reads
        .windows
        .write_statuses(&[
            (slug("sora"), status("elevated", 180)),
            (slug("chatgpt"), status("outage", 2014)),
        ])
        .await
        .unwrap();
    let reply = app.get("/?tz=America/New_York").await;
    assert_page(&reply, 200);
    let page = text(&reply.text);
    let outage = page
        .find("User reports indicate an outage at ChatGPT since 2:36 AM EDT")
        .unwrap_or_else(|| panic!("{page}"));
    let problems = page
        .find("User reports indicate problems at Sora since 2:36 AM EDT")
        .unwrap();
    assert!(outage < problems, "the outage first");
    assert!(page.contains("2,014 reports in the last 15 minutes, usually about 42."));
    assert!(
        reply
            .text
            .contains("data-slug=\"chatgpt\" data-level=\"outage\"")
    );
    // The zone the server rendered in is marked, so the script knows it was chosen.
    assert!(
        reply
            .text
            .contains("data-tz=\"America/New_York\" data-tz-fixed")
    );

    let service = app.get("/s/chatgpt").await;
    assert!(
        text(&service.text).contains("Usual for this time about 42 per 15 minutes"),
        "the usual volume says per what: {}",
        text(&service.text)
    );
    assert!(
        text(&service.text)
            .contains("User reports indicate an outage at ChatGPT since 6:36 AM UTC.")
    );
}

#[actix_web::test]
async fn a_service_page_reads_without_javascript() {
    let app = TestApp::spawn().await;
    for (i, problem) in ["voice-mode", "voice-mode", "login"].iter().enumerate() {
        let reply = app
            .report(json!({"service": "chatgpt", "problem": problem, "country": "kr", "reporter": format!("page-reader-{i}")}))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    let reply = app.get("/s/chatgpt").await;
    assert_page(&reply, 200);
    assert_unframable(&reply);
    let page = text(&reply.text);
    for expected in [
        "User reports indicate no current problems at ChatGPT.",
        "Reports in the last hour 3",
        "I have a problem with ChatGPT",
        "What is not working?",
        "Most reported problems Last 24 hours Voice mode 67% · 2 Login 33% · 1",
        "South Korea",
        "No incidents recorded for ChatGPT.",
    ] {
        assert!(page.contains(expected), "{expected:?} in {page}");
    }
    let html = &reply.text;
    assert!(html.contains("action=\"/s/chatgpt/report\""));
    assert!(html.contains("name=\"problem\" value=\"voice-mode\""));
    assert!(
        html.contains("<label") || html.contains("<legend>"),
        "labelled controls"
    );
    assert!(html.contains("src=\"/v1/services/chatgpt/chart.svg?range=24h&amp;tz=UTC"));
    assert!(html.contains("href=\"/v1/services/chatgpt/curve.csv?tz=UTC\""));
    assert!(html.contains("/embed/chatgpt"));
    assert!(html.contains(" alt=\"Chart of problem reports for ChatGPT"));
}

#[actix_web::test]
async fn catalog_text_is_escaped_in_every_page() {
    let app = TestApp::spawn().await;
    let hostile = json!({
        "slug": "evil",
        "name": "<script>alert(1)</script>\"'&",
        "category": "ai",
        "problems": ["login"],
    });
    assert_eq!(
        app.admin("POST", "/v1/services", &hostile).await.status,
        201
    );
    let id = store(&app, "evil", seed_onset() - TimeDelta::hours(3), None, 99).await;
    for path in [
        "/".to_owned(),
        "/?q=%3Cscript%3E".to_owned(),
        "/s/evil".to_owned(),
        "/embed/evil".to_owned(),
        format!("/incidents/{id}"),
        format!("/embed/incident/{id}"),
        "/s/%3Cscript%3Ealert(2)%3C%2Fscript%3E".to_owned(),
    ] {
        let reply = app.get(&path).await;
        assert!(reply.status == 200 || reply.status == 404, "{path}");
        assert!(
            !reply.text.contains("<script>alert"),
            "{path}: {}",
            reply.text
        );
        assert!(!reply.text.contains("\"'&<"), "{path}");
        if reply.status == 200 {
            assert!(
                reply.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{path}: {}",
                reply.text
            );
        }
    }
}

#[actix_web::test]
async fn only_the_embeds_may_be_framed_by_other_sites() {
    let app = TestApp::spawn().await;
    let id = store(
        &app,
        "chatgpt",
        seed_onset() - TimeDelta::hours(3),
        None,
        120,
    )
    .await;
    for path in ["/embed/chatgpt".to_owned(), format!("/embed/incident/{id}")] {
        let reply = app.get(&path).await;
        assert_page(&reply, 200);
        assert_eq!(reply.header("x-frame-options"), None, "{path}");
        let csp = reply.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors *"), "{csp}");
        let page = text(&reply.text);
        assert!(
            page.contains("Source: downwatch, crowd-sourced user reports."),
            "{page}"
        );
        assert!(reply.text.contains("target=\"_blank\""), "a link back");
    }
    for path in [
        "/".to_owned(),
        "/s/chatgpt".to_owned(),
        format!("/incidents/{id}"),
        "/s/nope".to_owned(),
    ] {
        assert_unframable(&app.get(&path).await);
    }
    // The API keeps its own policy.
    let api = app.get("/v1/status").await;
    assert_eq!(api.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        api.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
}

#[actix_web::test]
async fn unknown_services_and_incidents_get_a_404_page() {
    let app = TestApp::spawn().await;
    for path in [
        "/s/nope",
        "/s/NOT%20A%20SLUG",
        "/embed/nope",
        "/incidents/0197a0b2-0000-7000-8000-000000000000",
        "/incidents/not-an-id",
        "/embed/incident/not-an-id",
    ] {
        let reply = app.get(path).await;
        assert_page(&reply, 404);
        let page = text(&reply.text);
        assert!(page.contains("Page not found"), "{path}: {page}");
        assert!(reply.text.contains("href=\"/\""), "a way back");
    }
    // A browser lost outside the pages gets a page too; API clients keep problem+json.
    let lost = app
        .client
        .get(format!("{}/no/such/page", app.address))
        .insert_header(("accept", "text/html,application/xhtml+xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 404);
    assert_eq!(
        lost.headers().get("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    app.get("/no/such/page").await.assert_problem(404, None);
    app.get("/v1/nothing").await.assert_problem(404, None);
    // Browsers asking for the old-style icon find the real one.
    let client = awc::Client::builder().disable_redirects().finish();
    let icon = client
        .get(format!("{}/favicon.ico", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 301);
    let location = icon.headers().get("location").unwrap().to_str().unwrap();
    assert!(location.starts_with("/assets/icon.") && location.ends_with(".svg"));
    assert_eq!(app.get(location).await.status, 200);
}

#[actix_web::test]
async fn an_incident_page_can_be_cited() {
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
    // Sora's incident at the same time: the provider is named, not its slug.
    store(
        &app,
        "sora",
        seed_onset() + TimeDelta::minutes(20),
        Some(seed_onset() + TimeDelta::hours(3)),
        157,
    )
    .await;
    let reply = app
        .get(&format!("/incidents/{id}?tz=America/New_York"))
        .await;
    assert_page(&reply, 200);
    let page = text(&reply.text);
    assert!(
        page.contains("Other OpenAI services at the same time") && !page.contains(" openai "),
        "{page}"
    );
    for expected in [
        "ChatGPT: problem reports rose from 2:36 AM EDT (detected 2:38 AM EDT) and peaked at \
         2,014 around 3:15 AM EDT",
        "It opened on 412 reports in 5 minutes where about 32 were expected: by chance, \
         less likely than 1 in a trillion.",
        "Timeline",
        "Incident opened: problems",
        "Most reported problems",
        "Voice mode 67% · 6,000 Login 22% · 2,000",
        "Source: downwatch, crowd-sourced user reports.",
    ] {
        assert!(page.contains(expected), "{expected:?} in {page}");
    }
    let html = &reply.text;
    assert!(html.contains(&format!(
        "src=\"/v1/incidents/{id}/chart.svg?tz=America/New_York\""
    )));
    assert!(html.contains(
        "href=\"/v1/services/chatgpt/curve.csv?from=2025-06-10T04:36:00Z&amp;to=2025-06-10T13:36:00Z&amp;step=15m&amp;tz=America/New_York\""
    ));
    assert!(html.contains(&format!("href=\"/embed/incident/{id}\"")));
    // The links work.
    let csv = app
        .get("/v1/services/chatgpt/curve.csv?from=2025-06-10T04:36:00Z&to=2025-06-10T13:36:00Z&step=15m&tz=America/New_York")
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    // The service page lists it with its timeline.
    let service = text(&app.get("/s/chatgpt?tz=America/New_York").await.text);
    assert!(service.contains("Resolved, lasted 5 h 0 min"), "{service}");
    assert!(service.contains("Back to normal"), "{service}");
}

#[actix_web::test]
async fn assets_are_hashed_and_kept_for_a_year() {
    let app = TestApp::spawn().await;
    let board = app.get("/").await.text;
    for (marker, content_type) in [
        (
            "<link rel=\"stylesheet\" href=\"",
            "text/css; charset=utf-8",
        ),
        ("<script src=\"", "text/javascript; charset=utf-8"),
    ] {
        let start = board.find(marker).unwrap() + marker.len();
        let path = &board[start..start + board[start..].find('"').unwrap()];
        let reply = app.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type));
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(app.get("/assets/app.000000000000.css").await.status, 404);
}

#[actix_web::test]
async fn the_report_form_works_without_javascript() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "2")
        .spawn()
        .await;
    // A client that shows redirects instead of following them.
    let client = awc::Client::builder().disable_redirects().finish();
    let post = |fetch_site: Option<&'static str>| {
        let mut request = client
            .post(format!("{}/s/chatgpt/report", app.address))
            .insert_header(("content-type", "application/x-www-form-urlencoded"));
        if let Some(site) = fetch_site {
            request = request.insert_header(("sec-fetch-site", site));
        }
        request.send_body("problem=login")
    };
    let location = |response: &awc::ClientResponse<_>| {
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let first = post(Some("same-origin")).await.unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(
        location(&first).as_deref(),
        Some("/s/chatgpt?report=counted#report")
    );
    let second = post(None).await.unwrap();
    assert_eq!(
        location(&second).as_deref(),
        Some("/s/chatgpt?report=duplicate#report")
    );
    let third = post(Some("same-origin")).await.unwrap();
    let limited = location(&third).unwrap();
    assert!(
        limited.starts_with("/s/chatgpt?report=limited&retry="),
        "{limited}"
    );
    let cross_site = post(Some("cross-site")).await.unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(app.total("chatgpt", "").await, 1, "one report counted");

    let page = text(&app.get("/s/chatgpt?report=counted").await.text);
    assert!(page.contains("Counted. Thank you for reporting your problem with ChatGPT."));
    let page = text(&app.get("/s/chatgpt?report=duplicate").await.text);
    assert!(page.contains("Already counted"));
    let page = text(&app.get("/s/chatgpt?report=limited&retry=42").await.text);
    assert!(page.contains("Try again in 42 seconds."), "{page}");
}
