//! A Redis connection that never blocks a request for longer than the configured timeout.
//!
//! The connection is created lazily, so an instance starts (and answers `/readyz` with 503
//! naming Redis) even when Redis is down, and reconnects by itself when it returns. It speaks
//! RESP3 (Redis 6 or later) so that a dropped connection is noticed when it drops, not by the
//! next command, and it keeps trying in the background for as long as Redis is away: after a
//! Redis restart even an idle instance answers its first request, instead of failing it to
//! learn that the old connection is gone.
//!
//! Each thread gets its own connection. actix-web runs one single-threaded runtime per worker;
//! with one shared connection, every command from one worker woke the connection's task on
//! another, and under load those cross-thread wake-ups (and their system calls) cost more than
//! the commands themselves.
//!
//! The same handle speaks to one server or to a Redis Cluster ([`RedisTarget`]): callers get a
//! [`Connection`] either way and send commands, pipelines and scripts through it unchanged. On
//! a cluster, redis-rs routes each command by its key's slot; what it cannot route (a pipeline
//! across slots, a scan of every node) goes through [`RedisConn::pipelined`] and
//! [`RedisConn::scan_page`], which do the right thing on both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionInfo, IntoConnectionInfo, ProtocolVersion};

use super::cluster::{self, Cluster, Node};
use super::connection::Connection;
use super::target::RedisTarget;
use crate::reach::Address;
use crate::store::{Dependency, StoreError};

/// Source of handle ids: clones share an id, and so share each thread's connection.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connection of each handle, with a token that dies with the handle's last
    /// clone (so connections of dropped handles are closed, not kept for the thread's life).
    static CONNECTIONS: RefCell<HashMap<u64, (Weak<()>, Connection)>> =
        RefCell::new(HashMap::new());
}

/// One server or a cluster, and how to connect to it.
#[derive(Clone)]
enum Backend {
    Single {
        info: ConnectionInfo,
        client: redis::Client,
        config: ConnectionManagerConfig,
    },
    Cluster(Cluster),
}

/// A cheaply cloneable, auto-reconnecting Redis handle with a per-call deadline.
#[derive(Clone)]
pub struct RedisConn {
    id: u64,
    alive: Arc<()>,
    backend: Backend,
    timeout: Duration,
    address: Address,
}

