//! The real `downwatch serve` as a child process, on the system clock, that the test can kill
//! (SIGKILL) or stop (SIGTERM), with its log kept in a file for failure messages.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{eventually, free_port};

/// A running `downwatch serve`.
pub struct Downwatch {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Downwatch {
    /// Starts `downwatch serve` with only `vars` (and `PATH`) in its environment, on a free
    /// port, one worker, logging warnings and above to a file.
    pub fn start(vars: &[(&str, String)]) -> Self {
        Self::start_with(vars, None)
    }

    /// As [`Self::start`], with its open-file limit (soft and hard) set to `limit`, as
    /// `ulimit -n` would.
    pub fn start_with_file_limit(vars: &[(&str, String)], limit: u64) -> Self {
        Self::start_with(vars, Some(limit))
    }

    fn start_with(vars: &[(&str, String)], file_limit: Option<u64>) -> Self {
        use std::os::unix::process::CommandExt as _;
        let port = free_port();
        let log =
            std::env::temp_dir().join(format!("dw-serve-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_downwatch"));
        if let Some(limit) = file_limit {
            let limit = libc::rlim_t::try_from(limit).expect("a limit that fits");
            // SAFETY: setrlimit(2) between fork and exec touches no memory of the parent's
            // and allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    let both = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const both) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DOWNWATCH_BIND", format!("127.0.0.1:{port}"))
            .env("DOWNWATCH_WORKERS", "1")
            .env("RUST_LOG", "warn")
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("downwatch runs");
        Self {
            child: Some(child),
            port,
            log,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Its whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until `/healthz` answers.
    pub async fn until_ready(&self, client: &awc::Client) {
        let url = self.url("/healthz");
        eventually(
            Duration::from_secs(30),
            &format!("downwatch ready; log:\n{}", self.log_tail()),
            || async {
                let reply = client.get(&url).send().await.ok()?;
                reply.status().is_success().then_some(())
            },
        )
        .await;
    }

    /// Kills it at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks it to stop (SIGTERM), as an orchestrator does.
    pub fn terminate(&self) {
        let child = self.child.as_ref().expect("running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }

    /// Waits up to `limit` for it to exit; its status and how long it took.
    pub async fn exited(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "still running after {limit:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The value of an unlabelled metric, if `/metrics` answers and has it.
    pub async fn metric(&self, client: &awc::Client, name: &str) -> Option<f64> {
        let mut reply = client.get(self.url("/metrics")).send().await.ok()?;
        let body = reply.body().await.ok()?;
        String::from_utf8_lossy(&body).lines().find_map(|line| {
            let (series, value) = line.split_once(' ')?;
            (series == name).then(|| value.trim().parse().ok())?
        })
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Downwatch {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
