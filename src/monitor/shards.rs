//! Which services this instance evaluates: every one while it holds the single leader lease
//! (the default), or those of the shards it holds when the services are split into shards.
//!
//! A service's shard is a function of its id alone, so every instance agrees on it without
//! talking; the shard leases (see `windows::ShardLease`) decide who evaluates which. The
//! rollup and the readings go per shard too: each holder rolls up and reads its own shards'
//! services, each shard from its own stored progress (`db::shard_progress`), so a bin
//! boundary's work and a new holder's first readings pass are split like the evaluation. The
//! history partitions, one job for the whole table, run on the holder of shard 0.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::StoreError;
use crate::windows::{Lease, ShardLease, Windows};

/// The shard the history partitions go with.
pub(super) const FIRST: u32 = 0;

/// How this instance claims its part of the monitor's work.
pub(super) enum Leadership {
    /// One leader evaluates every service.
    Single(Lease),
    /// Each of `count` shards has a leader of its own.
    Shards { lease: ShardLease, count: u32 },
}

impl Leadership {
    /// One lease when `shards` is 1, else a lease per shard; renewed for `length` at a time.
    pub(super) fn new(windows: &Windows, length: Duration, shards: u32) -> Self {
        if shards <= 1 {
            Self::Single(windows.leader_lease(length))
        } else {
            Self::Shards {
                lease: windows.shard_lease(length, shards),
                count: shards,
            }
        }
    }

    /// Takes or renews this instance's claim at `now`; returns the shards it holds (none: it
    /// evaluates nothing this tick). The single lease is shard 0 of one.
    pub(super) async fn acquire(&self, now: DateTime<Utc>) -> Result<Vec<u32>, StoreError> {
        match self {
            Self::Single(lease) => Ok(if lease.acquire(now).await? {
                vec![FIRST]
            } else {
                Vec::new()
            }),
            Self::Shards { lease, .. } => lease.acquire(now).await,
        }
    }

    /// How many shards the services are split into.
    pub(super) fn count(&self) -> u32 {
        match self {
            Self::Single(_) => 1,
            Self::Shards { count, .. } => *count,
        }
    }
}

/// The shard of the service `id` among `shards`: the same on every instance.
pub fn shard_of(id: Uuid, shards: u32) -> u32 {
    // Both halves: a time-ordered id (v7) is random only in its low bits, a v4 in both.
    let (high, low) = id.as_u64_pair();
    u32::try_from((high ^ low) % u64::from(shards.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_spread_evenly_over_the_shards_and_one_shard_holds_them_all() {
        // Random ids (v4) and time-ordered ones made in the same millisecond or so (v7).
        for ids in [
            (0..8_000).map(|_| Uuid::new_v4()).collect::<Vec<_>>(),
            (0..8_000).map(|_| Uuid::now_v7()).collect(),
        ] {
            let mut per_shard = [0_u32; 8];
            for id in &ids {
                per_shard[shard_of(*id, 8) as usize] += 1;
            }
            // 1,000 expected each; about five standard deviations either side.
            assert!(
                per_shard.iter().all(|n| (850..=1150).contains(n)),
                "{per_shard:?}"
            );
            assert!(ids.iter().all(|id| shard_of(*id, 1) == 0));
        }
    }
}
