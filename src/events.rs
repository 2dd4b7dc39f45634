//! Live events: what the monitor decides, fanned out to SSE clients on every instance.
//!
//! The leader appends events to a capped Redis stream (`{prefix}:events`, about 10,000
//! entries); every instance runs one reader that follows the stream and broadcasts to its own
//! clients. Stream ids are the SSE event ids, so a client that reconnects with `Last-Event-ID`
//! gets what it missed from the stream: up to the last `replay_limit` events
//! (`DOWNWATCH_EVENTS_REPLAY`); one that missed more gets a `reset` event instead, and reloads
//! the state from the API.
//!
//! Replays and publishing use a Redis connection of their own, not the one that counts
//! reports: a crowd of reconnecting dashboards must not queue behind, or in front of, intake.

use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamRangeReply, StreamReadReply};
use tokio::sync::{broadcast, watch};

use crate::domain::LiveEvent;
use crate::store::StoreError;
use crate::windows::RedisConn;

/// Entries the stream keeps (approximately).
const STREAM_LENGTH: usize = 10_000;

/// The SSE name of the event sent instead of a replay too long to send.
pub const RESET: &str = "reset";

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stream id, e.g. `1749537360000-0`: the SSE id.
    pub id: String,
    /// `incident.opened`, `incident.updated`, `incident.resolved` or `service.level`.
    pub kind: String,
    /// JSON payload.
    pub data: String,
}

/// Orders stream ids (`<ms>-<seq>`); `None` if `id` is not one.
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// What a client resuming after an event gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The events it missed, oldest first (at most the replay limit).
    Missed(Vec<Event>),
    /// It missed more than the replay limit (or events the stream no longer holds): a `reset`
    /// event carrying the newest id, after which it follows live events.
    Reset(Event),
}

/// Publishing and following the event stream.
pub struct Events {
    redis: RedisConn,
    key: String,
    replay_limit: usize,
    sender: broadcast::Sender<Event>,
    /// Set when the instance stops: live streams end, so they do not hold up the drain.
    closing: watch::Sender<bool>,
}

impl Events {
    /// Events in the stream at `key` (`KeySchema::events`), published and replayed through
    /// `redis` (a connection apart from counting's) and followed on a connection of the
    /// reader's own; a resuming client gets at most `replay_limit` missed events.
    pub fn new(redis: RedisConn, key: String, replay_limit: usize) -> Arc<Self> {
        let (sender, _) = broadcast::channel(1024);
        Arc::new(Self {
            redis,
            key,
            replay_limit,
            sender,
            closing: watch::channel(false).0,
        })
    }

