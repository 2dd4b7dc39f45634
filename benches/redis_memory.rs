//! Redis memory per active service-minute bucket, from `INFO memory` before and after a known
//! load written through the production counting script.
//!
//! 100 services × 60 minutes, 20 reports per bucket from distinct reporters, with problem kinds
//! and countries: what a busy hour looks like. Dedup entries (one per reporter per service, in
//! the service's hash for the dedup epoch, gone two windows after the epoch began) are measured
//! apart from the buckets, which stay for the retention: at 1,200 reporters a service, then at a
//! million reporters of one service in one epoch (an hour of a Facebook-sized outage holds a few
//! million).
//!
//! `cargo bench --bench redis_memory` (uses REDIS_URL, default redis://127.0.0.1:6379)

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "benchmark arithmetic on small known counts"
)]

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use downwatch::domain::{CountryCode, ProblemKind, ReporterKey, ServiceSlug};
use downwatch::windows::{CountRequest, KeySchema, RedisConn, Windows};
use futures_util::StreamExt;

const SERVICES: usize = 100;
const MINUTES: i64 = 60;
const REPORTS_PER_BUCKET: usize = 20;
const CROWD: usize = 1_000_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(measure());
}

async fn used_memory(client: &redis::Client) -> i64 {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers (REDIS_URL)");
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .expect("INFO memory");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO")
}

/// `used_memory` once it stops moving (lazy frees and table resizes have run).
async fn settled_memory(client: &redis::Client) -> i64 {
    let mut last = used_memory(client).await;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = used_memory(client).await;
        if now == last {
            break;
        }
        last = now;
    }
    last
}

async fn measure() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL is a Redis URL");
    let prefix = unused_prefix(&client).await;
    let windows = Windows::new(
        RedisConn::new(&url, Duration::from_secs(5)).expect("Redis connection"),
        KeySchema::new(prefix.clone()),
        Duration::from_secs(3600),
        Duration::from_secs(48 * 3600),
    );
    let services: Vec<ServiceSlug> = (0..SERVICES)
        .map(|i| ServiceSlug::parse(&format!("service-{i:04}")).unwrap())
        .collect();
    let problems: Vec<ProblemKind> = ["website", "app", "login", "other"]
        .iter()
        .map(|p| ProblemKind::parse(p).unwrap())
        .collect();
    let countries: Vec<CountryCode> = ["US", "GB", "DE", "IN", "BR"]
        .iter()
        .map(|c| CountryCode::parse(c).unwrap())
        .collect();
    let start = Utc.with_ymd_and_hms(2025, 6, 10, 6, 0, 0).unwrap();

    let before = settled_memory(&client).await;
    let jobs = (0..MINUTES).flat_map(|minute| {
        (0..SERVICES).flat_map(move |s| (0..REPORTS_PER_BUCKET).map(move |r| (minute, s, r)))
    });
    futures_util::stream::iter(jobs)
        .for_each_concurrent(64, |(minute, s, r)| {
            let windows = &windows;
            let services = &services;
            let problems = &problems;
            let countries = &countries;
            async move {
                let reporter = ReporterKey::from_label(&format!(
                    "{}",
                    (minute as usize * SERVICES + s) * 1000 + r
                ));
                let counted = windows
                    .count(CountRequest {
                        service: &services[s],
                        reporter,
                        problem: &problems[r % problems.len()],
                        country: Some(countries[r % countries.len()]),
                        at: start + TimeDelta::minutes(minute) + TimeDelta::seconds(r as i64),
                    })
                    .await
                    .expect("counted");
                assert!(counted);
            }
        })
        .await;
    let with_dedup = settled_memory(&client).await;

    unlink(&client, &format!("{prefix}:*:r:*")).await;
    // Redis frees unlinked keys in the background and shrinks its tables on its timer.
    let buckets_only = settled_memory(&client).await;

    // A million reporters of one service in one epoch, in one minute's bucket.
    let crowd_service = ServiceSlug::parse("service-crowd").unwrap();
    let at = start + TimeDelta::hours(2);
    futures_util::stream::iter(0..CROWD)
        .for_each_concurrent(64, |r| {
            let windows = &windows;
            let service = &crowd_service;
            let problem = &problems[r % problems.len()];
            async move {
                let reporter = ReporterKey::from_label(&format!("crowd-{r}"));
                let counted = windows
                    .count(CountRequest {
                        service,
                        reporter,
                        problem,
                        country: None,
                        at,
                    })
                    .await
                    .expect("counted");
                assert!(counted);
            }
        })
        .await;
    let with_crowd = settled_memory(&client).await;
    windows.purge().await.expect("cleanup");

    let buckets = (SERVICES as i64) * MINUTES;
    let reports = buckets * REPORTS_PER_BUCKET as i64;
    println!("buckets {buckets}, reports {reports} (distinct reporters)");
    println!(
        "bytes per active service-minute bucket: {}",
        (buckets_only - before) / buckets
    );
    println!(
        "bytes per dedup entry (one per reporter per service, in the epoch's hash): {}",
        (with_dedup - buckets_only) / reports
    );
    println!(
        "bytes per bucket with its reporters' dedup entries: {}",
        (with_dedup - before) / buckets
    );
    println!(
        "bytes per dedup entry at a million reporters of one service: {}",
        (with_crowd - buckets_only) / CROWD as i64
    );
}

/// A prefix as long as the default (`dw`) under which Redis holds no key, so key lengths are
/// what production stores and nothing else is counted or removed.
async fn unused_prefix(client: &redis::Client) -> String {
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    for attempt in 0..200 {
        let seed = uuid::Uuid::new_v4().as_u128() as usize + attempt;
        let prefix: String = [alphabet[seed % 26], alphabet[seed / 26 % alphabet.len()]]
            .iter()
            .map(|&b| char::from(b))
            .collect();
        if prefix != "dw" && !holds_keys(&mut conn, &format!("{prefix}:*")).await {
            return prefix;
        }
    }
    panic!("every two-character prefix tried holds keys in this Redis");
}

/// Whether any key matches `pattern`.
async fn holds_keys(conn: &mut redis::aio::MultiplexedConnection, pattern: &str) -> bool {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(100_000)
            .query_async(conn)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            return true;
        }
        if next == 0 {
            return false;
        }
        cursor = next;
    }
}

/// Removes the keys matching `pattern` (SCAN, not KEYS: the shared Redis may hold millions).
async fn unlink(client: &redis::Client, pattern: &str) {
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .expect("UNLINK");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}
