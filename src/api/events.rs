//! `GET /v1/events`: Server-Sent Events for dashboards.
//!
//! Events: `incident.opened`, `incident.updated`, `incident.resolved`, `service.level`. Each
//! carries its stream id; a client reconnecting with `Last-Event-ID` first gets what it missed
//! (up to `DOWNWATCH_EVENTS_REPLAY` events; past that, one `reset` event telling it to reload
//! the state), then live events. A comment every 15 s keeps proxies from closing an idle stream.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::error::ApiError;
use crate::events::{Event, Events, Replay, parse_id};
use crate::http::streams::{Refused, StreamSlot};
use crate::http::{AppState, resource};
use crate::ingest::identity::client_key;

const HEARTBEAT: Duration = Duration::from_secs(15);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/events").get(stream));
}

fn frame(event: &Event) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.id, event.kind, event.data
    ))
}

/// One client's position in the event stream.
struct Feed {
    /// Held for the stream's life; dropped with the response.
    _slot: StreamSlot,
    events: Arc<Events>,
    receiver: broadcast::Receiver<Event>,
    backlog: VecDeque<Event>,
    last: Option<(u64, u64)>,
    heartbeat: tokio::time::Interval,
    greeted: bool,
}

impl Feed {
    /// The next chunk to send; `None` ends the response.
    async fn next(&mut self) -> Option<Bytes> {
        if !self.greeted {
            self.greeted = true;
            return Some(Bytes::from_static(b"retry: 3000\n\n"));
        }
        if let Some(event) = self.backlog.pop_front() {
            self.last = parse_id(&event.id).or(self.last);
            return Some(frame(&event));
        }
        loop {
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(event) => {
                        let id = parse_id(&event.id);
                        // Skip what the backlog already sent.
                        if id.is_some() && id <= self.last {
                            continue;
                        }
                        self.last = id.or(self.last);
                        return Some(frame(&event));
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Too slow for the live feed: catch up from the stream instead.
                        // `last` is None only when the stream was empty at connect: all of it is new.
                        let since = self.last.map_or_else(|| "0-0".to_owned(), |(ms, seq)| format!("{ms}-{seq}"));
                        self.backlog = backlog(self.events.since(&since).await.ok()?).into();
                        if let Some(event) = self.backlog.pop_front() {
                            self.last = parse_id(&event.id).or(self.last);
                            return Some(frame(&event));
                        }
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.heartbeat.tick() => return Some(Bytes::from_static(b": heartbeat\n\n")),
                // The instance is stopping: end the stream; the client reconnects elsewhere.
                () = self.events.closed() => return None,
            }
        }
    }
}

/// What to send before live events: the missed events, or the reset that replaces them.
fn backlog(replay: Replay) -> Vec<Event> {
    match replay {
        Replay::Missed(events) => events,
        Replay::Reset(reset) => vec![reset],
    }
}

/// Live events over Server-Sent Events; `Last-Event-ID` resumes after a disconnect.
#[utoipa::path(get, path = "/v1/events", tag = "queries", params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")), responses((status = 200, description = "Server-Sent Events: incident.opened, incident.updated, incident.resolved, service.level; reset when a resume missed more than DOWNWATCH_EVENTS_REPLAY events", body = String, content_type = "text/event-stream")))]
async fn stream(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let last_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let bad = || {
        ApiError::field(
            "Last-Event-ID",
            "must be an event id this stream sent, like 1749537360000-0",
        )
    };
    let last = match last_id {
        // Ids are Redis stream ids, taken from Redis's clock: one far ahead was not ours.
        Some(id) => Some(
            parse_id(id)
                .filter(|(ms, _)| {
                    *ms <= u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
                        + 86_400_000
                })
                .ok_or_else(bad)?,
        ),
        None => None,
    };
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let client = client_key(state.proxies.client_ip(peer, req.headers()));
    let slot = state
        .streams
        .take(client)
        .map_err(|refused| match refused {
            Refused::Client(limit) => ApiError::Streams {
                client: true,
                limit,
            },
            Refused::Instance(limit) => ApiError::Streams {
                client: false,
                limit,
            },
        })?;
    // Subscribe before reading the backlog, so nothing falls between the two.
    let receiver = state.events.subscribe();
    let (backlog, last) = match last_id {
        Some(id) => (backlog(state.events.since(id).await?), last),
        // A new client starts now; should it ever lag, it catches up from here, not from the
        // oldest event in the stream.
        None => (
            Vec::new(),
            state
                .events
                .newest_id()
                .await?
                .as_deref()
                .and_then(parse_id),
        ),
    };
    let feed = Feed {
        _slot: slot,
        events: state.events.clone(),
        receiver,
        backlog: backlog.into(),
        last,
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT),
        greeted: false,
    };
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next().await?;
        Some((Ok::<_, actix_web::Error>(chunk), feed))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .streaming(body))
}