impl RedisConn {
    /// Prepares a connection to `url` (one server, or a cluster: see [`RedisTarget`]); nothing
    /// is sent until the first command.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let (backend, address) = match RedisTarget::parse(url).map_err(anyhow::Error::msg)? {
            RedisTarget::Single(url) => {
                let info = resp3(url.into_connection_info()?);
                let address = cluster::address_of(&info);
                let client = redis::Client::open(info.clone())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    // Commands never wait on these retries longer than `timeout` (see `run`).
                    .set_number_of_retries(usize::MAX)
                    .set_max_delay(Duration::from_millis(100));
                let backend = Backend::Single {
                    info,
                    client,
                    config,
                };
                (backend, address)
            }
            RedisTarget::Cluster(seeds) => {
                let cluster = Cluster::new(&seeds, timeout)?;
                let address = cluster.seed_address();
                (Backend::Cluster(cluster), address)
            }
        };
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
            backend,
            timeout,
            address,
        })
    }

    /// The longest a command may take before it fails.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Where this connects to (a cluster's first seed node).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Whether this speaks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.backend, Backend::Cluster(_))
    }

    /// Why Redis cannot be used, in words naming the address (on a cluster: the node) and the
    /// cause (refused, timed out, unknown host, authentication, a cluster that is not ok...),
    /// or `None` when everything answers.
    ///
    /// Commands cannot say it themselves: the connection retries a refused connection until
    /// the deadline, so every failure looks like a timeout. This opens connections of its own,
    /// first plain TCP, then Redis's handshake and a PING.
    pub async fn diagnose(&self) -> Option<String> {
        match &self.backend {
            Backend::Single { info, .. } => cluster::probe(info, self.timeout)
                .await
                .err()
                .map(|cause| format!("Redis at {} (REDIS_URL): {cause}", self.address)),
            Backend::Cluster(cluster) => cluster.diagnose().await,
        }
    }

    /// This thread's connection, created (lazily, without connecting) on first use.
    fn connection(&self) -> redis::RedisResult<Connection> {
        CONNECTIONS.with(|connections| {
            if let Some((_, connection)) = connections.borrow().get(&self.id) {
                return Ok(connection.clone());
            }
            let connection = match &self.backend {
                Backend::Single { client, config, .. } => Connection::Managed(
                    ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?,
                ),
                Backend::Cluster(cluster) => Connection::Cluster(cluster.lazy_connection()),
            };
            let mut connections = connections.borrow_mut();
            connections.retain(|_, (alive, _)| alive.strong_count() > 0);
            connections.insert(self.id, (Arc::downgrade(&self.alive), connection.clone()));
            Ok(connection)
        })
    }

    /// A connection of the caller's own, not shared with other commands, whose replies may
    /// take up to `response_timeout` (a blocking read). Connects now.
    pub async fn dedicated(&self, response_timeout: Duration) -> redis::RedisResult<Connection> {
        match &self.backend {
            Backend::Single { client, .. } => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeout.max(Duration::from_secs(2))))
                    .set_response_timeout(Some(response_timeout));
                let connection = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Connection::Plain(connection))
            }
            Backend::Cluster(cluster) => cluster
                .dedicated_connection(response_timeout)
                .await
                .map(Connection::Cluster),
        }
    }

    /// Runs `f` on a connection, failing with 503 (Redis) on any error or after the timeout.
    pub async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.run_by(Instant::now() + self.timeout, op, f).await
    }

    /// [`Self::run`] with a deadline of the caller's: a batch of reports must fail by the time
    /// its oldest report's own deadline passes, or a report refused at its deadline could still
    /// be counted after it.
    pub async fn run_by<T, F, Fut>(
        &self,
        deadline: Instant,
        op: &'static str,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async { f(self.connection()?).await };
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                metrics::counter!("downwatch_dependency_errors_total", "dependency" => "redis")
                    .increment(1);
                tracing::warn!(redis.op = op, error = %e, "redis command failed");
                Err(StoreError::Unavailable(Dependency::Redis))
            }
            Err(_) => {
                metrics::counter!("downwatch_dependency_errors_total", "dependency" => "redis")
                    .increment(1);
                tracing::warn!(
                    redis.op = op,
                    timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                    "redis timed out"
                );
                Err(StoreError::Unavailable(Dependency::Redis))
            }
        }
    }

    /// Round trip to Redis (on a cluster: to every master); for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let cluster = self.is_cluster();
        self.run("PING", |mut c| async move {
            if cluster {
                c.ping_every_master().await
            } else {
                redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .map(drop)
            }
        })
        .await
    }

    /// The nodes whose keys a full scan must visit: the server, or every master.
    pub async fn scan_nodes(&self) -> Result<Vec<Node>, StoreError> {
        if !self.is_cluster() {
            return Ok(vec![Node::Any]);
        }
        self.run("cluster-masters", |mut c| async move { c.masters().await })
            .await
    }

    /// One `SCAN` step of `pattern` on `node`: the next cursor (0 at the end) and keys.
    pub async fn scan_page(
        &self,
        node: &Node,
        cursor: u64,
        pattern: &str,
        count: usize,
    ) -> Result<(u64, Vec<String>), StoreError> {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        let node = node.clone();
        self.run("scan", |mut c| async move { c.query_on(&node, scan).await })
            .await
    }
}

/// The same connection settings, speaking RESP3.
pub(super) fn resp3(info: ConnectionInfo) -> ConnectionInfo {
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    info.set_redis_settings(settings)
}
