//! Floods: one address at full speed, spoofed forwarding headers, many reporter tokens, and a
//! coordinated fake outage from many addresses. The clock stands still unless a test moves it,
//! so an address gets exactly its burst, plus its sustained rate for the time that passes.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

fn report(service: &str, token: &str) -> Value {
    json!({"service": service, "problem": "login", "reporter": token})
}

/// Statuses of `replies`: (accepted, limited); anything else fails the test.
fn tally(replies: &[Reply]) -> (usize, usize) {
    let mut counts = (0, 0);
    for reply in replies {
        match reply.status.as_u16() {
            202 => counts.0 += 1,
            429 => {
                reply.assert_problem(429, None);
                assert!(reply.header("retry-after").is_some());
                counts.1 += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    counts
}

#[actix_web::test]
async fn one_address_at_full_speed_gets_exactly_its_burst_plus_its_rate() {
    // Defaults: a burst of 10, then 30 a minute (one every 2 s).
    let app = TestApp::spawn().await;
    let app = &app;
    let volley = |round: usize, size: usize| {
        join_all((0..size).map(move |i| {
            let token = format!("flood-{round:03}-{i:03}");
            async move { app.report(report("chatgpt", &token)).await }
        }))
    };
    let (accepted, limited) = tally(&volley(0, 40).await);
    assert_eq!((accepted, limited), (10, 30), "the burst, all at once");
    // A minute at full speed, one volley a second: one report every two seconds gets in.
    let mut sustained = 0;
    for round in 1..=60 {
        app.clock.advance(Duration::from_secs(1));
        sustained += tally(&volley(round, 3).await).0;
    }
    assert_eq!(sustained, 30, "DOWNWATCH_RATE_PER_MINUTE in a minute");
    assert_eq!(
        app.total("chatgpt", "").await,
        40,
        "only accepted reports count"
    );
}

#[actix_web::test]
async fn thousands_of_spoofed_forwarded_for_values_from_an_untrusted_peer_are_one_client() {
    let app = TestApp::spawn().await;
    let spoofed = |i: u32| match i % 4 {
        0 => format!("198.51.{}.{}", i / 256 % 256, i % 256),
        1 => format!("2001:db8:{i:x}::1"),
        2 => format!("203.0.113.{}, 10.0.0.{}", i % 256, i % 7),
        _ => format!("garbage-{i}, unknown"),
    };
    let replies = join_all((0..2000u32).map(|i| {
        let header = spoofed(i);
        let forwarded = format!("for=192.0.2.{}", i % 256);
        let token = format!("spoofer-{i:05}");
        let app = &app;
        async move {
            app.send_json(
                "POST",
                "/v1/reports",
                &report("chatgpt", &token),
                &[("x-forwarded-for", &header), ("forwarded", &forwarded)],
            )
            .await
        }
    }))
    .await;
    assert_eq!(tally(&replies), (10, 1990));
    assert_eq!(
        app.state.ingest.limiter.len(),
        1,
        "one limiter key: the TCP peer"
    );
    assert_eq!(app.total("chatgpt", "").await, 10);
}

#[actix_web::test]
async fn a_spoofed_chain_behind_a_trusted_proxy_is_still_the_one_real_client() {
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    // The client writes whatever it likes on the left; the proxy appends the address it saw.
    let replies = join_all((0..500u32).map(|i| {
        let chain = format!("6.6.{}.{}, 203.0.113.7", i / 256, i % 256);
        let token = format!("chain-{i:05}");
        let app = &app;
        async move { app.report_via(&chain, report("sora", &token)).await }
    }))
    .await;
    assert_eq!(tally(&replies), (10, 490));
    assert_eq!(app.state.ingest.limiter.len(), 1);
}

#[actix_web::test]
async fn many_reporter_tokens_from_one_address_cannot_raise_the_count_past_its_quota() {
    let app = TestApp::spawn().await;
    let services = ["chatgpt", "sora", "claude", "discord", "github"];
    let replies = join_all((0..1000usize).map(|i| {
        let token = format!("sockpuppet-{i:05}");
        let app = &app;
        async move { app.report(report(services[i % 5], &token)).await }
    }))
    .await;
    assert_eq!(tally(&replies), (10, 990));
    let mut counted = 0;
    for service in services {
        counted += app.total(service, "").await;
    }
    assert_eq!(counted, 10, "the address's quota, over every service");
    // After a minute: the burst again, not a token's worth more.
    app.clock.advance(Duration::from_secs(60));
    let later = join_all((0..100usize).map(|i| {
        let token = format!("sockpuppet-later-{i:05}");
        let app = &app;
        async move { app.report(report("chatgpt", &token)).await }
    }))
    .await;
    assert_eq!(tally(&later), (10, 90));
}

#[actix_web::test]
async fn a_coordinated_fake_outage_from_many_addresses_is_counted_with_its_signature() {
    // What SECURITY.md describes: reports from many real addresses are indistinguishable from
    // an outage to the counting path. Each /64 counts once per reporter token, at most its
    // burst; the data shows the campaign's shape (one problem, one country, one minute).
    // The caps per address and network are opened wide (the test default) to show a campaign
    // over many networks; SECURITY.md tells what the shipped caps leave of it.
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_RATE_BURST", "3")
        .spawn()
        .await;
    let replies = join_all((0..300u32).map(|i| {
        let client = format!("2001:db8:{:x}:{:x}::{:x}", i / 100, i % 100, i + 1);
        let app = &app;
        async move {
            // Each address tries five tokens; its burst of three caps it.
            let mut replies = Vec::new();
            for t in 0..5 {
                let body = json!({
                    "service": "discord",
                    "problem": "login",
                    "country": "NL",
                    "reporter": format!("campaign-{i:04}-{t}"),
                });
                replies.push(app.report_via(&client, body).await);
            }
            replies
        }
    }))
    .await;
    let replies: Vec<Reply> = replies.into_iter().flatten().collect();
    assert_eq!(tally(&replies), (900, 600));
    assert_eq!(app.total("discord", "").await, 900);
    assert_eq!(app.state.ingest.limiter.len(), 300, "one key per /64");
    let problems = app.get("/v1/services/discord/problems").await;
    assert_eq!(problems.json["problems"][0]["problem"], "login");
    assert_eq!(problems.json["problems"][0]["share"], 1.0);
    let countries = app.get("/v1/services/discord/countries").await;
    assert_eq!(countries.json["countries"][0]["country"], "NL");
    assert_eq!(countries.json["countries"][0]["share"], 1.0);
}

/// Sends `path`'s headers, then its body one byte every `every`, and reads the answer: its
/// status line and headers, and how long after the headers the connection was closed.
async fn dribble(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &str,
    every: Duration,
) -> (String, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = app.address.rsplit(':').next().unwrap();
    let stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let bytes = body.as_bytes().to_vec();
    let writer = actix_web::rt::spawn(async move {
        for byte in bytes {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            actix_web::rt::time::sleep(every).await;
        }
        // Like any HTTP client, keep sending side open until the answer is read (a client
        // that half-closes is taken as gone).
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let read_all = read.read_to_end(&mut answer);
    actix_web::rt::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the server closed the connection")
        .ok();
    let closed_after = started.elapsed();
    writer.abort();
    (String::from_utf8_lossy(&answer).into_owned(), closed_after)
}

#[actix_web::test]
async fn a_body_slower_than_the_deadline_gets_408_and_its_connection_is_closed() {
    let app = TestApp::builder()
        .var("DOWNWATCH_BODY_TIMEOUT_MS", "1000")
        .spawn()
        .await;
    let json = r#"{"service": "chatgpt", "problem": "login", "reporter": "slow-one"}"#;
    // One byte every 300 ms: the whole body would take 20 s, the deadline is 1 s.
    let (answer, closed_after) = dribble(
        &app,
        "/v1/reports",
        "application/json",
        json,
        Duration::from_millis(300),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains("\"field\":\"body\""), "{answer}");
    assert!(
        closed_after >= Duration::from_millis(1000) && closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    // The form's errors are pages.
    let (answer, closed_after) = dribble(
        &app,
        "/s/chatgpt/report",
        "application/x-www-form-urlencoded",
        "problem=login&padding=xxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        Duration::from_millis(300),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("content-type: text/html"), "{answer}");
    assert!(
        closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    assert_eq!(app.total("chatgpt", "").await, 0, "nothing was counted");
    // A body that arrives in pieces, but within the deadline, is a report like any other.
    let (answer, _) = dribble(
        &app,
        "/v1/reports",
        "application/json",
        json,
        Duration::ZERO,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert_eq!(app.total("chatgpt", "").await, 1);
}

/// Reports of `service` from `client` with `count` fresh tokens, one after another.
async fn fresh_tokens(app: &TestApp, client: &str, service: &str, count: usize) -> Vec<Reply> {
    let mut replies = Vec::new();
    for i in 0..count {
        let token = format!("fresh-{}-{i:04}", client.replace([':', '.'], "-"));
        replies.push(app.report_via(client, report(service, &token)).await);
    }
    replies
}

#[actix_web::test]
async fn one_address_with_fresh_tokens_adds_at_most_its_cap_to_one_service() {
    // The shipped caps: 6 per address and 18 per /24 or /48, per service, per hour. The rate
    // limit is opened wide so that only the caps bind.
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_RATE_BURST", "100000")
        .var("DOWNWATCH_CAP_PER_ADDRESS", "<unset>")
        .var("DOWNWATCH_CAP_PER_NETWORK", "<unset>")
        .spawn()
        .await;
    let one = fresh_tokens(&app, "198.51.100.7", "zoom", 40).await;
    assert_eq!(tally(&one), (6, 34), "the address's cap");
    let capped = one.last().unwrap();
    capped.assert_problem(429, Some("service"));
    assert!(
        capped.text.contains("this address (IPv6: its /64) already has 6 reports counted for zoom in the last 60 minutes"),
        "{}",
        capped.text
    );
    let wait: u64 = capped.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (3_590..=3_600).contains(&wait),
        "until the first leaves the hour: {wait}"
    );
    assert_eq!(app.total("zoom", "").await, 6);
    // Its cap is per service: another service still takes its reports.
    assert_eq!(
        tally(&fresh_tokens(&app, "198.51.100.7", "slack", 3).await),
        (3, 0)
    );
    // Its neighbours in the /24 add their own six, up to the network's 18 in all.
    for (neighbour, expected) in [
        ("198.51.100.8", 6),
        ("198.51.100.9", 6),
        ("198.51.100.10", 0),
    ] {
        let replies = fresh_tokens(&app, neighbour, "zoom", 10).await;
        assert_eq!(tally(&replies).0, expected, "{neighbour}");
    }
    let full = fresh_tokens(&app, "198.51.100.11", "zoom", 1).await;
    assert!(
        full[0]
            .text
            .contains("network (IPv4 /24, IPv6 /48) already has 18 reports counted for zoom"),
        "{}",
        full[0].text
    );
    assert_eq!(app.total("zoom", "").await, 18);
    // A /48 is one network however many /64s it spreads over.
    let mut from_48 = 0;
    for i in 0..20 {
        from_48 += tally(&fresh_tokens(&app, &format!("2001:db8:7:{i:x}::1"), "zoom", 2).await).0;
    }
    assert_eq!(from_48, 18);
    // The quiet service stays normal: 36 reports over an hour are no outage.
    for _ in 0..3 {
        app.state.monitor.tick().await.unwrap();
        app.clock.advance(Duration::from_secs(60));
    }
    let zoom = app.get("/v1/services/zoom").await;
    assert_eq!(zoom.json["status"]["level"], "normal", "{}", zoom.text);
    // An hour after its first report, the address may count again.
    app.clock.advance(Duration::from_secs(3_600));
    assert_eq!(
        tally(&fresh_tokens(&app, "198.51.100.7", "zoom", 8).await),
        (6, 2)
    );
}

#[actix_web::test]
async fn one_address_through_three_instances_gets_one_quota_not_three() {
    // Three instances of one deployment: one database, one Redis prefix, one clock time.
    let first = TestApp::spawn().await;
    let mut instances = vec![first];
    for _ in 0..2 {
        let sibling = TestApp::builder()
            .database(&instances[0].db_name)
            .prefix(&instances[0].prefix)
            .spawn()
            .await;
        instances.push(sibling);
    }
    // Defaults: a burst of 10, then 30 a minute. Each instance's own limiter would let 10
    // through; the limit kept in Redis lets 10 through in all.
    let mut replies = Vec::new();
    for round in 0..10 {
        for (n, app) in instances.iter().enumerate() {
            let token = format!("spread-{round:02}-{n}");
            replies.push(app.report(report("sora", &token)).await);
        }
    }
    assert_eq!(tally(&replies), (10, 20), "one burst across the deployment");
    assert_eq!(
        instances[0].total("sora", "").await,
        10,
        "what was accepted was counted"
    );
    // The sustained rate is shared too: two seconds later, one more report, wherever it goes.
    for app in &instances {
        app.clock.advance(Duration::from_secs(2));
    }
    let after: Vec<Reply> = join_all(
        instances
            .iter()
            .enumerate()
            .map(|(n, app)| app.report(report("sora", &format!("later-token-{n}")))),
    )
    .await;
    assert_eq!(tally(&after), (1, 2));
}
