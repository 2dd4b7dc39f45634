//! A real Redis Cluster of the test's own: `redis-server --cluster-enabled yes` on free
//! loopback ports, joined by `redis-cli --cluster create`, torn down (processes killed, files
//! removed) when the value goes, however the test ends.
//!
//! Nodes time out after one second (`cluster-node-timeout`), so a killed master is marked
//! failed, and its replica promoted, within a couple of seconds instead of fifteen; and, as
//! `docker-compose.cluster.yml` runs them, a master that dies without a replica takes only its
//! own slots down (`cluster-require-full-coverage no`).
//!
//! [`OwnCluster::start_tls`] starts one that speaks only TLS, between its nodes too.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::TestCerts;

/// `redis-server`; `DOWNWATCH_TEST_REDIS_SERVER` points elsewhere.
fn server_binary() -> String {
    std::env::var("DOWNWATCH_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// `redis-cli`; `DOWNWATCH_TEST_REDIS_CLI` points elsewhere.
fn cli_binary() -> String {
    std::env::var("DOWNWATCH_TEST_REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}

/// A port nobody listens on right now, low enough that its cluster bus (the port + 10000) is a
/// port too.
fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if port < 55_000 {
            return port;
        }
    }
}

/// One `redis-server` of the cluster.
struct Node {
    port: u16,
    child: Option<Child>,
}

/// A running Redis Cluster on loopback ports.
pub struct OwnCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    /// With TLS: the CA, server certificate and key files.
    tls: Option<Tls>,
}

/// The files of a cluster that speaks TLS.
struct Tls {
    ca: String,
    cert: String,
    key: String,
}

impl OwnCluster {
    /// Starts `masters` masters with `replicas` replicas each and waits until every node
    /// says `cluster_state:ok` and knows every other.
    pub async fn start(masters: usize, replicas: usize) -> Self {
        Self::start_with(masters, replicas, None).await
    }

    /// [`Self::start`], every node speaking only TLS (clients, the cluster bus, replication)
    /// with `certs`' server certificate; clients are not asked for one.
    pub async fn start_tls(masters: usize, replicas: usize, certs: &TestCerts) -> Self {
        let tls = Tls {
            ca: certs.path("ca.crt"),
            cert: certs.path("server.crt"),
            key: certs.path("server.key"),
        };
        Self::start_with(masters, replicas, Some(tls)).await
    }

    async fn start_with(masters: usize, replicas: usize, tls: Option<Tls>) -> Self {
        let dir =
            std::env::temp_dir().join(format!("dw-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir for the cluster");
        let mut cluster = Self {
            dir,
            nodes: Vec::new(),
            tls,
        };
        for _ in 0..masters * (1 + replicas) {
            let mut started = false;
            for _ in 0..5 {
                let port = free_port();
                if cluster.spawn(port).await {
                    started = true;
                    break;
                }
            }
            assert!(started, "could not start a cluster node on a free port");
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        // `--cluster create` waits for the nodes to join for as long as it takes (forever,
        // if they cannot reach each other): bounded here.
        let mut create = Command::new(cli_binary())
            .args(cluster.cli_tls())
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("redis-cli runs");
        let deadline = Instant::now() + Duration::from_secs(60);
        while create.try_wait().expect("redis-cli").is_none() {
            if Instant::now() > deadline {
                let _ = create.kill();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let created = create.wait_with_output().expect("redis-cli's output");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.until_ok(Duration::from_secs(30)).await;
        cluster.until_replicas_synced(Duration::from_secs(30)).await;
        cluster
    }

    /// `redis+cluster://127.0.0.1:<port>,...` (`rediss+cluster://` with TLS): every node as a
    /// seed.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let scheme = if self.tls.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        format!("{scheme}://{}", nodes.join(","))
    }

    /// The ports of the nodes that run now.
    pub fn running_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// The port of the master that serves `key`'s slot now, as a running node sees it.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.running_ports()[0];
        let slot: u16 = self
            .cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot");
        // CLUSTER NODES: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <state> <slots>...`
        let nodes = self.cli(port, &["CLUSTER", "NODES"]);
        nodes
            .lines()
            .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("master")))
            .filter(|l| !l.split(' ').nth(2).is_some_and(|f| f.contains("fail")))
            .find(|l| {
                l.split(' ').skip(8).any(|range| {
                    let (from, to) = range.split_once('-').unwrap_or((range, range));
                    match (from.parse::<u16>(), to.parse::<u16>()) {
                        (Ok(from), Ok(to)) => (from..=to).contains(&slot),
                        _ => false,
                    }
                })
            })
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|a| a.split('@').next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no master serves slot {slot}:\n{nodes}"))
    }

    /// Kills the node on `port` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until every running node says `cluster_state:ok` and knows as many nodes as the
    /// cluster has.
    pub async fn until_ok(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let ok = self.running_ports().into_iter().all(|port| {
                let info = self.cli(port, &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster was not ok within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every running replica has its first copy of its master's data
    /// (`master_link_status:up`): until then a replica cannot take over (it has no data to
    /// serve, and says "Disconnected from master for longer than allowed").
    async fn until_replicas_synced(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let synced = self.running_ports().into_iter().all(|port| {
                let info = self.cli(port, &["INFO", "replication"]);
                info.contains("role:master") || info.contains("master_link_status:up")
            });
            if synced {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replicas did not sync within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `redis-cli -p <port> <args>`'s output.
    fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new(cli_binary())
            .args(self.cli_tls())
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `redis-cli`'s arguments for this cluster's TLS, if any.
    fn cli_tls(&self) -> Vec<String> {
        match &self.tls {
            Some(tls) => vec!["--tls".into(), "--cacert".into(), tls.ca.clone()],
            None => Vec::new(),
        }
    }

    /// `redis-server`'s arguments to listen on `port`, with TLS or without.
    fn listen(&self, port: u16) -> Vec<String> {
        let port = port.to_string();
        match &self.tls {
            None => vec!["--port".into(), port],
            Some(tls) => [
                ["--port", "0", "--tls-port", &port].as_slice(),
                &["--tls-cert-file", &tls.cert, "--tls-key-file", &tls.key],
                &["--tls-ca-cert-file", &tls.ca, "--tls-auth-clients", "no"],
                &["--tls-cluster", "yes", "--tls-replication", "yes"],
            ]
            .concat()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        }
    }

    /// Starts a node on `port`; true once it answers PING, false if it exited (port taken).
    async fn spawn(&mut self, port: u16) -> bool {
        let config = self.dir.join(format!("nodes-{port}.conf"));
        let mut child = Command::new(server_binary())
            .args(self.listen(port))
            .args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            // Slots of a dead master without a replica fail; the others keep serving.
            .args(["--cluster-require-full-coverage", "no"])
            .arg("--cluster-config-file")
            .arg(&config)
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            // A replica's first sync starts at once, not after the default 5 s wait for others.
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.cli(port, &["PING"]).trim() == "PONG" {
                self.nodes.push(Node {
                    port,
                    child: Some(child),
                });
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
