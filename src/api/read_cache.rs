//! Rendered answers of the heavy public reads (curves, charts, the board), shared for a moment.
//!
//! During an outage everybody opens the same few curves at once. Recomputing one from
//! PostgreSQL, Redis and the model for each request would make reads the first thing to fall
//! over, so a rendered answer is kept for a short time (one second by default, on the injected
//! clock; `DOWNWATCH_READ_CACHE_MS`, 0 turns it off) and served to every identical request,
//! with its ETag for conditional requests. Only successes are kept, and at most
//! [`MAX_ENTRIES`] of them, so odd query strings cannot grow it without bound.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::SharedClock;
use crate::error::ApiError;

/// Most answers kept at once.
pub const MAX_ENTRIES: usize = 4096;

/// One rendered answer: body, type and the caching headers that go with it.
#[derive(Debug, Clone)]
pub struct Rendered {
    body: Bytes,
    content_type: &'static str,
    etag: String,
    cache_control: &'static str,
    disposition: Option<header::HeaderValue>,
}

impl Rendered {
    /// An answer with a strong ETag computed from its body.
    pub fn new(
        body: impl Into<Bytes>,
        content_type: &'static str,
        cache_control: &'static str,
    ) -> Self {
        let body = body.into();
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        Self {
            etag: format!("\"{:016x}\"", hasher.finish()),
            body,
            content_type,
            cache_control,
            disposition: None,
        }
    }

    /// Offers the body as a download named `filename`.
    pub fn attachment(mut self, filename: &str) -> Self {
        self.disposition =
            header::HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")).ok();
        self
    }

    /// The response to `req`: 304 when its `If-None-Match` names this body, else the body.
    pub fn respond(&self, req: &HttpRequest) -> HttpResponse {
        let matches = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .map(|tag| tag.trim().trim_start_matches("W/"))
                    .any(|tag| tag == self.etag || tag == "*")
            });
        let mut response = if matches {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((header::ETAG, self.etag.clone()))
            .insert_header((header::CACHE_CONTROL, self.cache_control));
        if matches {
            return response.finish();
        }
        if let Some(disposition) = &self.disposition {
            response.insert_header((header::CONTENT_DISPOSITION, disposition.clone()));
        }
        response
            .content_type(self.content_type)
            .body(self.body.clone())
    }
}

/// An answer and when it was rendered.
type Kept = (DateTime<Utc>, Arc<Rendered>);

/// Rendered answers by request path and query.
pub struct ReadCache {
    ttl: TimeDelta,
    clock: SharedClock,
    entries: Mutex<HashMap<String, Kept>>,
}

impl ReadCache {
    /// Answers live for `ttl` on `clock`; a zero `ttl` renders every request.
    pub fn new(ttl: Duration, clock: SharedClock) -> Self {
        Self {
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::zero()),
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The kept answer to this request if it is fresh, else `render`'s (kept if it succeeds).
    pub async fn respond<F, Fut>(
        &self,
        req: &HttpRequest,
        render: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, ApiError>>,
    {
        if self.ttl.is_zero() {
            return Ok(render().await?.respond(req));
        }
        let key = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
        let now = self.clock.now();
        if let Some(hit) = self.fresh(&key, now) {
            metrics::counter!("downwatch_read_cache_total", "outcome" => "hit").increment(1);
            return Ok(hit.respond(req));
        }
        metrics::counter!("downwatch_read_cache_total", "outcome" => "miss").increment(1);
        let rendered = Arc::new(render().await?);
        self.keep(key, now, rendered.clone());
        Ok(rendered.respond(req))
    }

    fn fresh(&self, key: &str, now: DateTime<Utc>) -> Option<Arc<Rendered>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (at, rendered) = entries.get(key)?;
        // A clock set back (tests, or the demo restarting) must not serve answers "from the future".
        (*at <= now && now - *at < self.ttl).then(|| rendered.clone())
    }

    fn keep(&self, key: String, now: DateTime<Utc>, rendered: Arc<Rendered>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| *at <= now && now - *at < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (now, rendered));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use actix_web::test::TestRequest;
    use chrono::TimeZone;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache_of(ttl_ms: u64) -> (ReadCache, Arc<ManualClock>) {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap());
        (
            ReadCache::new(Duration::from_millis(ttl_ms), clock.clone()),
            clock,
        )
    }

    async fn body(response: HttpResponse) -> String {
        let bytes = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[actix_web::test]
    async fn identical_requests_share_one_rendering_until_it_expires() {
        let (cache, clock) = cache_of(1000);
        let renders = AtomicUsize::new(0);
        let render = || async {
            let n = renders.fetch_add(1, Ordering::SeqCst);
            Ok(Rendered::new(
                format!("render {n}"),
                "text/plain",
                "public, max-age=15",
            ))
        };
        let req = TestRequest::get().uri("/v1/status").to_http_request();
        assert_eq!(
            body(cache.respond(&req, render).await.unwrap()).await,
            "render 0"
        );
        clock.advance(Duration::from_millis(999));
        assert_eq!(
            body(cache.respond(&req, render).await.unwrap()).await,
            "render 0"
        );
        let other = TestRequest::get().uri("/v1/status?x=1").to_http_request();
        assert_eq!(
            body(cache.respond(&other, render).await.unwrap()).await,
            "render 1"
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            body(cache.respond(&req, render).await.unwrap()).await,
            "render 2"
        );
    }

    #[actix_web::test]
    async fn errors_are_not_kept_and_zero_turns_it_off() {
        let (cache, _) = cache_of(1000);
        let req = TestRequest::get().uri("/v1/status").to_http_request();
        let failed = cache
            .respond(&req, || async { Err(ApiError::NotFound("gone".into())) })
            .await;
        assert!(failed.is_err());
        let ok = cache
            .respond(&req, || async {
                Ok(Rendered::new("fine", "text/plain", "no-store"))
            })
            .await
            .unwrap();
        assert_eq!(body(ok).await, "fine");

        let (off, _) = cache_of(0);
        let renders = AtomicUsize::new(0);
        for _ in 0..3 {
            off.respond(&req, || async {
                renders.fetch_add(1, Ordering::SeqCst);
                Ok(Rendered::new("x", "text/plain", "no-store"))
            })
            .await
            .unwrap();
        }
        assert_eq!(renders.load(Ordering::SeqCst), 3);
    }

    #[actix_web::test]
    async fn a_matching_etag_gets_304_without_a_body() {
        let rendered = Rendered::new("{}", "application/json", "public, max-age=15");
        let plain = TestRequest::get().to_http_request();
        let first = rendered.respond(&plain);
        let etag = first
            .headers()
            .get(header::ETAG)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let conditional = TestRequest::get()
            .insert_header((header::IF_NONE_MATCH, format!("W/{etag}")))
            .to_http_request();
        let second = rendered.respond(&conditional);
        assert_eq!(second.status(), 304);
        assert_eq!(body(second).await, "");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let (cache, _) = cache_of(1000);
        let now = cache.clock.now();
        for i in 0..MAX_ENTRIES + 10 {
            cache.keep(
                format!("/k{i}"),
                now,
                Arc::new(Rendered::new("x", "text/plain", "no-store")),
            );
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
