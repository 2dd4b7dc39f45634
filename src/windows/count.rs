//! Counting reports: what a report asks, what counting answers, and how a batch of reports
//! becomes one call of the counting script (`count.lua`).
//!
//! A batch names each distinct key once and each report points at its keys by position, so a
//! batch of a hundred reports of one service in one minute sends its bucket key once.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::keys::KeySchema;
use crate::domain::{CountryCode, ProblemKind, ReporterKey, ServiceSlug};
use crate::time::minute_of;

/// One report to count.
#[derive(Debug)]
pub struct CountRequest<'a> {
    /// The service reported.
    pub service: &'a ServiceSlug,
    /// Who reported (see `ingest::reporter_key`).
    pub reporter: ReporterKey,
    /// The problem kind.
    pub problem: &'a ProblemKind,
    /// The reporter's country, if given.
    pub country: Option<CountryCode>,
    /// When the report arrived.
    pub at: DateTime<Utc>,
}

/// Caps on counted reports per service within a sliding window, shared by every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// The limits a report is counted under; reports under the same limits share a script call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Limits {
    pub caps: Caps,
    pub rate: SharedRate,
}

/// A report waiting in the group-commit queue, owning what its keys are made of. The keys
/// themselves are named when its batch is sent, each once however many reports of the batch
/// use it: a busy service's reports share their buckets, dedup and cap hashes.
#[derive(Debug)]
pub(super) struct Queued {
    /// When the report's request stops waiting for an answer.
    pub deadline: Instant,
    at_ms: i64,
    /// The report's minute (see `time::minute_of`).
    minute: i64,
    service: ServiceSlug,
    reporter: ReporterKey,
    problem: ProblemKind,
    country: Option<CountryCode>,
    limited: Option<Limited>,
}

/// A capped, rate-limited report's sources and limits.
#[derive(Debug)]
struct Limited {
    limits: Limits,
    address_field: Vec<u8>,
    network_field: Vec<u8>,
    /// The client address's key, which its rate-limit state is named by too.
    address_hex: String,
}

/// A source's field in a cap hash: `scope` (`a` or `n`) and its key as bytes (a key that is
/// not hex is used as written).
fn cap_field(scope: u8, key_hex: &str) -> Vec<u8> {
    let mut field = vec![0; 1 + key_hex.len() / 2];
    field[0] = scope;
    if hex::decode_to_slice(key_hex, &mut field[1..]).is_err() {
        field.truncate(1);
        field.extend_from_slice(key_hex.as_bytes());
    }
    field
}

/// The epoch of `at_ms` in epochs of `window_ms`.
fn epoch_of(at_ms: i64, window_ms: u64) -> i64 {
    at_ms.div_euclid(i64::try_from(window_ms.max(1)).unwrap_or(i64::MAX))
}

