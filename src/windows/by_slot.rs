//! Counting reports on a Redis Cluster: two group commits, each batching per hash slot.
//!
//! On one server a batch is one script call that spends each client's shared rate and counts.
//! On a cluster a script's keys must share a slot: a service's keys do (the `{svc:<slug>}` hash
//! tag), but a client's shared rate-limit state has a hash tag of its own (`{rl:<address key>}`).
//! So a report takes two steps, each through a group commit whose lanes are slots (see
//! [`super::group_commit`]):
//!
//! 1. the rate, for a limited report: its client's allowance is spent by `rate.lua`, in a batch
//!    of the reports whose states share its slot; a report over its rate is answered 429 there
//!    and goes no further, as in the single-node script, where the rate is checked first;
//! 2. the count: `count.lua` without the rate, in a batch of the reports of services in its
//!    service's slot (in practice the reports of one service: what a busy service's outage
//!    sends).
//!
//! A batch never mixes slots, so a dead master delays and fails (503 at each report's deadline)
//! only the reports whose service, or whose client's rate state, lives on it. A report whose
//! rate was spent but whose count failed has used allowance for nothing, which the client's
//! retry after the 503 may notice; nothing is counted without a 202.

use std::time::Duration;

use tokio::time::Instant;

use super::count::{RateSpend, millis};
use super::store::{Counter, unavailable};
use crate::store::StoreError;

impl Counter {
    /// Spends the shared rate of `batch` (states in one slot), in one `rate.lua` call per run
    /// of reports under the same rate (in practice one): for each, `None` when it had
    /// allowance, else how long until it has.
    pub(super) async fn spend_rates(
        &self,
        batch: Vec<RateSpend>,
    ) -> Vec<Result<Option<Duration>, StoreError>> {
        let mut answers = Vec::with_capacity(batch.len());
        for group in batch.chunk_by(|a, b| a.rate == b.rate) {
            answers.extend(self.spend(group).await);
        }
        answers
    }

    /// One `rate.lua` call for `group` (one rate, states in one slot).
    async fn spend(&self, group: &[RateSpend]) -> Vec<Result<Option<Duration>, StoreError>> {
        let Some(first) = group.first() else {
            return Vec::new();
        };
        let interval_ms = millis(first.rate.interval);
        let mut call = self.rate_script.prepare_invoke();
        call.arg(interval_ms)
            .arg(interval_ms.saturating_mul(u64::from(first.rate.burst.saturating_sub(1))));
        // Each state once in KEYS; reports point at theirs by position.
        let mut keys: Vec<&str> = Vec::new();
        for spend in group {
            let at = match keys.iter().position(|k| *k == spend.key) {
                Some(at) => at + 1,
                None => {
                    keys.push(&spend.key);
                    call.key(&spend.key);
                    keys.len()
                }
            };
            call.arg(spend.at_ms).arg(at);
        }
        let deadline = group
            .iter()
            .map(|s| s.deadline)
            .min()
            .unwrap_or_else(|| Instant::now() + self.redis.timeout());
        let reply = self
            .redis
            .run_by(deadline, "spend-rate", |mut c| async move {
                call.invoke_async::<Vec<i64>>(&mut c).await
            })
            .await;
        match reply {
            Ok(waits) if waits.len() == group.len() => waits
                .into_iter()
                .map(|ms| Ok((ms > 0).then(|| Duration::from_millis(ms.unsigned_abs()))))
                .collect(),
            _ => group.iter().map(|_| Err(unavailable())).collect(),
        }
    }
}
