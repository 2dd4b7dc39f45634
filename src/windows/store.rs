//! Counting reports into minute buckets and reading them back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use redis::cluster_routing::Slot;

use super::count::{
    self, CapKeys, Caps, CountRequest, Counted, Limits, Queued, RateSpend, SharedRate,
};
use super::group_commit::{Carried, GroupCommit};
use super::keys::KeySchema;
use super::redis_conn::RedisConn;
use crate::domain::ServiceSlug;
use crate::store::{Dependency, StoreError};
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
    /// The bucket of the minute starting at `t` from its fields, as written (see `KeySchema`):
    /// in its own hash, and in its pair's, marked with `mark`. Both are summed: a minute is in
    /// its own hash when it was too wide for its pair, or written by a version before pairs.
    fn from_hashes(
        t: DateTime<Utc>,
        own: HashMap<String, u64>,
        pair: &HashMap<String, u64>,
        mark: &str,
    ) -> Self {
        let mut bucket = Self {
            t,
            total: 0,
            problems: BTreeMap::new(),
            countries: BTreeMap::new(),
        };
        let in_pair = pair
            .iter()
            .filter_map(|(field, count)| Some((unmarked(field, mark)?, *count)));
        for (field, count) in own.iter().map(|(f, c)| (f.as_str(), *c)).chain(in_pair) {
            match BucketField::of(field) {
                BucketField::Total => bucket.total += count,
                BucketField::Problem(kind) => {
                    *bucket.problems.entry(kind.to_owned()).or_default() += count;
                }
                BucketField::Country(country) => {
                    *bucket.countries.entry(country.to_owned()).or_default() += count;
                }
            }
        }
        bucket
    }
}

/// `field` of a bucket pair without `mark`, if it is the marked minute's (see `KeySchema`).
fn unmarked<'a>(field: &'a str, mark: &str) -> Option<&'a str> {
    if mark.is_empty() {
        (!field.starts_with('+')).then_some(field)
    } else {
        field.strip_prefix(mark)
    }
}

/// What a field of a minute bucket counts. Fields are bare since 2026-12 (a problem kind is
/// lower-case, a country two upper-case letters: 16 bytes less per bucket); buckets written
/// before, with `p:` and `c:` prefixes, are read the same, and a bucket written by both forms
/// during a rolling deploy sums them.
#[derive(Debug, PartialEq, Eq)]
enum BucketField<'a> {
    Total,
    Problem(&'a str),
    Country(&'a str),
}

impl<'a> BucketField<'a> {
    /// The field name a count is written under (the counting script writes the same).
    fn name(&self) -> &'a str {
        match self {
            Self::Total => "t",
            // A kind named `t` keeps the old form, or it would meet the total.
            Self::Problem("t") => "p:t",
            Self::Problem(kind) | Self::Country(kind) => kind,
        }
    }

    fn of(field: &'a str) -> Self {
        if field == "t" {
            Self::Total
        } else if let Some(kind) = field.strip_prefix("p:") {
            Self::Problem(kind)
        } else if let Some(country) = field.strip_prefix("c:") {
            Self::Country(country)
        } else if field.len() == 2 && field.bytes().all(|b| b.is_ascii_uppercase()) {
            Self::Country(field)
        } else {
            Self::Problem(field)
        }
    }
}

/// A bucket hash as read: its fields and their counts.
type Bucket = HashMap<String, u64>;

/// Where the range `[from, ..)` (minute numbers) finds `minute`'s pair among those
/// [`Windows::read_buckets`] read.
fn pair_index(from: i64, minute: i64) -> usize {
    usize::try_from(minute.div_euclid(2) - from.div_euclid(2)).unwrap_or(0)
}

/// How many bucket pairs the minutes `[from, to)` span.
fn pairs_spanned(from: i64, to: i64) -> i64 {
    if to <= from {
        0
    } else {
        (to - 1).div_euclid(2) - from.div_euclid(2) + 1
    }
}

/// The widest minute history seeding puts in a bucket pair (half of Redis's default
/// `hash-max-listpack-entries`, so two such minutes keep the pair a listpack).
const SEED_PAIR_WIDTH: usize = 64;

/// Minute buckets of every service, in one Redis.
#[derive(Clone)]
pub struct Windows {
    redis: RedisConn,
    keys: KeySchema,
    counter: Arc<Counter>,
    /// Counting calls; lanes are service slots on a cluster (`None` on one server).
    group: GroupCommit<Option<Slot>, Queued, Result<Counted, StoreError>>,
    /// Rate calls on a cluster (see [`super::by_slot`]); lanes are the rate states' slots.
    rates: GroupCommit<Slot, RateSpend, Result<Option<Duration>, StoreError>>,
}

