//! Redis Cluster: the client, its nodes, and why it cannot be used.
//!
//! redis-rs's async cluster client keeps a connection to every node and routes each command
//! by its key's slot, following `MOVED` and `ASK` and refreshing the slot map when a master
//! fails over. This module builds that client with downwatch's deadlines (retries short
//! enough to fit in one request's deadline), reads the slot map for the few tasks that visit
//! every master (readiness, scans), and diagnoses a failure node by node, so `/readyz` and the
//! start-up line name the node that is down rather than "Redis timed out".

use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, Value};

use super::redis_conn::resp3;
use crate::reach::{self, Address};

/// A node to send a command to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Whichever node the key routes to (one server: the server).
    Any,
    /// The cluster node at this address, as the slot map names it.
    At {
        /// Host or IP address.
        host: String,
        /// Port.
        port: u16,
    },
}

/// A Redis Cluster known by its seed nodes.
#[derive(Clone)]
pub(super) struct Cluster {
    client: ClusterClient,
    seeds: Vec<ConnectionInfo>,
    timeout: Duration,
}

impl Cluster {
    /// A client for the cluster behind `seeds` (`redis://` or `rediss://` URLs).
    pub(super) fn new(seeds: &[String], timeout: Duration) -> anyhow::Result<Self> {
        let seeds = seeds
            .iter()
            .map(|s| s.as_str().into_connection_info().map(resp3))
            .collect::<Result<Vec<_>, _>>()?;
        let client = ClusterClientBuilder::new(seeds.clone())
            .use_protocol(ProtocolVersion::RESP3)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            // A command is retried (a failover's MOVED, a reconnect) within its deadline:
            // short waits, and `RedisConn::run` cuts off whatever is left.
            .retries(6)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()?;
        Ok(Self {
            client,
            seeds,
            timeout,
        })
    }

    /// The first seed's address, for messages.
    pub(super) fn seed_address(&self) -> Address {
        self.seeds
            .first()
            .map_or_else(|| Address::Socket("none".into()), address_of)
    }

    /// A connection that connects in the background (the cluster may be down at start).
    pub(super) fn lazy_connection(&self) -> ClusterConnection {
        let config = ClusterConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        self.client.get_pending_async_connection_with_config(config)
    }

    /// A connection of the caller's own whose replies may take `response_timeout`.
    pub(super) async fn dedicated_connection(
        &self,
        response_timeout: Duration,
    ) -> redis::RedisResult<ClusterConnection> {
        let config = ClusterConfig::new()
            .set_connection_timeout(self.timeout.max(Duration::from_secs(2)))
            .set_response_timeout(response_timeout);
        self.client.get_async_connection_with_config(config).await
    }

    /// `None` when every master in the slot map answers and the cluster says it is ok; else
    /// the first thing wrong, naming the node.
    pub(super) async fn diagnose(&self) -> Option<String> {
        let mut unreachable = Vec::new();
        for seed in &self.seeds {
            let (slots, info) = match self.ask(seed).await {
                Ok(answers) => answers,
                Err(cause) => {
                    unreachable.push(format!("{}: {cause}", address_of(seed)));
                    continue;
                }
            };
            for (host, port, spans) in masters_of(&slots) {
                let node = node_info(seed, &host, port);
                if let Err(cause) = probe(&node, self.timeout).await {
                    return Some(format!(
                        "Redis Cluster node {} (master of slots {spans}; REDIS_URL): {cause}",
                        address_of(&node)
                    ));
                }
            }
            let state = info
                .lines()
                .find_map(|l| l.strip_prefix("cluster_state:"))
                .unwrap_or("unknown")
                .trim()
                .to_owned();
            if state != "ok" {
                return Some(format!(
                    "Redis Cluster (REDIS_URL): node {} says cluster_state:{state} (slots without a master that answers)",
                    address_of(seed)
                ));
            }
            return None;
        }
        Some(format!(
            "Redis Cluster (REDIS_URL): no seed node answers: {}",
            unreachable.join("; ")
        ))
    }

