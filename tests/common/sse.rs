//! A minimal Server-Sent Events reader, shared by the api and fault tests.

use std::time::Duration;

use futures_util::StreamExt;

type Body = futures_util::stream::LocalBoxStream<
    'static,
    Result<actix_web::web::Bytes, awc::error::PayloadError>,
>;

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Stream id.
    pub id: String,
    /// Event name.
    pub kind: String,
    /// Payload.
    pub data: serde_json::Value,
}

/// A connected `/v1/events` stream.
pub struct Sse {
    body: Body,
    buffer: String,
}

impl Sse {
    /// Connects to `url` (a `/v1/events` address).
    pub async fn connect(client: &awc::Client, url: &str) -> Self {
        Self::open(client.get(url)).await
    }

    /// Sends `request` (to `/v1/events`, with any headers the caller set) and follows the
    /// stream it answers with.
    pub async fn open(request: awc::ClientRequest) -> Self {
        let response = request.send().await.expect("connect to /v1/events");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        Self {
            body: response.boxed_local(),
            buffer: String::new(),
        }
    }

    /// The next event within `limit`, skipping comments; `None` if none came or it ended.
    pub async fn next(&mut self, limit: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + limit;
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
                        data: serde_json::from_str(&data).ok()?,
                    });
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }

    /// Reads until an event of `kind` arrives within `limit`.
    pub async fn until(&mut self, kind: &str, limit: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await?;
            if event.kind == kind {
                return Some(event);
            }
        }
    }

    /// True once the server has ended the stream (read within `limit`).
    pub async fn ended(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}