/// Sends batches of reports to the counting script.
pub(super) struct Counter {
    pub(super) redis: RedisConn,
    script: redis::Script,
    /// The shared rate's own script, for a cluster (see [`super::by_slot`]).
    pub(super) rate_script: redis::Script,
    keys: KeySchema,
    dedup_window: Duration,
    retention: Duration,
}

/// Most reports in one script call: enough to carry every connection's report of a busy
/// worker, small enough that one call holds Redis for well under a millisecond.
pub const MAX_BATCH: usize = 128;

impl Windows {
    /// Buckets under `keys`, kept for `retention`, dedup per `dedup_window`.
    pub fn new(
        redis: RedisConn,
        keys: KeySchema,
        dedup_window: Duration,
        retention: Duration,
    ) -> Self {
        Self {
            counter: Arc::new(Counter {
                redis: redis.clone(),
                script: redis::Script::new(include_str!("count.lua")),
                rate_script: redis::Script::new(include_str!("rate.lua")),
                keys: keys.clone(),
                dedup_window,
                retention,
            }),
            redis,
            keys,
            group: GroupCommit::new(MAX_BATCH),
            rates: GroupCommit::new(MAX_BATCH),
        }
    }

    /// The underlying connection, for health checks.
    pub fn redis(&self) -> &RedisConn {
        &self.redis
    }

    /// Counts the report unless its reporter was counted for this service within the dedup
    /// window. Returns whether it was counted. Reports counted concurrently on one thread share
    /// script calls (see [`super::group_commit`]); each is answered once its call has returned.
    pub async fn count(&self, report: CountRequest<'_>) -> Result<bool, StoreError> {
        Ok(self.count_within(report, None).await? == Counted::Yes)
    }

    /// [`Self::count`], and only while the report's address and network are under `caps`
    /// for this service and the client under its shared `rate` (checked and recorded in the
    /// same atomic script call).
    pub async fn count_capped(
        &self,
        report: CountRequest<'_>,
        keys: CapKeys<'_>,
        caps: Caps,
        rate: SharedRate,
    ) -> Result<Counted, StoreError> {
        self.count_within(report, Some((keys, Limits { caps, rate })))
            .await
    }

