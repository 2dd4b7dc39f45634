//! Counting reports into minute buckets and reading them back.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::keys::KeySchema;
use super::redis_conn::RedisConn;
use crate::domain::{CountryCode, ProblemKind, ServiceSlug};
use crate::store::StoreError;
use crate::time::{minute_of, minute_start};

/// One minute of one service's reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MinuteBucket {
    /// Start of the minute.
    pub t: DateTime<Utc>,
    /// Reports counted in the minute.
    pub total: u64,
    /// Counts per problem kind.
    pub problems: BTreeMap<String, u64>,
    /// Counts per country (reports without a country appear only in `total`).
    pub countries: BTreeMap<String, u64>,
}

impl MinuteBucket {
    fn from_hash(t: DateTime<Utc>, hash: HashMap<String, u64>) -> Self {
        let mut bucket = Self {
            t,
            total: 0,
            problems: BTreeMap::new(),
            countries: BTreeMap::new(),
        };
        for (field, count) in hash {
            if field == "t" {
                bucket.total = count;
            } else if let Some(kind) = field.strip_prefix("p:") {
                bucket.problems.insert(kind.to_owned(), count);
            } else if let Some(country) = field.strip_prefix("c:") {
                bucket.countries.insert(country.to_owned(), count);
            }
        }
        bucket
    }
}

/// One report to count.
#[derive(Debug)]
pub struct CountRequest<'a> {
    /// The service reported.
    pub service: &'a ServiceSlug,
    /// Hex reporter key (see `ingest::reporter_key`).
    pub reporter_hex: &'a str,
    /// The problem kind.
    pub problem: &'a ProblemKind,
    /// The reporter's country, if given.
    pub country: Option<CountryCode>,
    /// When the report arrived.
    pub at: DateTime<Utc>,
}

/// Caps on counted reports per service within a sliding window, shared by every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Counted reports per client address (IPv6: per /64).
    pub per_address: u32,
    /// Counted reports per network (IPv4 /24, IPv6 /48).
    pub per_network: u32,
    /// The window both caps apply over.
    pub window: Duration,
}

/// The capped sources of one report, as keys that do not reveal them (see
/// `ingest::reporter_key`).
#[derive(Debug, Clone, Copy)]
pub struct CapKeys<'a> {
    /// Hex key of the client address.
    pub address_hex: &'a str,
    /// Hex key of the client's network.
    pub network_hex: &'a str,
}

/// The per-client report rate every instance shares: `burst` at once, then one report per
/// `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRate {
    /// Time between reports at the sustained rate.
    pub interval: Duration,
    /// Reports allowed at once.
    pub burst: u32,
}

/// Which cap a report ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapScope {
    /// The client address's.
    Address,
    /// The client network's.
    Network,
}

/// What counting did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Counted.
    Yes,
    /// Its reporter was counted for this service within the dedup window.
    Duplicate,
    /// A cap is full; room frees up after `retry_after`.
    Capped {
        /// Whose cap.
        scope: CapScope,
        /// Until the oldest counted report leaves the window.
        retry_after: Duration,
    },
    /// The client is over the rate every instance shares; room after `retry_after`.
    RateLimited {
        /// Until the next report is allowed.
        retry_after: Duration,
    },
}

/// Minute buckets of every service, in one Redis.
#[derive(Clone)]
pub struct Windows {
    redis: RedisConn,
    keys: KeySchema,
    script: redis::Script,
    dedup_window: Duration,
    retention: Duration,
}

impl Windows {
    /// Buckets under `keys`, kept for `retention`, dedup per `dedup_window`.
    pub fn new(
        redis: RedisConn,
        keys: KeySchema,
        dedup_window: Duration,
        retention: Duration,
    ) -> Self {
        Self {
            redis,
            keys,
            script: redis::Script::new(include_str!("count.lua")),
            dedup_window,
            retention,
        }
    }

    /// The underlying connection, for health checks.
    pub fn redis(&self) -> &RedisConn {
        &self.redis
    }

    /// Counts the report unless its reporter was counted for this service within the dedup
    /// window. Returns whether it was counted. One atomic round trip.
    pub async fn count(&self, report: CountRequest<'_>) -> Result<bool, StoreError> {
        Ok(self.count_within(report, None).await? == Counted::Yes)
    }

    /// [`Self::count`], and only while the report's address and network are under `caps`
    /// for this service (checked and recorded in the same atomic round trip).
    pub async fn count_capped(
        &self,
        report: CountRequest<'_>,
        keys: CapKeys<'_>,
        caps: Caps,
        rate: SharedRate,
    ) -> Result<Counted, StoreError> {
        self.count_within(report, Some((keys, caps, rate))).await
    }

