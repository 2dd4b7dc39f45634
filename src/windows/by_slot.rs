//! Counting a batch of reports on a Redis Cluster.
//!
//! On one server a batch is one script call. On a cluster a script's keys must share a slot:
//! a service's keys do (the `{svc:<slug>}` hash tag), but a batch mixes services, and a
//! client's shared rate-limit state has a hash tag of its own (`{rl:<address key>}`). So:
//!
//! 1. the rate: limited reports spend their client's allowance first, in one `rate.lua` call
//!    per slot of those states; a report over its rate is answered 429 there and goes no
//!    further, as in the single-node script, where the rate is checked first;
//! 2. the count: the other reports go in one `count.lua` call per service slot (and limits),
//!    without the rate, which is spent.
//!
//! The calls of each step run at once. A call that fails fails only its own reports (503). A
//! report whose rate was spent but whose count call failed has used allowance for nothing,
//! which the client's retry after the 503 may notice; nothing is counted without a 202.
//!
//! For now each batch here is one report: `Windows` bypasses group commit on a cluster. A
//! batch is answered when its slowest call returns, and a thread's batch mixes services, so
//! with one master down every report sharing a batch with one of its services waited for its
//! deadline and failed too (measured: the services on the live masters counted nothing after
//! the kill). Batching per slot would keep group commit's savings without that coupling.

use std::collections::HashMap;

use futures_util::future::join_all;
use redis::cluster_routing::Slot;
use tokio::time::Instant;

use super::count::{Counted, Queued, millis};
use super::store::{Counter, unavailable};
use crate::store::StoreError;

impl Counter {
    /// [`Counter::send`] on a cluster: the rate per slot of the clients' states, then the
    /// counts per service slot; answers in the order of `batch`.
    pub(super) async fn send_by_slot(&self, batch: &[Queued]) -> Vec<Result<Counted, StoreError>> {
        let mut answers: Vec<Option<Result<Counted, StoreError>>> =
            batch.iter().map(|_| None).collect();

        let limited = groups(batch, |_, q| {
            q.rate_key().map(|key| (Slot::for_key(key), q.limits()))
        });
        let spent = join_all(limited.iter().map(|group| self.spend(batch, group))).await;
        for (group, waits) in limited.iter().zip(spent) {
            for (&i, wait) in group.iter().zip(waits) {
                match wait {
                    Ok(None) => {}
                    Ok(Some(retry_after)) => {
                        answers[i] = Some(Ok(Counted::RateLimited { retry_after }));
                    }
                    Err(e) => answers[i] = Some(Err(e)),
                }
            }
        }

        let pending: Vec<bool> = answers.iter().map(Option::is_none).collect();
        let counts = groups(batch, |i, q| {
            pending[i].then(|| (Slot::for_key(q.service_key()), q.limits()))
        });
        let counted = join_all(counts.iter().map(|group| {
            let reports: Vec<&Queued> = group.iter().map(|&i| &batch[i]).collect();
            async move { self.call(&reports, false).await }
        }))
        .await;
        for (group, replies) in counts.iter().zip(counted) {
            for (&i, reply) in group.iter().zip(replies) {
                answers[i] = Some(reply);
            }
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(unavailable())))
            .collect()
    }

    /// Spends the rate of the reports at `group` (states in one slot) in one call: for each,
    /// `None` when it had allowance, else how long until it has.
    async fn spend(
        &self,
        batch: &[Queued],
        group: &[usize],
    ) -> Vec<Result<Option<std::time::Duration>, StoreError>> {
        let Some(limits) = batch[group[0]].limits() else {
            return group.iter().map(|_| Ok(None)).collect();
        };
        let interval_ms = millis(limits.rate.interval);
        let mut call = self.rate_script.prepare_invoke();
        call.arg(interval_ms)
            .arg(interval_ms.saturating_mul(u64::from(limits.rate.burst.saturating_sub(1))));
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for &i in group {
            let key = batch[i].rate_key().unwrap_or_default();
            let next = positions.len() + 1;
            let at = *positions.entry(key).or_insert(next);
            if at == next {
                call.key(key);
            }
            call.arg(batch[i].at_ms()).arg(at);
        }
        let deadline = group
            .iter()
            .map(|&i| batch[i].deadline)
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
                .map(|ms| {
                    Ok((ms > 0)
                        .then(|| std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
                })
                .collect(),
            _ => group.iter().map(|_| Err(unavailable())).collect(),
        }
    }
}

/// The positions of `batch`'s reports grouped by `key` (of a position and its report; those
/// without one left out), each
/// group in batch order, groups in the order of their first report.
fn groups<K: Eq + std::hash::Hash>(
    batch: &[Queued],
    mut key: impl FnMut(usize, &Queued) -> Option<K>,
) -> Vec<Vec<usize>> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, report) in batch.iter().enumerate() {
        if let Some(k) = key(i, report) {
            let g = *index.entry(k).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
    }
    groups
}