    /// Appends an event to the stream (the reader on each instance delivers it).
    pub async fn publish(&self, event: &LiveEvent) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_LENGTH)
            .arg("*")
            .arg("kind")
            .arg(event.kind().as_str())
            .arg("data")
            .arg(event.data());
        self.redis
            .run("publish-event", |mut c| async move {
                cmd.query_async::<String>(&mut c).await
            })
            .await
            .map(drop)
    }

    /// What a client that last saw `last_id` missed: the events after it, oldest first, if
    /// there are at most the replay limit of them; else a reset. One round trip, reading at
    /// most one event more than the limit, newest first.
    pub async fn since(&self, last_id: &str) -> Result<Replay, StoreError> {
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(&self.key)
            .arg("+")
            .arg(format!("({last_id}"))
            .arg("COUNT")
            .arg(self.replay_limit + 1);
        let reply: StreamRangeReply = self
            .redis
            .run("replay-events", |mut c| async move {
                cmd.query_async(&mut c).await
            })
            .await?;
        if reply.ids.len() <= self.replay_limit {
            let mut missed: Vec<Event> = reply
                .ids
                .into_iter()
                .filter_map(|entry| to_event(entry.id, &entry.map))
                .collect();
            missed.reverse();
            return Ok(Replay::Missed(missed));
        }
        let newest = reply.ids.first().map(|e| e.id.clone()).unwrap_or_default();
        Ok(Replay::Reset(self.reset(newest)))
    }

    /// The `reset` event: the client missed more than can be replayed.
    fn reset(&self, newest: String) -> Event {
        let data = serde_json::json!({
            "reason": "missed-too-many",
            "replay_limit": self.replay_limit,
            "detail": format!(
                "More than {} events happened since Last-Event-ID. Reload the current state (GET /v1/status, GET /v1/incidents?state=open), then follow the events that come next.",
                self.replay_limit
            ),
        });
        Event {
            id: newest,
            kind: RESET.to_owned(),
            data: data.to_string(),
        }
    }

    /// The id of the newest event in the stream, if any.
    pub async fn newest_id(&self) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(&self.key).arg("+").arg("-").arg("COUNT").arg(1);
        let reply: StreamRangeReply = self
            .redis
            .run("newest-event", |mut c| async move {
                cmd.query_async(&mut c).await
            })
            .await?;
        Ok(reply.ids.first().map(|e| e.id.clone()))
    }

    /// A receiver of events this instance reads from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Tells live streams that the instance is stopping: they end, and their clients
    /// reconnect (to another instance) with `Last-Event-ID`.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Self::close`] has been called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = closing.wait_for(|closed| *closed).await;
    }

    /// Follows the stream on a connection of its own (a blocking read must not hold up the
    /// shared one) and broadcasts to local subscribers; reconnects after errors.
    pub fn spawn_reader(self: &Arc<Self>) -> actix_web::rt::task::JoinHandle<()> {
        let events = Arc::clone(self);
        actix_web::rt::spawn(async move {
            let mut last = "$".to_owned();
            // Failures in a row: the first is logged, then every 20th, and retries back off
            // from half a second to five seconds, so a Redis that is down is one line, not
            // a line a second.
            let mut failures: u32 = 0;
            loop {
                let started = std::time::Instant::now();
                if let Err(e) = events.follow(&mut last).await {
                    if started.elapsed() > Duration::from_secs(30) {
                        // It had been following: this is a new outage.
                        failures = 0;
                    }
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(error = %e, "event stream reader lost Redis; retrying with backoff");
                    } else if failures.is_multiple_of(20) {
                        tracing::warn!(error = %e, failures, "event stream reader still cannot reach Redis");
                    }
                    let backoff =
                        Duration::from_millis(250 << failures.min(7)).min(Duration::from_secs(30));
                    tokio::time::sleep(backoff).await;
                }
            }
        })
    }

    async fn follow(&self, last: &mut String) -> redis::RedisResult<()> {
        // Replies wait up to the 5-second block of XREAD, and then some.
        let mut conn = self.redis.dedicated(Duration::from_secs(15)).await?;
        if last == "$" {
            // Start from the newest entry, so nothing published from here on is missed.
            let newest: StreamRangeReply = redis::cmd("XREVRANGE")
                .arg(&self.key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut conn)
                .await?;
            *last = newest
                .ids
                .first()
                .map_or_else(|| "0-0".to_owned(), |e| e.id.clone());
        }
        loop {
            let reply: Option<StreamReadReply> = redis::cmd("XREAD")
                .arg("BLOCK")
                .arg(5_000)
                .arg("COUNT")
                .arg(500)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(last.as_str())
                .query_async(&mut conn)
                .await?;
            for stream in reply.map(|r| r.keys).unwrap_or_default() {
                for entry in stream.ids {
                    *last = entry.id.clone();
                    if let Some(event) = to_event(entry.id, &entry.map) {
                        // No subscribers is fine: nobody is listening on this instance.
                        let _ = self.sender.send(event);
                    }
                }
            }
        }
    }
}

fn to_event(id: String, map: &std::collections::HashMap<String, redis::Value>) -> Option<Event> {
    let text = |field: &str| {
        map.get(field)
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
    };
    Some(Event {
        id,
        kind: text("kind")?,
        data: text("data")?,
    })
}
