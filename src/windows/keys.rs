//! The Redis key schema.
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `{prefix}:{svc:<slug>}:b:<unix minute / 2>` | hash | the buckets of two minutes (the even one, then the odd one): `t` total, then a count per problem kind (`login`) and per country (`US`), bare (`p:t` for a kind named `t`), the odd minute's fields marked with a leading `+` (`+t`, `+login`) | retention after the last write |
//! | `{prefix}:{svc:<slug>}:m:<unix minute>` | hash | one minute's bucket, fields as above without the mark: a minute whose new fields would take its pair past 128 (Redis's `hash-max-listpack-entries`, beyond which a hash costs several times the memory), and every bucket of versions before 2026-12 (with `p:`/`c:` prefixes before that); read beside the pair, the two summed | retention after the last write |
//! | `{prefix}:{svc:<slug>}:r:<window ms>:<epoch>` | hash | the reporters counted in the epoch (`window` ms from `epoch × window`): the reporter key's first 6 bytes → when it was counted (ms into the epoch, 4 bytes little-endian) and the key's next 2 bytes; a reporter whose 6 bytes another holds: its whole key (14 bytes) → the time | two windows after the epoch began |
//! | `{prefix}:{svc:<slug>}:d:<window ms>:<epoch>` | hash | the same epoch as versions before 2026-12 wrote it (whole reporter key → time), only read while one exists (by this version: not by the old instances of a rolling upgrade) | two windows after the epoch began |
//! | `{prefix}:{svc:<slug>}:l:<window ms>:<epoch>` | hash | `a` + address key (16 bytes) and `n` + network key → when its reports were counted (ms into the epoch, 4 bytes little-endian each, the cap's latest at most), for sources counted in the cap epoch | two cap windows after the epoch began |
//! | `{prefix}:{svc:<slug>}:status` | string | JSON status the monitor last wrote | 15 minutes |
//! | `{prefix}:monitor:lease` | string | the leader's holder id | the lease length |
//! | `{prefix}:{monitor}:members` | sorted set | instances taking part in the monitor's shards, by when their membership lapses | ten lease lengths |
//! | `{prefix}:{monitor}:shard:<n>` | string | the holder of monitor shard `n` and its expiry | ten lease lengths |
//! | `{prefix}:events` | stream | live events, about 10,000 (a resume replays at most the last `DOWNWATCH_EVENTS_REPLAY`) | capped, never expires |
//!
//! The `{svc:<slug>}` hash tag puts all of a service's keys in one Redis Cluster slot, so the
//! counting script may touch them together. The prefix must not contain braces.

use crate::domain::ServiceSlug;

/// Builds keys under one prefix (one per deployment, one per test).
#[derive(Debug, Clone)]
pub struct KeySchema {
    prefix: String,
}

impl KeySchema {
    /// A schema whose keys all start with `prefix:`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix, for scans and cleanup.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bucket pair of `slug` that holds the minute starting `minute` minutes after the Unix
    /// epoch, with the minute after or before it: a key costs Redis about 150 bytes before its
    /// first field (its name, entries in the keyspace and the expiry table, its object), more
    /// than a minute's counts, so two minutes share it. See [`Self::pair_mark`].
    pub fn pair_bucket(&self, slug: &ServiceSlug, minute: i64) -> String {
        format!(
            "{}:{{svc:{}}}:b:{}",
            self.prefix,
            slug,
            minute.div_euclid(2)
        )
    }

