//! A Redis of the test's own: a `redis-server` child on a free port that the test can kill,
//! freeze (SIGSTOP) and restart, with or without persistence.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The binary; `DOWNWATCH_TEST_REDIS_SERVER` points elsewhere.
fn binary() -> String {
    std::env::var("DOWNWATCH_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// How a restart finds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Append-only file fsynced before every reply: whatever Redis acknowledged survives a
    /// SIGKILL.
    Durable,
    /// Nothing on disk: a restart comes back empty.
    None,
}

/// A running (or stopped, or frozen) `redis-server`.
pub struct OwnRedis {
    port: u16,
    dir: PathBuf,
    persistence: Persistence,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts a Redis on a free port and waits until it answers.
    pub async fn start(persistence: Persistence) -> Self {
        let dir = std::env::temp_dir().join(format!("dw-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir for redis");
        for _ in 0..5 {
            let port = super::free_port();
            let mut redis = Self {
                port,
                dir: dir.clone(),
                persistence,
                child: None,
            };
            if redis.spawn().await {
                return redis;
            }
        }
        panic!("could not start {} on a free port", binary());
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash or an OOM kill would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        assert!(
            self.spawn().await,
            "redis did not come back on port {}",
            self.port
        );
    }

    /// Stops the process without closing its sockets (SIGSTOP): connections stay open and
    /// commands go unanswered, as with a hung server or a network that drops packets.
    pub fn freeze(&self) {
        signal(self.child.as_ref().expect("running"), libc::SIGSTOP);
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        signal(self.child.as_ref().expect("running"), libc::SIGCONT);
    }

    /// How many clients are connected, not counting the one asking.
    pub async fn clients(&self) -> usize {
        let ask = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            stream.write_all(b"INFO clients\r\n").await?;
            let mut reply = Vec::new();
            let mut chunk = [0u8; 4096];
            while !reply.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&chunk[..n]);
            }
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
        };
        let info = tokio::time::timeout(Duration::from_secs(2), ask)
            .await
            .expect("INFO in time")
            .expect("INFO answered");
        info.lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .expect("connected_clients in INFO")
            - 1
    }

    /// Starts the child; true once it answers PING, false if it exited (port taken).
    async fn spawn(&mut self) -> bool {
        let port = self.port.to_string();
        let mut command = Command::new(binary());
        command
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match self.persistence {
            Persistence::Durable => {
                command.args(["--appendonly", "yes", "--appendfsync", "always"])
            }
            Persistence::None => command.args(["--appendonly", "no"]),
        };
        let child = command.spawn().expect("redis-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(self.port).await {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
        false
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// True if a Redis on `port` answers PING within 200 ms.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(&reply == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(200), attempt).await,
        Ok(Ok(true))
    )
}
