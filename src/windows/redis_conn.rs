//! A Redis connection that never blocks a request for longer than the configured timeout.
//!
//! The connection manager is created lazily, so an instance starts (and answers `/readyz` with
//! 503 naming Redis) even when Redis is down, and reconnects by itself when it returns.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{ApiError, Dependency};

/// A cheaply cloneable, auto-reconnecting Redis handle with a per-call deadline.
#[derive(Clone)]
pub struct RedisConn {
    manager: ConnectionManager,
    timeout: Duration,
}

impl RedisConn {
    /// Prepares a connection to `url`; nothing is sent until the first command.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { manager, timeout })
    }

    /// Runs `f` on a connection, failing with 503 (Redis) on any error or after the deadline.
    pub async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, f(self.manager.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                metrics::counter!("downwatch_dependency_errors_total", "dependency" => "redis")
                    .increment(1);
                tracing::warn!(redis.op = op, error = %e, "redis command failed");
                Err(ApiError::Unavailable(Dependency::Redis))
            }
            Err(_) => {
                metrics::counter!("downwatch_dependency_errors_total", "dependency" => "redis")
                    .increment(1);
                tracing::warn!(
                    redis.op = op,
                    timeout_ms = self.timeout.as_millis() as u64,
                    "redis timed out"
                );
                Err(ApiError::Unavailable(Dependency::Redis))
            }
        }
    }

    /// Round trip to Redis; for readiness checks.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.run("PING", |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        .map(drop)
    }
}
