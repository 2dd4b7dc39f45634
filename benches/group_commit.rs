//! The group-commit path alone: reports per Redis call and reports per second when 1, 8 and 64
//! requests count at once on one thread (one actix-web worker), against the real Redis.
//!
//! Every report is from a new reporter, so each is counted (no duplicates, no limits): the
//! figure is the counting path's own, without HTTP. A counting allocator gives the heap
//! allocations per report on that path (the runtime's, redis-rs's and ours).
//!
//! `cargo bench --bench group_commit` (uses REDIS_URL, default redis://127.0.0.1:6379)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use downwatch::domain::{ProblemKind, ReporterKey, ServiceSlug};
use downwatch::windows::{CountRequest, KeySchema, RedisConn, Windows};
use futures_util::StreamExt;

/// Reports counted at each level of concurrency.
const REPORTS: usize = 40_000;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(measure());
}

async fn measure() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("gc{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let windows = Windows::new(
        RedisConn::new(&url, Duration::from_secs(5)).expect("Redis connection"),
        KeySchema::new(prefix),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    let service = ServiceSlug::parse("chatgpt").unwrap();
    let problem = ProblemKind::parse("login").unwrap();
    for concurrency in [1, 8, 64] {
        let before = windows.carried();
        let allocations = ALLOCATIONS.load(Ordering::Relaxed);
        let started = Instant::now();
        futures_util::stream::iter(0..REPORTS)
            .for_each_concurrent(concurrency, |i| {
                let (windows, service, problem) = (&windows, &service, &problem);
                async move {
                    let counted = windows
                        .count(CountRequest {
                            service,
                            reporter: ReporterKey::from_label(&format!("{concurrency}-{i}")),
                            problem,
                            country: None,
                            at: Utc::now(),
                        })
                        .await
                        .expect("counted");
                    assert!(counted, "every reporter is new");
                }
            })
            .await;
        let took = started.elapsed().as_secs_f64();
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations;
        let after = windows.carried();
        let calls = after.calls - before.calls;
        let items = after.items - before.items;
        println!(
            "group commit at {concurrency} concurrent: {:.0} reports/s, {:.2} reports per call \
             ({items} reports in {calls} calls), {:.1} allocations per report",
            items as f64 / took,
            items as f64 / calls as f64,
            allocations as f64 / items as f64,
        );
    }
    windows.purge().await.expect("cleanup");
}
