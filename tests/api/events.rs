//! `GET /v1/events`: an SSE client sees opened → updated → resolved on every instance, and a
//! client resuming with `Last-Event-ID` misses nothing.

use std::time::Duration;

use awc::http::StatusCode;

use crate::helpers::TestApp;
use crate::monitor::{count_direct, monitor, next_minute};
use crate::sse::{Received, Sse};

/// Connects to `app`'s event stream, resuming after `last_event_id` if given.
async fn connect(app: &TestApp, last_event_id: Option<&str>) -> Sse {
    let mut request = app.client.get(format!("{}/v1/events", app.address));
    if let Some(id) = last_event_id {
        request = request.insert_header(("last-event-id", id));
    }
    Sse::open(request).await
}

/// Events until one of `kind` (inclusive), each within 10 s of the one before.
async fn until(sse: &mut Sse, kind: &str) -> Vec<Received> {
    let mut seen = Vec::new();
    while let Some(event) = sse.next(Duration::from_secs(10)).await {
        let done = event.kind == kind;
        seen.push(event);
        if done {
            return seen;
        }
    }
    panic!("no {kind} event; got {seen:?}");
}

#[actix_web::test]
async fn every_instance_streams_the_incident_and_resuming_misses_nothing() {
    let leader = TestApp::spawn().await;
    let other = TestApp::builder()
        .database(&leader.db_name)
        .var("DOWNWATCH_REDIS_PREFIX", &leader.prefix)
        .spawn()
        .await;
    let mut on_leader = connect(&leader, None).await;
    let mut on_other = connect(&other, None).await;

    let monitor = monitor(&leader);
    for _ in 0..75 {
        count_direct(&leader, "chatgpt", 3, "q").await;
        next_minute(&leader, &monitor).await;
    }
    for step in 0..6 {
        count_direct(&leader, "chatgpt", 40 + step * 25, "o").await;
        next_minute(&leader, &monitor).await;
    }
    for _ in 0..45 {
        count_direct(&leader, "chatgpt", 3, "q").await;
        next_minute(&leader, &monitor).await;
    }

    let seen = until(&mut on_leader, "incident.resolved").await;
    let kinds: Vec<&str> = seen
        .iter()
        .filter(|e| e.kind.starts_with("incident."))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"incident.opened"), "{kinds:?}");
    assert!(
        kinds.contains(&"incident.updated"),
        "escalation is an update: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"incident.resolved"));
    assert!(
        seen.iter()
            .any(|e| e.kind == "service.level" && e.data["level"] == "outage")
    );
    assert!(seen.iter().all(|e| e.data["service"] == "chatgpt"));

    let elsewhere = until(&mut on_other, "incident.resolved").await;
    assert_eq!(
        elsewhere, seen,
        "the other instance streams the same events"
    );

    // An id from the far future, or not an id at all, is refused with a clear answer.
    for bad in ["9999999999999999-0", "latest", "+1-0"] {
        let reply = leader
            .client
            .get(format!("{}/v1/events", leader.address))
            .insert_header(("last-event-id", bad))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    // A client that saw only the first event reconnects and gets the rest, in order.
    let mut resumed = connect(&leader, Some(&seen[0].id)).await;
    let rest = until(&mut resumed, "incident.resolved").await;
    assert_eq!(rest, seen[1..]);
}

#[actix_web::test]
async fn a_resume_replays_at_most_the_limit_and_an_older_id_gets_a_reset() {
    use downwatch::domain::{Level, LevelEvent, LiveEvent};
    let app = TestApp::builder()
        .var("DOWNWATCH_EVENTS_REPLAY", "10")
        .spawn()
        .await;
    let publish = || async {
        let event = LiveEvent::Level(LevelEvent {
            service: "chatgpt".into(),
            level: Level::Elevated,
            at: downwatch::clock::Clock::now(app.clock.as_ref()),
        });
        app.state.events.publish(&event).await.unwrap();
        app.state.events.newest_id().await.unwrap().unwrap()
    };
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(publish().await);
    }
    // Ten missed: all ten, in order.
    let mut resumed = connect(&app, Some(&ids[19])).await;
    for id in &ids[20..] {
        let event = resumed.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!((&event.id, event.kind.as_str()), (id, "service.level"));
    }
    // Eleven missed, or an id older than the stream: one reset event, with the newest id, so a
    // client that reconnects after it resumes from there.
    let mut newest = ids[29].clone();
    for old in [ids[18].clone(), "0-0".to_owned()] {
        let mut late = connect(&app, Some(&old)).await;
        let reset = late.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(reset.kind, "reset", "{old}: {reset:?}");
        assert_eq!(reset.id, newest);
        assert_eq!(reset.data["reason"], "missed-too-many");
        assert_eq!(reset.data["replay_limit"], 10);
        // Then live events, nothing replayed.
        let live = publish().await;
        let next = late.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            (next.id.as_str(), next.kind.as_str()),
            (live.as_str(), "service.level")
        );
        newest = live;
    }
}