    /// What a field of `minute` starts with in its pair ([`Self::pair_bucket`]): nothing for the
    /// even minute, `+` for the odd one.
    pub fn pair_mark(minute: i64) -> &'static str {
        if minute.rem_euclid(2) == 1 { "+" } else { "" }
    }

    /// The bucket of `slug` for the minute `minute` alone: where a minute too wide for its pair
    /// is counted, and where versions before 2026-12 counted every minute.
    pub fn minute_bucket(&self, slug: &ServiceSlug, minute: i64) -> String {
        format!("{}:{{svc:{}}}:m:{minute}", self.prefix, slug)
    }

    /// The dedup hash of one service for one epoch (`epoch × window_ms` to the next): who was
    /// counted in it, and when. A report is checked against its epoch's hash and the one before,
    /// which between them hold every report of the last window.
    pub fn dedup(&self, slug: &ServiceSlug, window_ms: u64, epoch: i64) -> String {
        format!("{}:{{svc:{}}}:r:{window_ms}:{epoch}", self.prefix, slug)
    }

    /// The dedup hash of the same epoch as versions before 2026-12 named and filled it (whole
    /// reporter keys as fields), from the name [`Self::dedup`] gives it. Counting reads it while
    /// it exists (two windows after an upgrade at most), so once every instance runs this version
    /// nobody counted before the upgrade is counted again.
    pub fn legacy_dedup(dedup: &str) -> String {
        // Neither a prefix nor a slug holds a brace, so `}:r:` is where the kind is.
        dedup.replacen("}:r:", "}:d:", 1)
    }
}

impl KeySchema {
    /// The cap hash of one service for one cap epoch (`epoch × window_ms` to the next): which
    /// addresses and networks had reports counted in it, and when. A report is checked against
    /// its epoch's hash and the one before, which between them hold every report of the last
    /// window.
    pub fn caps(&self, slug: &ServiceSlug, window_ms: u64, epoch: i64) -> String {
        format!("{}:{{svc:{}}}:l:{window_ms}:{epoch}", self.prefix, slug)
    }

    /// One client's rate-limit state, shared by every instance. Keyed by the client, not a
    /// service, so it has a hash tag of its own: on a cluster it lives in its own slot and is
    /// spent in a call of its own (see `by_slot`).
    pub fn rate_limit(&self, address_hex: &str) -> String {
        format!("{}:{{rl:{address_hex}}}", self.prefix)
    }

    /// The monitor's leader lease (one per deployment).
    pub fn lease(&self) -> String {
        format!("{}:monitor:lease", self.prefix)
    }

    /// The instances taking part in the monitor's shards (one per deployment). It shares the
    /// `{monitor}` hash tag with the shard leases: one script balances them all.
    pub fn shard_members(&self) -> String {
        format!("{}:{{monitor}}:members", self.prefix)
    }

    /// The lease of one monitor shard.
    pub fn shard_lease(&self, shard: u32) -> String {
        format!("{}:{{monitor}}:shard:{shard}", self.prefix)
    }

    /// The stream of live events (one per deployment).
    pub fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// The monitor's status of one service.
    pub fn status(&self, slug: &ServiceSlug) -> String {
        format!("{}:{{svc:{}}}:status", self.prefix, slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_a_cluster_hash_tag_per_service() {
        let keys = KeySchema::new("dw");
        let slug = ServiceSlug::parse("chatgpt").unwrap();
        assert_eq!(
            keys.minute_bucket(&slug, 29_157_996),
            "dw:{svc:chatgpt}:m:29157996"
        );
        assert_eq!(
            keys.pair_bucket(&slug, 29_157_996),
            keys.pair_bucket(&slug, 29_157_997)
        );
        assert_eq!(
            keys.pair_bucket(&slug, 29_157_997),
            "dw:{svc:chatgpt}:b:14578998"
        );
        assert_eq!(
            (
                KeySchema::pair_mark(29_157_996),
                KeySchema::pair_mark(29_157_997)
            ),
            ("", "+")
        );
        assert_eq!(KeySchema::pair_mark(-1), "+");
        assert_eq!(
            keys.dedup(&slug, 3_600_000, 485_966),
            "dw:{svc:chatgpt}:r:3600000:485966"
        );
        let odd = KeySchema::new("a:r:b");
        assert_eq!(
            KeySchema::legacy_dedup(&odd.dedup(&slug, 3_600_000, 485_966)),
            "a:r:b:{svc:chatgpt}:d:3600000:485966"
        );
    }
}
