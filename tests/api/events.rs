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
