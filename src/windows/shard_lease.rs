//! Shard leases: the monitor's services split into shards, each led by one instance at a time.
//!
//! One lease per shard, `<holder>|<expiry>` as for the single lease, and a set of members
//! (every instance that ticked within a lease), so each instance knows its fair share:
//! `ceil(shards / members)`. One script call per tick takes, renews and balances an instance's
//! shards (see `shards.lua`): when an instance joins, the others let go of their extra shards on
//! their next ticks and it takes them; when one dies, its leases and its membership lapse
//! together and the others take its shards. Expiry is by the application's clock (tests move
//! it), with a real-time TTL as a safety net.
//!
//! The members key and every lease key share the `{monitor}` hash tag, so on a Redis Cluster
//! they live in one slot and the script may touch them all.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RedisConn;
use crate::store::StoreError;

/// One instance's claim on the monitor's shards.
#[derive(Clone)]
pub struct ShardLease {
    redis: RedisConn,
    members: String,
    leases: Vec<String>,
    holder: String,
    length: Duration,
    script: redis::Script,
}

impl ShardLease {
    /// Leases for `leases.len()` shards, with `members` the key of the member set, held for
    /// `length` per renewal by a random holder id.
    pub fn new(redis: RedisConn, members: String, leases: Vec<String>, length: Duration) -> Self {
        Self {
            redis,
            members,
            leases,
            holder: uuid::Uuid::new_v4().to_string(),
            length,
            script: redis::Script::new(include_str!("shards.lua")),
        }
    }

    /// Takes, renews and balances this instance's shards at `now`; returns the shards it
    /// holds afterwards (numbers from 0), in order.
    pub async fn acquire(&self, now: DateTime<Utc>) -> Result<Vec<u32>, StoreError> {
        let mut invocation = self.script.prepare_invoke();
        let length_ms = u64::try_from(self.length.as_millis()).unwrap_or(u64::MAX);
        invocation.key(&self.members);
        for lease in &self.leases {
            invocation.key(lease);
        }
        invocation
            .arg(&self.holder)
            .arg(now.timestamp_millis())
            .arg(length_ms)
            .arg(length_ms * 10);
        let mut held: Vec<u32> = self
            .redis
            .run("monitor-shards", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        held.sort_unstable();
        Ok(held)
    }
}