/// Opens `/v1/events` on a raw connection as `client` (through the trusted proxy), reads the
/// greeting, and returns the connection, or the status line of a refusal.
async fn raw_stream(app: &TestApp, client: &str) -> Result<tokio::net::TcpStream, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = app.address.rsplit(':').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let head = format!("GET /v1/events HTTP/1.1\r\nhost: x\r\nx-forwarded-for: {client}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if text.contains("retry: 3000") {
            return Ok(stream);
        }
        if text.contains("\r\n\r\n") && !text.starts_with("HTTP/1.1 200") {
            return Err(text.into_owned());
        }
    }
}

/// Waits (up to 2 s, far below the 15 s heartbeat) until `app` holds `open` streams.
async fn until_open(app: &TestApp, open: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while app.state.streams.open() != open {
        assert!(
            std::time::Instant::now() < deadline,
            "{} streams open, expected {open}",
            app.state.streams.open()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_web::test]
async fn event_streams_are_capped_per_client_and_per_instance_and_closed_ones_free_at_once() {
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_EVENTS_MAX_PER_CLIENT", "2")
        .var("DOWNWATCH_EVENTS_MAX_STREAMS", "4")
        .spawn()
        .await;
    let first = raw_stream(&app, "198.51.100.1").await.unwrap();
    let _second = raw_stream(&app, "198.51.100.1").await.unwrap();
    let refused = raw_stream(&app, "198.51.100.1").await.unwrap_err();
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(refused.contains("retry-after: 5"), "{refused}");
    assert!(refused.contains("application/problem+json"), "{refused}");
    // Another client has its own two; then the instance is full for everyone.
    let _third = raw_stream(&app, "198.51.100.2").await.unwrap();
    let _fourth = raw_stream(&app, "198.51.100.2").await.unwrap();
    let full = raw_stream(&app, "198.51.100.3").await.unwrap_err();
    assert!(full.starts_with("HTTP/1.1 503"), "{full}");
    assert!(full.contains("retry-after: 5"), "{full}");
    // A closed stream gives its slot back at once, not at the next heartbeat.
    drop(first);
    until_open(&app, 3).await;
    let _again = raw_stream(&app, "198.51.100.1").await.unwrap();
    // Reports and health are not streams: they go on.
    let report = serde_json::json!({"service": "chatgpt", "problem": "login"});
    assert_eq!(app.report(report).await.status, 202);
    assert_eq!(app.get("/healthz").await.status, 200);
}

/// The server side of `app`'s TCP connections that are still held: established, or closed by
/// the client but not yet by the server (CLOSE_WAIT, what a stream noticed late leaves).
fn held_connections(app: &TestApp) -> (usize, usize) {
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let suffix = format!(":{port:04X}");
    let mut held = (0, 0);
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 3 && fields[1].ends_with(&suffix) {
                match fields[3] {
                    "01" => held.0 += 1,
                    "08" => held.1 += 1,
                    _ => {}
                }
            }
        }
    }
    held
}

#[actix_web::test]
async fn stream_churn_leaves_no_connection_behind_and_intake_answers_throughout() {
    let app = TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    let app = &app;
    // 20 clients, each opening, reading the greeting and closing a stream 25 times.
    let churn = futures_util::future::join_all((0..20).map(|c| async move {
        for _ in 0..25 {
            drop(raw_stream(app, &format!("203.0.113.{c}")).await.unwrap());
        }
    }));
    let probes = async {
        let mut slowest = Duration::ZERO;
        for i in 0..20 {
            let started = std::time::Instant::now();
            assert_eq!(app.get("/healthz").await.status, 200);
            let body = serde_json::json!({"service": "chatgpt", "problem": "login"});
            let reply = app.report_via(&format!("198.51.100.{i}"), body).await;
            assert_eq!(reply.status, 202, "{}", reply.text);
            slowest = slowest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        slowest
    };
    let (_, slowest) = tokio::join!(churn, probes);
    // Every closed stream is let go at once: its slot, and its connection (well before the
    // 15 s heartbeat would have found it gone).
    until_open(app, 0).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let (established, close_wait) = held_connections(app);
        // The test client keeps a few pooled connections of its own.
        if established <= 4 && close_wait == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "500 streams opened and closed left {established} established and {close_wait} half-closed connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        slowest < Duration::from_millis(500),
        "health and a report took {slowest:?}"
    );
}
