//! The leader lease: exactly one instance evaluates at a time.
//!
//! The lease lives in Redis as `<holder>|<expiry>`, expiry by the application's clock (so tests
//! can move it), with a real-time TTL as a safety net. The holder renews it every tick; when it
//! dies, another instance takes over once the expiry has passed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RedisConn;
use crate::store::StoreError;

/// One instance's claim on the lease.
#[derive(Clone)]
pub struct Lease {
    redis: RedisConn,
    key: String,
    holder: String,
    length: Duration,
    script: redis::Script,
}

impl Lease {
    /// A lease at `key` held for `length` per renewal, by a random holder id.
    pub fn new(redis: RedisConn, key: String, length: Duration) -> Self {
        Self {
            redis,
            key,
            holder: uuid::Uuid::new_v4().to_string(),
            length,
            script: redis::Script::new(include_str!("lease.lua")),
        }
    }

    /// Takes or renews the lease at `now`; true if this instance is the leader.
    pub async fn acquire(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut invocation = self.script.prepare_invoke();
        let length_ms = u64::try_from(self.length.as_millis()).unwrap_or(u64::MAX);
        invocation
            .key(&self.key)
            .arg(&self.holder)
            .arg(now.timestamp_millis())
            .arg(length_ms)
            .arg(length_ms * 10);
        let held: i64 = self
            .redis
            .run("monitor-lease", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(held == 1)
    }
}