impl Queued {
    /// `report`, to be counted under `limited` if given.
    pub fn new(
        report: &CountRequest<'_>,
        limited: Option<(CapKeys<'_>, Limits)>,
        deadline: Instant,
    ) -> Self {
        Self {
            deadline,
            at_ms: report.at.timestamp_millis(),
            minute: minute_of(report.at),
            service: report.service.clone(),
            reporter: report.reporter,
            problem: report.problem.clone(),
            country: report.country,
            limited: limited.map(|(cap_keys, limits)| Limited {
                limits,
                address_field: cap_field(b'a', cap_keys.address_hex),
                network_field: cap_field(b'n', cap_keys.network_hex),
                address_hex: cap_keys.address_hex.to_owned(),
            }),
        }
    }

    /// The limits this report is counted under.
    pub fn limits(&self) -> Option<Limits> {
        self.limited.as_ref().map(|l| l.limits)
    }

    /// A key of the service's under `keys` (every key of its count shares the service's slot).
    pub fn service_key(&self, keys: &KeySchema) -> String {
        keys.pair_bucket(&self.service, self.minute)
    }

    /// What spending this report's shared rate takes, for a report under limits.
    pub fn rate_spend(&self, keys: &KeySchema) -> Option<RateSpend> {
        self.limited.as_ref().map(|l| RateSpend {
            deadline: self.deadline,
            at_ms: self.at_ms,
            rate: l.limits.rate,
            // The rate is the address's too: the same key, in its own namespace.
            key: keys.rate_limit(&l.address_hex),
        })
    }
}

/// A report's shared rate to spend apart from its count (on a cluster, where the client's
/// state is in a slot of its own).
#[derive(Debug)]
pub(super) struct RateSpend {
    /// When the report's request stops waiting for an answer.
    pub deadline: Instant,
    /// When the report arrived (ms, from the injected clock).
    pub at_ms: i64,
    /// The rate it is spent under.
    pub rate: SharedRate,
    /// The client's rate-limit state.
    pub key: String,
}

/// One call of the counting script for `batch` (every report under the same limits), its keys
/// named under `keys`, spending each limited report's shared rate in it if `spend_rate`. Built
/// as the `EVALSHA` command itself rather than through `redis::ScriptInvocation`, which holds
/// each argument in an allocation of its own: see [`evaluate`] for the script's loading.
pub(super) fn invocation(
    script: &redis::Script,
    keys: &KeySchema,
    batch: &[&Queued],
    dedup_window: Duration,
    retention: Duration,
    spend_rate: bool,
) -> redis::Cmd {
    let limits = batch.first().and_then(|q| q.limits());
    let (caps, rate) = limits.map_or(
        (
            Caps {
                per_address: 0,
                per_network: 0,
                window: Duration::ZERO,
            },
            SharedRate {
                interval: Duration::ZERO,
                burst: 1,
            },
        ),
        |l| (l.caps, l.rate),
    );
    let window_ms = millis(dedup_window).max(1);
    let cap_ms = millis(caps.window).max(1);
    let mut positions = KeyPositions::default();
    let numbers: Vec<[u8; 22]> = batch
        .iter()
        .map(|report| {
            let service = &report.service;
            let epoch = epoch_of(report.at_ms, window_ms);
            let mut at = [
                positions.of(Key::Pair(service, report.minute)),
                positions.of(Key::Own(service, report.minute)),
                positions.of(Key::Dedup(service, window_ms, epoch)),
                positions.of(Key::Dedup(service, window_ms, epoch - 1)),
                0,
                0,
                0,
            ];
            if let Some(limited) = &report.limited {
                let cap_epoch = epoch_of(report.at_ms, cap_ms);
                at[4] = positions.of(Key::Caps(service, cap_ms, cap_epoch));
                at[5] = positions.of(Key::Caps(service, cap_ms, cap_epoch - 1));
                if spend_rate {
                    at[6] = positions.of(Key::Rate(&limited.address_hex));
                }
            }
            packed_numbers(report.at_ms, at)
        })
        .collect();
    let mut call = redis::cmd("EVALSHA");
    call.arg(script.get_hash()).arg(positions.count());
    for key in &positions.order {
        let name = key.name(keys);
        call.arg(&name);
        if matches!(key, Key::Dedup(..)) {
            call.arg(KeySchema::legacy_dedup(&name));
        }
    }
    let interval_ms = millis(rate.interval);
    call.arg(window_ms)
        .arg(retention.as_secs())
        .arg(millis(caps.window))
        .arg(caps.per_address)
        .arg(caps.per_network)
        .arg(interval_ms)
        .arg(interval_ms.saturating_mul(u64::from(rate.burst.saturating_sub(1))));
    for (report, numbers) in batch.iter().zip(&numbers) {
        let (address, network): (&[u8], &[u8]) = report
            .limited
            .as_ref()
            .map_or((b"", b""), |l| (&l.address_field, &l.network_field));
        call.arg(&numbers[..])
            .arg(report.reporter.as_bytes())
            .arg(report.problem.as_str())
            .arg(report.country.as_ref().map_or("", |c| c.as_str()))
            .arg(address)
            .arg(network);
    }
    call
}

/// Runs `call` (an `EVALSHA` of `script`, see [`invocation`]) on `connection`, loading the
/// script first if Redis does not have it (a restart, a new node, `SCRIPT FLUSH`), as
/// `redis::ScriptInvocation` does.
pub(super) async fn evaluate<C: redis::aio::ConnectionLike>(
    script: &redis::Script,
    call: &redis::Cmd,
    connection: &mut C,
) -> redis::RedisResult<Vec<i64>> {
    match call.query_async(connection).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.prepare_invoke().load_async(connection).await?;
            call.query_async(connection).await
        }
        answer => answer,
    }
}

