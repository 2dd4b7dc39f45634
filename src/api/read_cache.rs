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
use tokio::sync::OnceCell;

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

/// One request's answer: when its rendering began, and the answer once there is one. Requests
/// that arrive while it renders wait for it instead of rendering it again.
struct Slot {
    at: DateTime<Utc>,
    answer: OnceCell<Arc<Rendered>>,
}

/// Rendered answers by request path and query.
pub struct ReadCache {
    ttl: TimeDelta,
    clock: SharedClock,
    entries: Mutex<HashMap<String, Arc<Slot>>>,
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
        let slot = self.slot(key, self.clock.now());
        let outcome = if slot.answer.initialized() {
            "hit"
        } else {
            "miss"
        };
        metrics::counter!("downwatch_read_cache_total", "outcome" => outcome).increment(1);
        // A failed rendering leaves the slot empty: the next request tries again.
        let rendered = slot
            .answer
            .get_or_try_init(|| async { render().await.map(Arc::new) })
            .await?;
        Ok(rendered.respond(req))
    }

    /// The fresh slot of `key`, or a new one in its place.
    fn slot(&self, key: String, now: DateTime<Utc>) -> Arc<Slot> {
        let fresh = |slot: &Slot| slot.at <= now && now - slot.at < self.ttl;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = entries.get(&key).filter(|s| fresh(s)) {
            return slot.clone();
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, slot| fresh(slot));
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        let slot = Arc::new(Slot {
            at: now,
            answer: OnceCell::new(),
        });
        entries.insert(key, slot.clone());
        slot
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

    #[actix_web::test]
    async fn requests_arriving_during_a_rendering_wait_for_it() {
        let (cache, _) = cache_of(1000);
        let renders = AtomicUsize::new(0);
        let render = || async {
            renders.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(Rendered::new("x", "text/plain", "no-store"))
        };
        let req = TestRequest::get().uri("/v1/status").to_http_request();
        let (a, b) = tokio::join!(cache.respond(&req, render), cache.respond(&req, render));
        assert_eq!(body(a.unwrap()).await, "x");
        assert_eq!(body(b.unwrap()).await, "x");
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let (cache, _) = cache_of(1000);
        let now = cache.clock.now();
        for i in 0..MAX_ENTRIES + 10 {
            cache.slot(format!("/k{i}"), now);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