    /// `CLUSTER SLOTS` and `CLUSTER INFO` from one node, or why it does not answer.
    async fn ask(&self, node: &ConnectionInfo) -> Result<(Value, String), String> {
        probe(node, self.timeout).await?;
        let attempt = async {
            let client = redis::Client::open(node.clone())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let slots: Value = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async(&mut conn)
                .await?;
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await?;
            Ok::<_, redis::RedisError>((slots, info))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(answers)) => Ok(answers),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "did not answer CLUSTER SLOTS within {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}

/// Why the server at `info` cannot be used (TCP first, then Redis's handshake and a PING on a
/// fresh connection), or `Ok` when it answers.
pub(super) async fn probe(info: &ConnectionInfo, timeout: Duration) -> Result<(), String> {
    if let Some(cause) = reach::diagnose(&address_of(info), timeout).await {
        return Err(cause.to_string());
    }
    let attempt = async {
        let client = redis::Client::open(info.clone())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "accepted the connection but did not answer within {} ms",
            timeout.as_millis()
        )),
    }
}

/// The address a connection goes to.
pub(super) fn address_of(info: &ConnectionInfo) -> Address {
    match info.addr() {
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
    }
}

/// `seed`'s settings (credentials, TLS) for the node at `host:port`.
fn node_info(seed: &ConnectionInfo, host: &str, port: u16) -> ConnectionInfo {
    let addr = match seed.addr().clone() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure,
            tls_params,
        },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    };
    seed.clone().set_addr(addr)
}

/// The masters in a `CLUSTER SLOTS` reply, each once, with the slot ranges it serves
/// (`0-5460`, or `0-10,20-30`), in the order of their first range.
pub(super) fn masters_of(slots: &Value) -> Vec<(String, u16, String)> {
    let mut masters: Vec<(String, u16, String)> = Vec::new();
    let Value::Array(ranges) = slots else {
        return masters;
    };
    for range in ranges {
        let Value::Array(fields) = range else {
            continue;
        };
        let int = |v: Option<&Value>| v.and_then(|v| redis::from_redis_value_ref::<i64>(v).ok());
        let (Some(start), Some(end), Some(Value::Array(master))) =
            (int(fields.first()), int(fields.get(1)), fields.get(2))
        else {
            continue;
        };
        let host = master
            .first()
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok());
        let port = int(master.get(1)).and_then(|p| u16::try_from(p).ok());
        let (Some(host), Some(port)) = (host, port) else {
            continue;
        };
        let span = if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        };
        match masters
            .iter_mut()
            .find(|(h, p, _)| *h == host && *p == port)
        {
            Some((_, _, spans)) => {
                spans.push(',');
                spans.push_str(&span);
            }
            None => masters.push((host, port, span)),
        }
    }
    masters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn masters_come_from_the_slot_map_once_each_with_their_ranges() {
        let range = |start, end, master: Value, replica: Value| {
            Value::Array(vec![Value::Int(start), Value::Int(end), master, replica])
        };
        let slots = Value::Array(vec![
            range(0, 5460, node("127.0.0.1", 7000), node("127.0.0.1", 7003)),
            range(
                5461,
                10922,
                node("127.0.0.1", 7001),
                node("127.0.0.1", 7004),
            ),
            range(
                10923,
                16383,
                node("127.0.0.1", 7000),
                node("127.0.0.1", 7005),
            ),
        ]);
        assert_eq!(
            masters_of(&slots),
            vec![
                (
                    "127.0.0.1".to_owned(),
                    7000,
                    "0-5460,10923-16383".to_owned()
                ),
                ("127.0.0.1".to_owned(), 7001, "5461-10922".to_owned()),
            ]
        );
        assert!(masters_of(&Value::Nil).is_empty());
    }
}
