//! `GET /v1/events`: an SSE client sees opened → updated → resolved on every instance, and a
//! client resuming with `Last-Event-ID` misses nothing.

use std::time::Duration;

use awc::http::StatusCode;
use futures_util::StreamExt;

use crate::helpers::TestApp;
use crate::monitor::{count_direct, monitor, next_minute};

type Body = futures_util::stream::LocalBoxStream<
    'static,
    Result<actix_web::web::Bytes, awc::error::PayloadError>,
>;

/// A minimal SSE reader.
struct Sse {
    response: Body,
    buffer: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Received {
    id: String,
    kind: String,
    data: serde_json::Value,
}

impl Sse {
    async fn connect(app: &TestApp, last_event_id: Option<&str>) -> Self {
        let mut request = app.client.get(format!("{}/v1/events", app.address));
        if let Some(id) = last_event_id {
            request = request.insert_header(("last-event-id", id));
        }
        let response = request.send().await.expect("connect");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        Self {
            response: response.boxed_local(),
            buffer: String::new(),
        }
    }

    /// The next event, skipping comments and `retry:`; `None` after 10 s without one.
    async fn next(&mut self) -> Option<Received> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_owned)
                };
                if let (Some(id), Some(kind), Some(data)) =
                    (field("id: "), field("event: "), field("data: "))
                {
                    return Some(Received {
                        id,
                        kind,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.next())
                .await
                .ok()??;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    /// Events until one of `kind` (inclusive).
    async fn until(&mut self, kind: &str) -> Vec<Received> {
        let mut seen = Vec::new();
        while let Some(event) = self.next().await {
            let done = event.kind == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
        panic!("no {kind} event; got {seen:?}");
    }
}

#[actix_web::test]
async fn every_instance_streams_the_incident_and_resuming_misses_nothing() {
    let leader = TestApp::spawn().await;
    let other = TestApp::builder()
        .database(&leader.db_name)
        .var("DOWNWATCH_REDIS_PREFIX", &leader.prefix)
        .spawn()
        .await;
    let mut on_leader = Sse::connect(&leader, None).await;
    let mut on_other = Sse::connect(&other, None).await;

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

    let seen = on_leader.until("incident.resolved").await;
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

    let elsewhere = on_other.until("incident.resolved").await;
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
    let mut resumed = Sse::connect(&leader, Some(&seen[0].id)).await;
    let rest = resumed.until("incident.resolved").await;
    assert_eq!(rest, seen[1..]);
}
