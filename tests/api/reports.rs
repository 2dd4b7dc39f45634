//! POST /v1/reports: counting, dedup, identity and rate limits.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{TestApp, seed_onset};

#[actix_web::test]
async fn accepted_report_shows_up_under_its_minute_problem_and_country() {
    let app = TestApp::spawn().await;
    app.clock.advance(Duration::from_secs(25));
    let reply = app
        .report(json!({"service": "chatgpt", "problem": "voice-mode", "country": "us", "reporter": "token-aaaa-0001"}))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(reply.json["counted"], true);
    assert_eq!(reply.json["service"], "chatgpt");
    assert_eq!(reply.json["bucket"], "2025-06-10T06:36:00Z");
    assert_eq!(reply.header("ratelimit-limit"), Some("10"));
    assert_eq!(reply.header("ratelimit-remaining"), Some("9"));
    assert_eq!(
        reply.header("ratelimit-reset"),
        Some("2"),
        "one report refills in 60/30 s"
    );
    assert!(uuid::Uuid::parse_str(reply.json["id"].as_str().unwrap()).is_ok());

    let minutes = app
        .get("/v1/services/chatgpt/minutes?from=2025-06-10T06:35:00Z&to=2025-06-10T06:38:00Z")
        .await;
    assert_eq!(minutes.status, 200, "{}", minutes.text);
    // The clock stands in minute 06:36: minutes that have not begun are left out.
    let expected = json!([
        {"t": "2025-06-10T06:35:00Z", "total": 0, "problems": {}, "countries": {}},
        {"t": "2025-06-10T06:36:00Z", "total": 1, "problems": {"voice-mode": 1}, "countries": {"US": 1}},
    ]);
    assert_eq!(minutes.json, expected);
}

#[actix_web::test]
async fn default_minutes_window_is_the_last_hour_without_holes() {
    let app = TestApp::spawn().await;
    app.report(json!({"service": "sora", "problem": "login"}))
        .await;
    let reply = app.get("/v1/services/sora/minutes").await;
    let minutes = reply.json.as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    assert_eq!(minutes.last().unwrap()["t"], "2025-06-10T06:36:00Z");
    assert_eq!(minutes.last().unwrap()["total"], 1);
    assert_eq!(minutes.first().unwrap()["t"], "2025-06-10T05:37:00Z");
}

#[actix_web::test]
async fn same_reporter_is_a_duplicate_within_the_window_and_counts_again_after_it() {
    let app = TestApp::spawn().await;
    let body = json!({"service": "chatgpt", "problem": "login", "reporter": "same-person-01"});
    assert_eq!(app.report(body.clone()).await.status, 202);

    app.clock.advance(Duration::from_secs(59 * 60));
    let again = app.report(body.clone()).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["counted"], false);
    assert_eq!(again.json["reason"], "duplicate");

    // A report on another service is not a duplicate.
    assert_eq!(
        app.report(json!({"service": "sora", "problem": "login", "reporter": "same-person-01"}))
            .await
            .status,
        202
    );

    app.clock.advance(Duration::from_secs(60));
    let later = app.report(body).await;
    assert_eq!(later.status, 202, "{}", later.text);
    assert_eq!(later.json["counted"], true);
    assert_eq!(
        app.total(
            "chatgpt",
            "?from=2025-06-10T06:00:00Z&to=2025-06-10T08:00:00Z"
        )
        .await,
        2
    );
}

#[actix_web::test]
async fn two_reporter_tokens_behind_one_address_both_count() {
    let app = TestApp::spawn().await;
    for token in ["household-member-1", "household-member-2"] {
        let reply = app
            .report(json!({"service": "chatgpt", "problem": "app", "reporter": token}))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    // Without a token, the address itself is the reporter: once.
    assert_eq!(
        app.report(json!({"service": "chatgpt", "problem": "app"}))
            .await
            .status,
        202
    );
    assert_eq!(
        app.report(json!({"service": "chatgpt", "problem": "app"}))
            .await
            .status,
        200
    );
    assert_eq!(app.total("chatgpt", "").await, 3);
}

#[actix_web::test]
async fn a_flood_from_one_address_gets_exactly_its_quota_then_429() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "5")
        .var("DOWNWATCH_RATE_PER_MINUTE", "6")
        .spawn()
        .await;
    let mut accepted = 0;
    let mut limited = Vec::new();
    for i in 0..20 {
        let reply = app
            .report(json!({"service": "chatgpt", "problem": "login", "reporter": format!("flooder-{i:04}")}))
            .await;
        match reply.status.as_u16() {
            202 => accepted += 1,
            429 => limited.push(reply),
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!(accepted, 5);
    assert_eq!(limited.len(), 15);
    let first = &limited[0];
    first.assert_problem(429, None);
    assert_eq!(first.header("retry-after"), Some("10"));
    assert_eq!(first.header("ratelimit-limit"), Some("5"));
    assert_eq!(first.header("ratelimit-remaining"), Some("0"));
    assert_eq!(
        app.total("chatgpt", "").await,
        5,
        "limited reports are not counted"
    );

    app.clock.advance(Duration::from_secs(10));
    let after = app
        .report(json!({"service": "chatgpt", "problem": "login", "reporter": "flooder-late"}))
        .await;
    assert_eq!(
        after.status, 202,
        "one more report after Retry-After: {}",
        after.text
    );
}

#[actix_web::test]
async fn forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "2")
        .spawn()
        .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let spoofed = format!("198.51.100.{i}");
        let reply = app
            .report_via(&spoofed, json!({"service": "chatgpt", "problem": "login", "reporter": format!("spoof-{i:04}")}))
            .await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(
        statuses,
        [202, 202, 429, 429],
        "spoofed addresses all count as the one peer"
    );
    // Without a token, spoofed addresses do not make a second reporter either.
    let app = TestApp::spawn().await;
    assert_eq!(
        app.report_via(
            "198.51.100.1",
            json!({"service": "sora", "problem": "login"})
        )
        .await
        .status,
        202
    );
    assert_eq!(
        app.report_via(
            "198.51.100.2",
            json!({"service": "sora", "problem": "login"})
        )
        .await
        .status,
        200
    );
}

