//! Rendered answers of the heavy public reads (curves, charts, the board), shared for a moment.
//!
//! During an outage everybody opens the same few curves at once. Recomputing one from
//! PostgreSQL, Redis and the model for each request would make reads the first thing to fall
//! over, so a rendered answer is kept for a short time (one second by default, on the injected
//! clock; `DOWNWATCH_READ_CACHE_MS`, 0 turns it off) and served to every identical request,
//! with its ETag for conditional requests. Answers are keyed by what was asked, not by the raw
//! query string, and the cache holds at most [`MAX_ENTRIES`] answers and [`MAX_BYTES`] bytes, so
//! made-up query strings can neither bypass it nor grow it without bound.
//!
//! Renderings are also bounded in number: at most `heavy_reads` at once per instance
//! (`DOWNWATCH_HEAVY_READS`); past that a request that would render answers 503 with
//! `Retry-After: 1` at once instead of queueing for a database connection, while answers
//! already rendered keep being served. With [`ReadCache::limit_per_client`], each client
//! address (IPv6: /64) may also cause only so many renderings (a burst, then a rate): past
//! that it gets 429, while answers already rendered are still served to it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::clock::SharedClock;
use crate::error::ApiError;
use crate::ingest::identity::client_key;
use crate::ingest::{ProxyPolicy, ReportLimiter, SubmitError};

