//! Pipelines over many keys, on one server and on a cluster.
//!
//! On one server a pipeline is one round trip whatever keys it touches. On a cluster, redis-rs
//! sends a pipeline to the node of its first key and refuses one whose keys are in different
//! slots, so commands are grouped by slot (a service's keys share one through its hash tag),
//! and the groups travel at once, a bounded number at a time, each within the deadline.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use redis::cluster_routing::Slot;
use redis::{Cmd, FromRedisValue};

use super::redis_conn::RedisConn;
use crate::store::StoreError;

/// Most commands in one pipelined round trip.
const PIPELINE_COMMANDS: usize = 4096;

/// Most slot pipelines in flight at once on a cluster.
const SLOTS_IN_FLIGHT: usize = 32;

impl RedisConn {
    /// Sends `commands` (each with the key whose slot it touches) pipelined and returns their
    /// replies in order: in round trips of up to 4,096 commands on one server, and one per
    /// slot (many at once) on a cluster.
    pub async fn pipelined<T: FromRedisValue>(
        &self,
        op: &'static str,
        commands: Vec<(String, Cmd)>,
    ) -> Result<Vec<T>, StoreError> {
        let count = commands.len();
        let mut groups: Vec<Vec<(usize, Cmd)>> = Vec::new();
        if self.is_cluster() {
            let mut slots: HashMap<Slot, usize> = HashMap::new();
            for (i, (key, cmd)) in commands.into_iter().enumerate() {
                let group = *slots
                    .entry(Slot::for_key(key.as_bytes()))
                    .or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                groups[group].push((i, cmd));
            }
        } else {
            groups.push(
                commands
                    .into_iter()
                    .map(|(_, cmd)| cmd)
                    .enumerate()
                    .collect(),
            );
        }
        let chunks: Vec<Vec<(usize, Cmd)>> = groups
            .into_iter()
            .flat_map(|group| {
                let mut chunks = Vec::new();
                let mut group = group.into_iter().peekable();
                while group.peek().is_some() {
                    chunks.push(group.by_ref().take(PIPELINE_COMMANDS).collect());
                }
                chunks
            })
            .collect();
        // One server: one chunk after another, as before clusters. A cluster: many at once.
        let in_flight = if self.is_cluster() {
            SLOTS_IN_FLIGHT
        } else {
            1
        };
        let replies: Vec<Vec<(usize, T)>> = stream::iter(chunks)
            .map(|chunk| self.send_chunk::<T>(op, chunk))
            .buffer_unordered(in_flight)
            .try_collect()
            .await?;
        let mut ordered: Vec<Option<T>> = (0..count).map(|_| None).collect();
        for (i, reply) in replies.into_iter().flatten() {
            ordered[i] = Some(reply);
        }
        Ok(ordered.into_iter().flatten().collect())
    }

    async fn send_chunk<T: FromRedisValue>(
        &self,
        op: &'static str,
        chunk: Vec<(usize, Cmd)>,
    ) -> Result<Vec<(usize, T)>, StoreError> {
        let mut pipe = redis::pipe();
        let mut indices = Vec::with_capacity(chunk.len());
        for (i, cmd) in chunk {
            pipe.add_command(cmd);
            indices.push(i);
        }
        let replies: Vec<T> = self
            .run(op, |mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        Ok(indices.into_iter().zip(replies).collect())
    }
}
