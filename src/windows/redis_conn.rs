//! A Redis connection that never blocks a request for longer than the configured timeout.
//!
//! The connection manager is created lazily, so an instance starts (and answers `/readyz` with
//! 503 naming Redis) even when Redis is down, and reconnects by itself when it returns. It
//! speaks RESP3 (Redis 6 or later) so that a dropped connection is noticed when it drops, not by
//! the next command, and it keeps trying in the background for as long as Redis is away: after
//! a Redis restart even an idle instance answers its first request, instead of failing it to
//! learn that the old connection is gone.
//!
//! Each thread gets its own multiplexed connection. actix-web runs one single-threaded runtime
//! per worker; with one shared connection, every command from one worker woke the connection's
//! task on another, and under load those cross-thread wake-ups (and their system calls) cost
//! more than the commands themselves.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion};

use crate::reach::{self, Address};
use crate::store::{Dependency, StoreError};

/// Source of handle ids: clones share an id, and so share each thread's connection.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connection of each handle, with a token that dies with the handle's last
    /// clone (so connections of dropped handles are closed, not kept for the thread's life).
    static MANAGERS: RefCell<HashMap<u64, (Weak<()>, ConnectionManager)>> =
        RefCell::new(HashMap::new());
}

/// A cheaply cloneable, auto-reconnecting Redis handle with a per-call deadline.
#[derive(Clone)]
pub struct RedisConn {
    id: u64,
    alive: Arc<()>,
    client: redis::Client,
    config: ConnectionManagerConfig,
    timeout: Duration,
    address: Address,
}

impl RedisConn {
    /// Prepares a connection to `url`; nothing is sent until the first command.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let info = url.into_connection_info()?;
        let address = match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                Address::Tcp {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port: *port,
                }
            }
            other => Address::Socket(other.to_string()),
        };
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(resp3))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Commands never wait on these retries longer than `timeout` (see `run`).
            .set_number_of_retries(usize::MAX)
            .set_max_delay(Duration::from_millis(100));
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
            client,
            config,
            timeout,
            address,
        })
    }

    /// The longest a command may take before it fails.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Where this connects to.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Why Redis cannot be used, in words naming the address and the cause (refused, timed
    /// out, unknown host, authentication...), or `None` when a fresh connection answers PING.
    ///
    /// Commands cannot say it themselves: the connection manager retries a refused connection
    /// until the deadline, so every failure looks like a timeout. This opens a connection of
    /// its own, first plain TCP, then Redis's handshake and a PING.
    pub async fn diagnose(&self) -> Option<String> {
        let at = &self.address;
        if let Some(cause) = reach::diagnose(at, self.timeout).await {
            return Some(format!("Redis at {at} (REDIS_URL): {cause}"));
        }
        let attempt = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("Redis at {at} (REDIS_URL): {e}")),
            Err(_) => Some(format!(
                "Redis at {at} (REDIS_URL): accepted the connection but did not answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }

    /// This thread's connection, created (lazily, without connecting) on first use.
    fn manager(&self) -> redis::RedisResult<ConnectionManager> {
        MANAGERS.with(|managers| {
            if let Some((_, manager)) = managers.borrow().get(&self.id) {
                return Ok(manager.clone());
            }
            let manager =
                ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())?;
            let mut managers = managers.borrow_mut();
            managers.retain(|_, (alive, _)| alive.strong_count() > 0);
            managers.insert(self.id, (Arc::downgrade(&self.alive), manager.clone()));
            Ok(manager)
        })
    }

    /// Runs `f` on a connection, failing with 503 (Redis) on any error or after the timeout.
    pub async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
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
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async { f(self.manager()?).await };
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

    /// Round trip to Redis; for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run("PING", |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        .map(drop)
    }
}