/// Most answers kept at once.
pub const MAX_ENTRIES: usize = 4096;
/// Most bytes of answers kept at once (a 90-day curve is under a megabyte).
pub const MAX_BYTES: usize = 64 << 20;
/// Above this many answers, expired ones are swept out before a new one goes in.
const SWEEP_ABOVE: usize = 256;

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
        Self {
            etag: format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body)),
            body,
            content_type,
            cache_control,
            disposition: None,
        }
    }

    /// A JSON answer of `body`.
    pub fn json(body: &impl serde::Serialize, cache_control: &'static str) -> Self {
        let bytes = serde_json::to_vec(body).expect("response bodies serialize");
        Self::new(bytes, "application/json", cache_control)
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

/// One answer: when its rendering began, and its outcome once there is one. Requests that
/// arrive while it renders wait for that rendering and share its outcome, success or failure,
/// instead of rendering again (or, after a failure, one after another).
struct Slot {
    at: DateTime<Utc>,
    outcome: OnceCell<Result<Arc<Rendered>, Arc<ApiError>>>,
}

impl Slot {
    fn bytes(&self) -> usize {
        match self.outcome.get() {
            Some(Ok(rendered)) => rendered.body.len(),
            _ => 0,
        }
    }
}

/// Rendered answers by what was asked (see [`ReadCache::respond`]).
pub struct ReadCache {
    ttl: TimeDelta,
    clock: SharedClock,
    entries: Mutex<HashMap<String, Arc<Slot>>>,
    renderings: Arc<Semaphore>,
    per_client: Option<(Arc<ReportLimiter>, ProxyPolicy)>,
}

impl ReadCache {
    /// Answers live for `ttl` on `clock`; a zero `ttl` renders every request. At most
    /// `heavy_reads` renderings run at once.
    pub fn new(ttl: Duration, heavy_reads: usize, clock: SharedClock) -> Self {
        Self {
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::zero()),
            clock,
            entries: Mutex::new(HashMap::new()),
            renderings: Arc::new(Semaphore::new(heavy_reads)),
            per_client: None,
        }
    }

    /// Charges each rendering to the requesting client (found through `proxies`) in `limiter`.
    pub fn limit_per_client(mut self, limiter: Arc<ReportLimiter>, proxies: ProxyPolicy) -> Self {
        self.per_client = Some((limiter, proxies));
        self
    }

    /// Drops the per-client limiter's stale keys; returns how many it holds.
    pub fn housekeep(&self) -> usize {
        self.per_client
            .as_ref()
            .map_or(0, |(limiter, _)| limiter.housekeep())
    }

    /// 429 when the client of `req` has no renderings left.
    fn charge(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let Some((limiter, proxies)) = &self.per_client else {
            return Ok(());
        };
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let client = client_key(proxies.client_ip(peer, req.headers()));
        match limiter.check(client) {
            Ok(_) => Ok(()),
            Err(SubmitError::RateLimited { retry_after, limit }) => {
                metrics::counter!("downwatch_read_cache_total", "outcome" => "client_limited")
                    .increment(1);
                Err(ApiError::ReadsLimited { retry_after, limit })
            }
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!("read limiter: {other}"))),
        }
    }

    /// The permits of renderings; holding them all plays a flood of expensive reads (tests).
    pub fn renderings(&self) -> Arc<Semaphore> {
        self.renderings.clone()
    }

    /// A rendering permit for the client of `req`: 429 when the client has no renderings left,
    /// [`ApiError::Busy`] at once when the instance has no permit free.
    fn permit(&self, req: &HttpRequest) -> Result<OwnedSemaphorePermit, ApiError> {
        self.charge(req)?;
        self.renderings.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("downwatch_read_cache_total", "outcome" => "busy").increment(1);
            ApiError::Busy
        })
    }

    /// The shared answer for `key` if it is fresh, else `render`'s. `key` names what is asked
    /// from the parsed parameters (never the raw query string, which any parameter the handler
    /// ignores would make unique); the answer to `req` itself is then 200 or 304 by its ETag.
    ///
    /// A question nobody asked lately takes its permit before it takes a place in the cache: a
    /// flood of new questions past the bound gets its 503s without touching what the cache
    /// holds (and without the lock every reader shares).
    pub async fn respond<F, Fut>(
        &self,
        req: &HttpRequest,
        key: String,
        render: F,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, ApiError>>,
    {
        if self.ttl.is_zero() {
            let _permit = self.permit(req)?;
            return Ok(render().await?.respond(req));
        }
        let now = self.clock.now();
        let (slot, mut permit) = match self.fresh_slot(&key, now) {
            Some(slot) => (slot, None),
            None => {
                let permit = self.permit(req)?;
                (self.slot(&key, now), Some(permit))
            }
        };
        let outcome = if slot.outcome.initialized() {
            "hit"
        } else {
            "miss"
        };
        metrics::counter!("downwatch_read_cache_total", "outcome" => outcome).increment(1);
        let result = slot
            .outcome
            .get_or_init(|| async {
                // A rendering that was under way and gave up leaves this request to render,
                // under a permit of its own.
                let _permit = match permit.take() {
                    Some(permit) => permit,
                    None => self.permit(req).map_err(Arc::new)?,
                };
                render().await.map(Arc::new).map_err(Arc::new)
            })
            .await;
        match result {
            Ok(rendered) => Ok(rendered.respond(req)),
            Err(error) => {
                // Everyone waiting got this failure; the next request tries again.
                self.forget(&key, &slot);
                Ok(error.error_response())
            }
        }
    }

    /// The slot of `key` if it is fresh.
    fn fresh_slot(&self, key: &str, now: DateTime<Utc>) -> Option<Arc<Slot>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|slot| slot.at <= now && now - slot.at < self.ttl)
            .cloned()
    }

    /// The fresh slot of `key`, or a new one in its place.
    fn slot(&self, key: &str, now: DateTime<Utc>) -> Arc<Slot> {
        let fresh = |slot: &Slot| slot.at <= now && now - slot.at < self.ttl;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = entries.get(key).filter(|s| fresh(s)) {
            return slot.clone();
        }
        if entries.len() >= SWEEP_ABOVE {
            entries.retain(|_, slot| fresh(slot));
        }
        let bytes: usize = entries.values().map(|slot| slot.bytes()).sum();
        if entries.len() >= MAX_ENTRIES || bytes >= MAX_BYTES {
            // Still full of fresh answers: keep the newer half. Popular answers are rendered
            // again every `ttl`, so they are always among the newest.
            let mut ages: Vec<DateTime<Utc>> = entries.values().map(|slot| slot.at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, slot| slot.at > cut);
        }
        let slot = Arc::new(Slot {
            at: now,
            outcome: OnceCell::new(),
        });
        entries.insert(key.to_owned(), slot.clone());
        slot
    }

    /// Drops `key` if it still holds `slot` (a newer rendering may have replaced it).
    fn forget(&self, key: &str, slot: &Arc<Slot>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.get(key).is_some_and(|kept| Arc::ptr_eq(kept, slot)) {
            entries.remove(key);
        }
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
            ReadCache::new(Duration::from_millis(ttl_ms), 8, clock.clone()),
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
            body(cache.respond(&req, "status".into(), render).await.unwrap()).await,
            "render 0"
        );
        clock.advance(Duration::from_millis(999));
        assert_eq!(
            body(cache.respond(&req, "status".into(), render).await.unwrap()).await,
            "render 0"
        );
        // Another question renders on its own.
        let other = TestRequest::get()
            .uri("/v1/status?tz=UTC")
            .to_http_request();
        assert_eq!(
            body(
                cache
                    .respond(&other, "status|UTC".into(), render)
                    .await
                    .unwrap()
            )
            .await,
            "render 1"
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            body(cache.respond(&req, "status".into(), render).await.unwrap()).await,
            "render 2"
        );
    }

    #[actix_web::test]
    async fn errors_are_not_kept_and_zero_turns_it_off() {
        let (cache, _) = cache_of(1000);
        let req = TestRequest::get().uri("/v1/status").to_http_request();
        let failed = cache
            .respond(&req, "status".into(), || async {
                Err(ApiError::NotFound("gone".into()))
            })
            .await
            .unwrap();
        assert_eq!(failed.status(), 404);
        let ok = cache
            .respond(&req, "status".into(), || async {
                Ok(Rendered::new("fine", "text/plain", "no-store"))
            })
            .await
            .unwrap();
        assert_eq!(body(ok).await, "fine");

        let (off, _) = cache_of(0);
        let renders = AtomicUsize::new(0);
        for _ in 0..3 {
            off.respond(&req, "status".into(), || async {
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
        let (a, b) = tokio::join!(
            cache.respond(&req, "status".into(), render),
            cache.respond(&req, "status".into(), render)
        );
        assert_eq!(body(a.unwrap()).await, "x");
        assert_eq!(body(b.unwrap()).await, "x");
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }

    #[actix_web::test]
    async fn a_failure_is_shared_by_those_waiting_and_not_kept() {
        let (cache, _) = cache_of(1000);
        let renders = AtomicUsize::new(0);
        let failing = || async {
            renders.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Err(ApiError::NotFound("gone".into()))
        };
        let req = TestRequest::get().uri("/v1/status").to_http_request();
        let (a, b) = tokio::join!(
            cache.respond(&req, "status".into(), failing),
            cache.respond(&req, "status".into(), failing)
        );
        assert_eq!(a.unwrap().status(), 404);
        assert_eq!(b.unwrap().status(), 404);
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        cache.respond(&req, "status".into(), failing).await.unwrap();
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let (cache, _) = cache_of(1000);
        let now = cache.clock.now();
        for i in 0..MAX_ENTRIES + 10 {
            cache.slot(&format!("/k{i}"), now);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