    async fn count_within(
        &self,
        report: CountRequest<'_>,
        limited: Option<(CapKeys<'_>, Limits)>,
    ) -> Result<Counted, StoreError> {
        // The deadline is the request's, queueing included: behind a call to a hung Redis, a
        // report fails when its own time is up, not after that call's and its own.
        let deadline = Instant::now() + self.redis.timeout();
        let queued = Queued::new(&report, limited, deadline);
        let lane = if self.redis.is_cluster() {
            // The rate first, in a call on its state's slot (see `by_slot`).
            if let Some(spend) = queued.rate_spend(&self.keys) {
                let counter = Arc::clone(&self.counter);
                let call = move |batch| {
                    let counter = Arc::clone(&counter);
                    async move { counter.spend_rates(batch).await }
                };
                let lane = Slot::for_key(&spend.key);
                if let Some(retry_after) = commit(&self.rates, lane, spend, call, deadline).await? {
                    return Ok(Counted::RateLimited { retry_after });
                }
            }
            Some(Slot::for_key(queued.service_key(&self.keys)))
        } else {
            None
        };
        let counter = Arc::clone(&self.counter);
        let call = move |batch| {
            let counter = Arc::clone(&counter);
            async move { counter.send(batch).await }
        };
        commit(&self.group, lane, queued, call, deadline).await
    }

    /// Counting calls made and reports they carried, since this handle was created (rate
    /// calls on a cluster not included).
    pub fn carried(&self) -> Carried {
        self.group.carried()
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
        let (mut own, pairs) = self.read_buckets(ranges).await?;
        let no_pair = HashMap::new();
        Ok(ranges
            .iter()
            .enumerate()
            .map(|(i, (_, from, to))| {
                (*from..*to)
                    .zip(own[i].drain(..))
                    .map(|(minute, own)| {
                        let pair = pairs[i].get(pair_index(*from, minute)).unwrap_or(&no_pair);
                        let mark = KeySchema::pair_mark(minute);
                        MinuteBucket::from_hashes(minute_start(minute), own, pair, mark)
                    })
                    .collect()
            })
            .collect())
    }

    /// The reports counted in every minute of `[from, to)` (minute numbers), zeros included,
    /// oldest first: [`Self::totals_many`] for one service.
    pub async fn totals(
        &self,
        service: &ServiceSlug,
        from: i64,
        to: i64,
    ) -> Result<Vec<u64>, StoreError> {
        let mut all = self.totals_many(&[(service.clone(), from, to)]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// The reports counted in every minute of `[from, to)` (minute numbers) of each range,
    /// zeros included, oldest first: [`Self::minutes_many`] for readers that need only the
    /// totals (curves). A minute's own bucket is rare (a minute too wide for its pair, or
    /// counted by a version before pairs), so each range's are looked for with one `EXISTS`
    /// and read only where one is; the pairs' totals are one `HMGET` each. A command per bucket,
    /// as before, cost an uncached curve more CPU to write and parse than Redis spent on it.
    pub async fn totals_many(
        &self,
        ranges: &[(ServiceSlug, i64, i64)],
    ) -> Result<Vec<Vec<u64>>, StoreError> {
        let total = BucketField::Total.name();
        let marked = format!("+{total}");
        let pair_totals = ranges.iter().flat_map(|(slug, from, to)| {
            (0..pairs_spanned(*from, *to)).map(|index| {
                let key = self
                    .keys
                    .pair_bucket(slug, from.div_euclid(2) * 2 + index * 2);
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(&key).arg(total).arg(&marked);
                (key, cmd)
            })
        });
        let any_own = ranges
            .iter()
            .filter(|(_, from, to)| from < to)
            .map(|(slug, from, to)| {
                let mut cmd = redis::cmd("EXISTS");
                for minute in *from..*to {
                    cmd.arg(self.keys.minute_bucket(slug, minute));
                }
                (self.keys.minute_bucket(slug, *from), cmd)
            });
        let (pairs, any_own): (Vec<[Option<u64>; 2]>, Vec<u64>) = tokio::try_join!(
            self.redis.pipelined("read-totals", pair_totals.collect()),
            self.redis.pipelined("read-totals", any_own.collect()),
        )?;
        let mut any_own = any_own.into_iter();
        let with_own: Vec<bool> = ranges
            .iter()
            .map(|(_, from, to)| from < to && any_own.next().is_some_and(|n| n > 0))
            .collect();
        let own_totals = ranges
            .iter()
            .zip(&with_own)
            .filter(|(_, with)| **with)
            .flat_map(|((slug, from, to), _)| {
                (*from..*to).map(|minute| {
                    let key = self.keys.minute_bucket(slug, minute);
                    let mut cmd = redis::cmd("HGET");
                    cmd.arg(&key).arg(total);
                    (key, cmd)
                })
            });
        let own: Vec<Option<u64>> = self
            .redis
            .pipelined("read-totals", own_totals.collect())
            .await?;
        let (mut pairs, mut own) = (pairs.into_iter(), own.into_iter());
        Ok(ranges
            .iter()
            .zip(with_own)
            .map(|((_, from, to), with_own)| {
                let spanned = pairs
                    .by_ref()
                    .take(usize::try_from(pairs_spanned(*from, *to)).unwrap_or(0));
                let in_pairs = spanned.flatten();
                // The pairs' fields in minute order, from the even minute of the first pair.
                let in_pairs = in_pairs.skip(usize::from(from.rem_euclid(2) == 1));
                in_pairs
                    .take(usize::try_from(to - from).unwrap_or(0))
                    .map(|in_pair| {
                        let own = if with_own { own.next().flatten() } else { None };
                        in_pair.unwrap_or(0) + own.unwrap_or(0)
                    })
                    .collect()
            })
            .collect())
    }

    /// For each range, every minute's own bucket and every bucket pair, whole, in pipelined
    /// round trips; the answers by range: the minutes' oldest first, then the pairs' (see
    /// [`pair_index`]).
    async fn read_buckets(
        &self,
        ranges: &[(ServiceSlug, i64, i64)],
    ) -> Result<(Vec<Vec<Bucket>>, Vec<Vec<Bucket>>), StoreError> {
        let read = |key: String| {
            let mut cmd = redis::cmd("HGETALL");
            cmd.arg(&key);
            (key, cmd)
        };
        let mut commands = Vec::new();
        // (range, is a pair) of each command, in order.
        let mut whose = Vec::new();
        for (i, (slug, from, to)) in ranges.iter().enumerate() {
            for minute in *from..*to {
                commands.push(read(self.keys.minute_bucket(slug, minute)));
                whose.push((i, false));
            }
            for index in 0..pairs_spanned(*from, *to) {
                commands.push(read(
                    self.keys
                        .pair_bucket(slug, from.div_euclid(2) * 2 + index * 2),
                ));
                whose.push((i, true));
            }
        }
        let answers: Vec<Bucket> = self.redis.pipelined("read-minutes", commands).await?;
        let mut minutes: Vec<Vec<Bucket>> = ranges.iter().map(|_| Vec::new()).collect();
        let mut pairs: Vec<Vec<Bucket>> = ranges.iter().map(|_| Vec::new()).collect();
        for ((i, is_pair), answer) in whose.into_iter().zip(answers) {
            let into = if is_pair { &mut pairs } else { &mut minutes };
            into[i].push(answer);
        }
        Ok((minutes, pairs))
    }

    /// The key schema, for components that keep their own keys beside the buckets.
    pub fn keys(&self) -> &KeySchema {
        &self.keys
    }

    /// The monitor's leader lease, renewed for `length` at a time.
    pub fn leader_lease(&self, length: std::time::Duration) -> super::Lease {
        super::Lease::new(self.redis.clone(), self.keys.lease(), length)
    }

    /// The leases of the monitor's `shards` shards, renewed for `length` at a time.
    pub fn shard_lease(&self, length: std::time::Duration, shards: u32) -> super::ShardLease {
        let leases = (0..shards).map(|s| self.keys.shard_lease(s)).collect();
        super::ShardLease::new(
            self.redis.clone(),
            self.keys.shard_members(),
            leases,
            length,
        )
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
            // As the counting script does, roughly: a minute of more than half a listpack's
            // fields gets a bucket of its own.
            let minute = minute_of(bucket.t);
            let width = 1 + bucket.problems.len() + bucket.countries.len();
            let (key, mark) = if width > SEED_PAIR_WIDTH {
                (self.keys.minute_bucket(service, minute), "")
            } else {
                (
                    self.keys.pair_bucket(service, minute),
                    KeySchema::pair_mark(minute),
                )
            };
            let fields = std::iter::once((BucketField::Total, bucket.total))
                .chain(
                    bucket
                        .problems
                        .iter()
                        .map(|(k, n)| (BucketField::Problem(k), *n)),
                )
                .chain(
                    bucket
                        .countries
                        .iter()
                        .map(|(c, n)| (BucketField::Country(c), *n)),
                );
            for (field, n) in fields {
                pipe.hincr(&key, format!("{mark}{}", field.name()), n)
                    .ignore();
            }
            pipe.expire(
                &key,
                i64::try_from(self.counter.retention.as_secs()).unwrap_or(i64::MAX),
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

impl Counter {
    /// Counts `batch` in one script call per run of reports under the same limits (in practice
    /// one), answering each report in order. A failed call fails only its own reports: each gets
    /// 503, whether or not Redis had counted it before failing, so nothing is acknowledged that
    /// was not counted. On a cluster the batch is of one slot and the rates were spent before
    /// (see [`super::by_slot`]).
    async fn send(&self, batch: Vec<Queued>) -> Vec<Result<Counted, StoreError>> {
        let spend_rate = !self.redis.is_cluster();
        let mut answers = Vec::with_capacity(batch.len());
        for group in batch.chunk_by(|a, b| a.limits() == b.limits()) {
            let group: Vec<&Queued> = group.iter().collect();
            answers.extend(self.call(&group, spend_rate).await);
        }
        answers
    }

    /// One script call counting `group` (every report under the same limits, keys in one slot
    /// on a cluster), spending each limited report's shared rate in the same call if
    /// `spend_rate` (on one server) or not (on a cluster, where it was spent before).
    pub(super) async fn call(
        &self,
        group: &[&Queued],
        spend_rate: bool,
    ) -> Vec<Result<Counted, StoreError>> {
        let call = count::invocation(
            &self.script,
            &self.keys,
            group,
            self.dedup_window,
            self.retention,
            spend_rate,
        );
        let (call, script) = (&call, &self.script);
        let oldest = group.iter().map(|q| q.deadline).min();
        let deadline = oldest.unwrap_or_else(|| Instant::now() + self.redis.timeout());
        let reply = self
            .redis
            .run_by(deadline, "count-reports", |mut c| async move {
                count::evaluate(script, call, &mut c).await
            })
            .await
            .map(|reply: Vec<i64>| count::answers(&reply));
        match reply {
            Ok(counted) if counted.len() == group.len() => counted.into_iter().map(Ok).collect(),
            Ok(counted) => {
                tracing::error!(
                    reports = group.len(),
                    answers = counted.len(),
                    "the counting script answered the wrong number of reports"
                );
                group.iter().map(|_| Err(unavailable())).collect()
            }
            Err(_) => group.iter().map(|_| Err(unavailable())).collect(),
        }
    }
}

/// `item` sent through `group`'s `lane` and answered by `deadline`, else 503.
async fn commit<L, T, V, F, Fut>(
    group: &GroupCommit<L, T, Result<V, StoreError>>,
    lane: L,
    item: T,
    call: F,
    deadline: Instant,
) -> Result<V, StoreError>
where
    L: Eq + std::hash::Hash + Copy + Send + Sync + 'static,
    T: Send + 'static,
    V: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<Result<V, StoreError>>> + Send + 'static,
{
    match tokio::time::timeout_at(deadline, group.submit(lane, item, call)).await {
        Ok(Some(answer)) => answer,
        Ok(None) => {
            tracing::error!("a Redis call ended without answering; the report gets 503");
            Err(unavailable())
        }
        Err(_) => {
            metrics::counter!("downwatch_dependency_errors_total", "dependency" => "redis")
                .increment(1);
            Err(unavailable())
        }
    }
}

pub(super) fn unavailable() -> StoreError {
    StoreError::Unavailable(Dependency::Redis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(fields: &[(&str, u64)]) -> HashMap<String, u64> {
        fields.iter().map(|(f, n)| ((*f).to_owned(), *n)).collect()
    }

    fn bucket(fields: &[(&str, u64)]) -> MinuteBucket {
        MinuteBucket::from_hashes(minute_start(0), hash(fields), &HashMap::new(), "")
    }

    #[test]
    fn a_minute_is_read_from_its_pair_and_its_own_bucket_summed() {
        let pair = hash(&[("t", 3), ("login", 3), ("+t", 2), ("+US", 2), ("+app", 1)]);
        let own = hash(&[("t", 4), ("US", 4), ("login", 1)]);
        let even = MinuteBucket::from_hashes(minute_start(0), own, &pair, "");
        assert_eq!((even.total, even.problems["login"]), (7, 4));
        assert_eq!(even.countries["US"], 4);
        assert!(!even.problems.contains_key("app"));
        let odd = MinuteBucket::from_hashes(minute_start(1), HashMap::new(), &pair, "+");
        assert_eq!(
            (odd.total, odd.countries["US"], odd.problems["app"]),
            (2, 2, 1)
        );
        assert!(!odd.problems.contains_key("login"));
    }

    #[test]
    fn ranges_find_their_minutes_pairs() {
        assert_eq!(pairs_spanned(10, 10), 0);
        assert_eq!(pairs_spanned(10, 11), 1);
        assert_eq!(pairs_spanned(10, 12), 1);
        assert_eq!(pairs_spanned(11, 13), 2);
        assert_eq!(pairs_spanned(-3, 1), 3);
        assert_eq!(pair_index(11, 11), 0);
        assert_eq!(pair_index(11, 12), 1);
        assert_eq!(pair_index(-3, -2), 1);
        assert_eq!(pair_index(-3, 0), 2);
    }

    #[test]
    fn bare_and_prefixed_fields_read_the_same() {
        let bare = bucket(&[("t", 5), ("login", 3), ("t-2", 1), ("p:t", 1), ("US", 4)]);
        let prefixed = bucket(&[
            ("t", 5),
            ("p:login", 3),
            ("p:t-2", 1),
            ("p:t", 1),
            ("c:US", 4),
        ]);
        assert_eq!(bare, prefixed);
        assert_eq!(bare.total, 5);
        assert_eq!(bare.problems["login"], 3);
        assert_eq!(bare.problems["t"], 1);
        assert_eq!(bare.countries["US"], 4);
    }

    #[test]
    fn a_bucket_written_in_both_forms_sums_them() {
        let mixed = bucket(&[
            ("t", 7),
            ("login", 3),
            ("p:login", 2),
            ("US", 1),
            ("c:US", 6),
        ]);
        assert_eq!(mixed.problems["login"], 5);
        assert_eq!(mixed.countries["US"], 7);
    }

    #[test]
    fn every_field_is_read_back_as_what_it_was_written_for() {
        for field in [
            BucketField::Total,
            BucketField::Problem("t"),
            BucketField::Problem("login"),
            BucketField::Problem("us"),
            BucketField::Problem("ab"),
            BucketField::Country("US"),
        ] {
            assert_eq!(BucketField::of(field.name()), field);
        }
    }
}