/// A report's numbers as `count.lua` reads them (`<i8HHHHHHH`): when it arrived (ms), then the
/// positions in KEYS of its bucket pair, its minute's own bucket, its dedup hashes, its cap
/// hashes and its rate-limit state. A batch of [`super::MAX_BATCH`] reports names about a
/// thousand keys at most, well within 2 bytes.
fn packed_numbers(at_ms: i64, positions: [usize; 7]) -> [u8; 22] {
    let mut packed = [0; 22];
    packed[..8].copy_from_slice(&at_ms.to_le_bytes());
    for (slot, position) in packed[8..].chunks_exact_mut(2).zip(positions) {
        let position = u16::try_from(position).expect("a batch names fewer than 65,536 keys");
        slot.copy_from_slice(&position.to_le_bytes());
    }
    packed
}

/// A key of a counting call, by what it is made of (see `KeySchema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'b> {
    /// A service's bucket pair holding a minute.
    Pair(&'b ServiceSlug, i64),
    /// A service's bucket of a minute alone.
    Own(&'b ServiceSlug, i64),
    /// A service's dedup hash of a window (ms) and epoch; its legacy twin follows it in KEYS.
    Dedup(&'b ServiceSlug, u64, i64),
    /// A service's cap hash of a window (ms) and epoch.
    Caps(&'b ServiceSlug, u64, i64),
    /// A client's rate-limit state, by its address key.
    Rate(&'b str),
}

impl Key<'_> {
    fn name(&self, keys: &KeySchema) -> String {
        match *self {
            Key::Pair(service, minute) => keys.pair_bucket(service, minute),
            Key::Own(service, minute) => keys.minute_bucket(service, minute),
            Key::Dedup(service, window_ms, epoch) => keys.dedup(service, window_ms, epoch),
            Key::Caps(service, window_ms, epoch) => keys.caps(service, window_ms, epoch),
            Key::Rate(address_hex) => keys.rate_limit(address_hex),
        }
    }
}

/// Where each key of a call stands in its KEYS (1-based), each key added once.
#[derive(Default)]
struct KeyPositions<'b> {
    seen: HashMap<Key<'b>, usize>,
    /// The keys in the order of their positions (legacy twins not included).
    order: Vec<Key<'b>>,
    /// Legacy twins, each right after its dedup hash (in KEYS, not in `seen`).
    twins: usize,
}

impl<'b> KeyPositions<'b> {
    fn of(&mut self, key: Key<'b>) -> usize {
        let next = self.count() + 1;
        let at = *self.seen.entry(key).or_insert(next);
        if at == next {
            self.order.push(key);
            if matches!(key, Key::Dedup(..)) {
                self.twins += 1;
            }
        }
        at
    }

    /// Keys in KEYS so far, twins included.
    fn count(&self) -> usize {
        self.order.len() + self.twins
    }
}

/// The script's answer (a code and a wait per report) as one [`Counted`] per report.
pub(super) fn answers(reply: &[i64]) -> Vec<Counted> {
    reply
        .chunks_exact(2)
        .map(|pair| {
            let retry_after = Duration::from_millis(u64::try_from(pair[1]).unwrap_or(0));
            match pair[0] {
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
            }
        })
        .collect()
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
