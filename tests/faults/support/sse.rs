//! A minimal Server-Sent Events client: connects, and tells when the server ends the stream.

use std::time::Duration;

use futures_util::StreamExt;

type Body = futures_util::stream::LocalBoxStream<
    'static,
    Result<actix_web::web::Bytes, awc::error::PayloadError>,
>;

/// A connected `/v1/events` stream.
pub struct Sse {
    body: Body,
}

impl Sse {
    /// Connects to `url` (a `/v1/events` address).
    pub async fn connect(client: &awc::Client, url: &str) -> Self {
        let response = client.get(url).send().await.expect("connect to /v1/events");
        assert_eq!(response.status(), 200);
        Self {
            body: response.boxed_local(),
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