    async fn count_within(
        &self,
        report: CountRequest<'_>,
        caps: Option<(CapKeys<'_>, Caps, SharedRate)>,
    ) -> Result<Counted, StoreError> {
        let dedup_key = self.keys.dedup(report.service, report.reporter_hex);
        let bucket_key = self.keys.bucket(report.service, minute_of(report.at));
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(dedup_key)
            .key(bucket_key)
            .arg(report.at.timestamp_millis())
            .arg(u64::try_from(self.dedup_window.as_millis()).unwrap_or(u64::MAX))
            .arg(self.retention.as_secs())
            .arg(report.problem.as_str())
            .arg(report.country.as_ref().map_or("", |c| c.as_str()));
        if let Some((keys, caps, rate)) = caps {
            let interval_ms = u64::try_from(rate.interval.as_millis()).unwrap_or(u64::MAX);
            invocation
                .key(self.keys.address_log(report.service, keys.address_hex))
                .key(self.keys.network_log(report.service, keys.network_hex))
                // The rate is the address's too: the same key, in its own namespace.
                .key(self.keys.rate_limit(keys.address_hex))
                .arg(u64::try_from(caps.window.as_millis()).unwrap_or(u64::MAX))
                .arg(caps.per_address)
                .arg(caps.per_network)
                .arg(interval_ms)
                .arg(interval_ms.saturating_mul(u64::from(rate.burst.saturating_sub(1))));
        }
        let (code, wait_ms): (i64, i64) = self
            .redis
            .run("count-report", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        let retry_after = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
        Ok(match code {
            1 => Counted::Yes,
            2 => Counted::Capped {
                scope: CapScope::Address,
                retry_after,
            },
            3 => Counted::Capped {
                scope: CapScope::Network,
                retry_after,
            },
            4 => Counted::RateLimited { retry_after },
            _ => Counted::Duplicate,
        })
    }

    /// Buckets for every minute in `[from, to)` (minute numbers), zeros included, oldest first.
    pub async fn minutes(
        &self,
        service: &ServiceSlug,
        from: i64,
        to: i64,
    ) -> Result<Vec<MinuteBucket>, StoreError> {
        let mut all = self.minutes_many(&[(service.clone(), from, to)]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`Self::minutes`] for several services at once, in pipelined round trips (on a cluster,
    /// one per service, many at once).
    pub async fn minutes_many(
        &self,
        ranges: &[(ServiceSlug, i64, i64)],
    ) -> Result<Vec<Vec<MinuteBucket>>, StoreError> {
        let keys: Vec<(usize, i64, String)> = ranges
            .iter()
            .enumerate()
            .flat_map(|(i, (slug, from, to))| {
                (*from..*to).map(move |m| (i, m, self.keys.bucket(slug, m)))
            })
            .collect();
        let commands = keys
            .iter()
            .map(|(_, _, key)| {
                let mut hgetall = redis::cmd("HGETALL");
                hgetall.arg(key);
                (key.clone(), hgetall)
            })
            .collect();
        let hashes: Vec<HashMap<String, u64>> =
            self.redis.pipelined("read-minutes", commands).await?;
        let mut result: Vec<Vec<MinuteBucket>> = ranges.iter().map(|_| Vec::new()).collect();
        for ((i, minute, _), hash) in keys.iter().zip(hashes) {
            result[*i].push(MinuteBucket::from_hash(minute_start(*minute), hash));
        }
        Ok(result)
    }

    /// The key schema, for components that keep their own keys beside the buckets.
    pub fn keys(&self) -> &KeySchema {
        &self.keys
    }

    /// The monitor's leader lease, renewed for `length` at a time.
    pub fn leader_lease(&self, length: std::time::Duration) -> super::Lease {
        super::Lease::new(self.redis.clone(), self.keys.lease(), length)
    }

    /// Adds finished minutes to a service's buckets without dedup or rate limits: history for
    /// a demo that starts with a past. Counts add to what is there.
    pub async fn seed_minutes(
        &self,
        service: &ServiceSlug,
        buckets: &[MinuteBucket],
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for bucket in buckets.iter().filter(|b| b.total > 0) {
            let key = self.keys.bucket(service, minute_of(bucket.t));
            pipe.hincr(&key, "t", bucket.total).ignore();
            for (kind, n) in &bucket.problems {
                pipe.hincr(&key, format!("p:{kind}"), *n).ignore();
            }
            for (country, n) in &bucket.countries {
                pipe.hincr(&key, format!("c:{country}"), *n).ignore();
            }
            pipe.expire(
                &key,
                i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX),
            )
            .ignore();
        }
        self.redis
            .run("seed-minutes", |mut c| async move {
                pipe.query_async::<()>(&mut c).await
            })
            .await
    }

    /// Deletes every key under this schema's prefix (a demo cleaning up after itself); returns
    /// how many went. Uses SCAN (on a cluster, on every master), so a large keyspace is not
    /// blocked. Every key starting with `<prefix>:` goes, including those of a deployment
    /// whose prefix extends this one (`dw` would take `dw:staging`'s): only for prefixes of
    /// one's own, like the demo's.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let pattern = format!("{}:*", self.keys.prefix());
        let mut deleted = 0;
        for node in self.redis.scan_nodes().await? {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys) = self.redis.scan_page(&node, cursor, &pattern, 1000).await?;
                if !keys.is_empty() {
                    // On a cluster, redis-rs splits UNLINK by slot and adds up the replies.
                    let mut unlink = redis::cmd("UNLINK");
                    unlink.arg(&keys);
                    deleted += self
                        .redis
                        .run("purge-unlink", |mut c| async move {
                            unlink.query_async::<u64>(&mut c).await
                        })
                        .await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(deleted)
    }
}
