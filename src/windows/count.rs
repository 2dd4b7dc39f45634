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

/// A report waiting in the group-commit queue: its keys already built, nothing borrowed.
#[derive(Debug)]
pub(super) struct Queued {
    /// When the report's request stops waiting for an answer.
    pub deadline: Instant,
    at_ms: i64,
    reporter: ReporterKey,
    problem: ProblemKind,
    country: Option<CountryCode>,
    /// The bucket pair of the report's minute, and the minute's own bucket (see `KeySchema`).
    pair: String,
    own_bucket: String,
    dedup_now: String,
    dedup_before: String,
    limited: Option<Limited>,
}

/// A capped, rate-limited report's own keys and limits.
#[derive(Debug)]
struct Limited {
    limits: Limits,
    caps_now: String,
    caps_before: String,
    address_field: Vec<u8>,
    network_field: Vec<u8>,
    rate: String,
}

/// A source's field in a cap hash: `scope` (`a` or `n`) and its key as bytes (a key that is
/// not hex is used as written).
fn cap_field(scope: u8, key_hex: &str) -> Vec<u8> {
    let key = hex::decode(key_hex).unwrap_or_else(|_| key_hex.as_bytes().to_vec());
    let mut field = Vec::with_capacity(1 + key.len());
    field.push(scope);
    field.extend_from_slice(&key);
    field
}

/// The epoch of `at_ms` in epochs of `window_ms`.
fn epoch_of(at_ms: i64, window_ms: u64) -> i64 {
    at_ms.div_euclid(i64::try_from(window_ms.max(1)).unwrap_or(i64::MAX))
}

impl Queued {
    /// `report` with its keys under `keys`, dedup epochs of `dedup_window`.
    pub fn new(
        keys: &KeySchema,
        dedup_window: Duration,
        report: &CountRequest<'_>,
        limited: Option<(CapKeys<'_>, Limits)>,
        deadline: Instant,
    ) -> Self {
        let at_ms = report.at.timestamp_millis();
        let window_ms = millis(dedup_window).max(1);
        let epoch = epoch_of(at_ms, window_ms);
        Self {
            deadline,
            at_ms,
            reporter: report.reporter,
            problem: report.problem.clone(),
            country: report.country,
            pair: keys.pair_bucket(report.service, minute_of(report.at)),
            own_bucket: keys.minute_bucket(report.service, minute_of(report.at)),
            dedup_now: keys.dedup(report.service, window_ms, epoch),
            dedup_before: keys.dedup(report.service, window_ms, epoch - 1),
            limited: limited.map(|(cap_keys, limits)| {
                let cap_ms = millis(limits.caps.window).max(1);
                let cap_epoch = epoch_of(at_ms, cap_ms);
                Limited {
                    limits,
                    caps_now: keys.caps(report.service, cap_ms, cap_epoch),
                    caps_before: keys.caps(report.service, cap_ms, cap_epoch - 1),
                    address_field: cap_field(b'a', cap_keys.address_hex),
                    network_field: cap_field(b'n', cap_keys.network_hex),
                    // The rate is the address's too: the same key, in its own namespace.
                    rate: keys.rate_limit(cap_keys.address_hex),
                }
            }),
        }
    }

    /// The limits this report is counted under.
    pub fn limits(&self) -> Option<Limits> {
        self.limited.as_ref().map(|l| l.limits)
    }

    /// A key of the service's (every key of its count shares the service's slot).
    pub fn service_key(&self) -> &str {
        &self.pair
    }

    /// What spending this report's shared rate takes, for a report under limits.
    pub fn rate_spend(&self) -> Option<RateSpend> {
        self.limited.as_ref().map(|l| RateSpend {
            deadline: self.deadline,
            at_ms: self.at_ms,
            rate: l.limits.rate,
            key: l.rate.clone(),
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

/// One call of the counting script for `batch` (every report under the same limits), spending
/// each limited report's shared rate in it if `spend_rate`.
pub(super) fn invocation<'a>(
    script: &'a redis::Script,
    batch: &[&Queued],
    dedup_window: Duration,
    retention: Duration,
    spend_rate: bool,
) -> redis::ScriptInvocation<'a> {
    let mut call = script.prepare_invoke();
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
    let interval_ms = millis(rate.interval);
    call.arg(millis(dedup_window).max(1))
        .arg(retention.as_secs())
        .arg(millis(caps.window))
        .arg(caps.per_address)
        .arg(caps.per_network)
        .arg(interval_ms)
        .arg(interval_ms.saturating_mul(u64::from(rate.burst.saturating_sub(1))));
    let mut positions = KeyPositions::default();
    for report in batch {
        let pair = positions.of(&mut call, &report.pair);
        let own = positions.of(&mut call, &report.own_bucket);
        let now = positions.of_dedup(&mut call, &report.dedup_now);
        let before = positions.of_dedup(&mut call, &report.dedup_before);
        let (mut caps_now, mut caps_before, mut rate) = (0, 0, 0);
        let (mut address, mut network): (&[u8], &[u8]) = (b"", b"");
        if let Some(limited) = &report.limited {
            caps_now = positions.of(&mut call, &limited.caps_now);
            caps_before = positions.of(&mut call, &limited.caps_before);
            address = &limited.address_field;
            network = &limited.network_field;
            if spend_rate {
                rate = positions.of(&mut call, &limited.rate);
            }
        }
        call.arg(
            &packed_numbers(
                report.at_ms,
                [pair, own, now, before, caps_now, caps_before, rate],
            )[..],
        )
        .arg(report.reporter.as_bytes())
        .arg(report.problem.as_str())
        .arg(report.country.as_ref().map_or("", |c| c.as_str()))
        .arg(address)
        .arg(network);
    }
    call
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

/// Where each key of a call stands in its KEYS (1-based), each key added once.
#[derive(Default)]
struct KeyPositions<'b> {
    seen: HashMap<&'b str, usize>,
    /// Legacy twins added after their dedup hashes (in KEYS, not in `seen`).
    twins: usize,
}

impl<'b> KeyPositions<'b> {
    fn of(&mut self, call: &mut redis::ScriptInvocation<'_>, key: &'b str) -> usize {
        self.add(call, key, false)
    }

    /// The position of a dedup hash, its legacy twin (see `KeySchema::legacy_dedup`) added
    /// right after it the first time.
    fn of_dedup(&mut self, call: &mut redis::ScriptInvocation<'_>, key: &'b str) -> usize {
        self.add(call, key, true)
    }

    fn add(&mut self, call: &mut redis::ScriptInvocation<'_>, key: &'b str, twin: bool) -> usize {
        let next = self.seen.len() + self.twins + 1;
        let at = *self.seen.entry(key).or_insert(next);
        if at == next {
            call.key(key);
            if twin {
                call.key(KeySchema::legacy_dedup(key));
                self.twins += 1;
            }
        }
        at
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
