//! The connection callers of [`super::RedisConn::run`] get: to one server or to a cluster.
//!
//! It implements redis-rs's `ConnectionLike`, so `query_async`, pipelines and scripts take it
//! as they took the single-node connection manager; on a cluster, redis-rs routes each command
//! by its key's slot (and splits `MGET` and `UNLINK` across slots by itself). The few things
//! that need to know which nodes there are (a PING of every master, a scan of one node) are
//! methods here.

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Value,
};

use super::cluster::{Node, masters_of};

/// A connection to one server or to a Redis Cluster.
#[derive(Clone)]
pub enum Connection {
    /// The shared, reconnecting connection to one server.
    Managed(ConnectionManager),
    /// A connection of its own to one server (a blocking read).
    Plain(MultiplexedConnection),
    /// A cluster connection: one connection per node, commands routed by slot.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Managed(c) => c.req_packed_command(cmd),
            Self::Plain(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Managed(c) => c.req_packed_commands(cmd, offset, count),
            Self::Plain(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Managed(c) => c.get_db(),
            Self::Plain(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Connection {
    /// PING every master in the slot map, each by its address (one server: PING it); fails
    /// if any does not answer. redis-rs's own fan-out to all masters skips the nodes it has
    /// no connection to, so a dead master would pass unnoticed.
    pub(super) async fn ping_every_master(&mut self) -> RedisResult<()> {
        if !matches!(self, Self::Cluster(_)) {
            return redis::cmd("PING")
                .query_async::<String>(self)
                .await
                .map(drop);
        }
        let masters = self.masters().await?;
        let pings = masters.iter().map(|node| {
            let mut connection = self.clone();
            async move {
                connection
                    .query_on::<String>(node, redis::cmd("PING"))
                    .await
                    .map_err(|e| match node {
                        Node::At { host, port } => RedisError::from((
                            ErrorKind::Io,
                            "a cluster master does not answer",
                            format!("{host}:{port}: {e}"),
                        )),
                        Node::Any => e,
                    })
            }
        });
        futures_util::future::try_join_all(pings).await.map(drop)
    }

    /// The cluster's masters, from the slot map a node reports (one server: itself).
    pub(super) async fn masters(&mut self) -> RedisResult<Vec<Node>> {
        match self {
            Self::Cluster(c) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
                let slots = c
                    .route_command(redis::cmd("CLUSTER").arg("SLOTS").clone(), routing)
                    .await?;
                Ok(masters_of(&slots)
                    .into_iter()
                    .map(|(host, port, _)| Node::At { host, port })
                    .collect())
            }
            _ => Ok(vec![Node::Any]),
        }
    }

    /// Sends `cmd` to `node` (on one server, `Node::Any` is the server).
    pub(super) async fn query_on<T: FromRedisValue>(
        &mut self,
        node: &Node,
        cmd: Cmd,
    ) -> RedisResult<T> {
        match (self, node) {
            (Self::Cluster(c), Node::At { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                redis::from_redis_value(c.route_command(cmd, routing).await?).map_err(Into::into)
            }
            (other, _) => cmd.query_async(other).await,
        }
    }
}