#[actix_web::test]
async fn forwarded_for_from_a_trusted_proxy_identifies_the_client() {
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_RATE_BURST", "2")
        .spawn()
        .await;
    // Two clients behind the proxy: each is its own reporter and has its own limit.
    for client in ["203.0.113.10", "203.0.113.11"] {
        let chain = format!("6.6.6.6, {client}");
        for expected in [202, 200] {
            let reply = app
                .report_via(&chain, json!({"service": "chatgpt", "problem": "login"}))
                .await;
            assert_eq!(reply.status, expected, "{client}: {}", reply.text);
        }
        let limited = app
            .report_via(&chain, json!({"service": "chatgpt", "problem": "login"}))
            .await;
        assert_eq!(limited.status, 429, "{client}: {}", limited.text);
    }
    assert_eq!(app.total("chatgpt", "").await, 2);

    // A client's own `Forwarded` header, passed through by an X-Forwarded-For proxy, is ignored.
    for i in 0..3 {
        let reply = app
            .send_json(
                "POST",
                "/v1/reports",
                &json!({"service": "sora", "problem": "login", "reporter": format!("forged-{i:04}")}),
                &[("x-forwarded-for", "203.0.113.99"), ("forwarded", &format!("for=192.0.2.{i}"))],
            )
            .await;
        assert_eq!(
            reply.status,
            if i < 2 { 202 } else { 429 },
            "{}",
            reply.text
        );
    }
}

#[actix_web::test]
async fn two_addresses_in_one_ipv6_64_share_a_limit() {
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_RATE_BURST", "2")
        .spawn()
        .await;
    let body = |i: u32| json!({"service": "chatgpt", "problem": "login", "reporter": format!("ipv6-user-{i:04}")});
    assert_eq!(
        app.report_via("2001:db8:aa:bb::1", body(1)).await.status,
        202
    );
    assert_eq!(
        app.report_via("2001:db8:aa:bb:ffff::2", body(2))
            .await
            .status,
        202
    );
    let third = app
        .report_via("2001:db8:aa:bb:1234:5678:9abc:def0", body(3))
        .await;
    assert_eq!(third.status, 429, "{}", third.text);
    // The neighbouring /64 is someone else.
    assert_eq!(
        app.report_via("2001:db8:aa:bc::1", body(4)).await.status,
        202
    );
}

#[actix_web::test]
async fn a_thousand_concurrent_reports_from_distinct_reporters_count_exactly_a_thousand() {
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "100000")
        .spawn()
        .await;
    let requests = (0..1000).map(|i| {
        app.report(json!({"service": "chatgpt", "problem": "login", "country": "KR", "reporter": format!("distinct-{i:06}")}))
    });
    let replies = join_all(requests).await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    assert_eq!(
        accepted,
        1000,
        "{:?}",
        replies.iter().find(|r| r.status != 202)
    );
    let minutes = app.get("/v1/services/chatgpt/minutes").await;
    let current = minutes.json.as_array().unwrap().last().unwrap().clone();
    assert_eq!(current["total"], 1000);
    assert_eq!(current["problems"]["login"], 1000);
    assert_eq!(current["countries"]["KR"], 1000);
    assert_eq!(
        current["t"],
        seed_onset().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
}

#[actix_web::test]
async fn reports_without_redis_get_a_fast_503_and_readyz_names_redis() {
    let app = TestApp::builder()
        .var("REDIS_URL", "redis://127.0.0.1:1")
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "300")
        .spawn()
        .await;
    let started = std::time::Instant::now();
    let reply = app
        .report(json!({"service": "chatgpt", "problem": "login"}))
        .await;
    let elapsed = started.elapsed();
    reply.assert_problem(503, None);
    assert_eq!(reply.json["dependency"], "Redis");
    assert!(reply.header("retry-after").is_some());
    // Bounded by the configured timeout, never a hang (generous margin for a loaded machine).
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");

    let ready = app.get("/readyz").await;
    ready.assert_problem(503, None);
    assert_eq!(ready.json["checks"]["redis"], "unavailable");
    assert_eq!(ready.json["checks"]["postgresql"], "ok");
    assert!(ready.json["detail"].as_str().unwrap().contains("Redis"));
}
