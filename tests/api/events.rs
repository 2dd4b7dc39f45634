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
