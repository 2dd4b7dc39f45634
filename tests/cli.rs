//! The `downwatch` binary: exit codes, configuration errors, migrate and import.

use std::process::Command;

mod common;

use common::certs::TestCerts;

fn downwatch() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_downwatch"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn server_url() -> String {
    std::env::var("DOWNWATCH_TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Drops the database when the test ends, however it ends.
struct TempDatabase(String);

impl TempDatabase {
    fn new() -> Self {
        Self(format!("dw_cli_{}", uuid::Uuid::new_v4().simple()))
    }

    fn url(&self) -> String {
        format!("{}/{}", server_url(), self.0)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        use diesel::RunQueryDsl;
        let url = format!("{}/postgres", server_url());
        if let Ok(mut conn) =
            <downwatch::db::bootstrap::SyncPgConnection as diesel::Connection>::establish(&url)
        {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.0
            ))
            .execute(&mut conn);
        }
    }
}

#[test]
fn a_bad_config_value_exits_2_naming_the_variable() {
    for (variable, value) in [
        ("DOWNWATCH_RATE_PER_MINUTE", "many"),
        ("DOWNWATCH_BIND", "localhost"),
        ("DOWNWATCH_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("REDIS_URL", "http://example.com"),
    ] {
        let out = downwatch()
            .arg("serve")
            .env(variable, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{variable}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(variable) && stderr.contains("expected"),
            "{stderr}"
        );
    }
}

#[test]
fn migrate_creates_the_database_and_import_is_idempotent() {
    let db = TempDatabase::new();
    let migrate = downwatch()
        .arg("migrate")
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/services.toml");
    let run_import = || {
        let out = downwatch()
            .args(["services", "import", catalog])
            .env("DATABASE_URL", db.url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run_import();
    assert!(
        first.contains("35 inserted, 0 updated, 0 unchanged"),
        "{first}"
    );
    let second = run_import();
    assert!(
        second.contains("0 inserted, 0 updated, 35 unchanged"),
        "{second}"
    );
}

#[test]
fn importing_an_invalid_file_names_each_problem_and_fails() {
    let path = std::env::temp_dir().join(format!("dw-bad-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &path,
        "[[service]]\nslug = \"Bad Slug\"\nname = \"x\"\ncategory = \"ai\"\n",
    )
    .unwrap();
    let out = downwatch()
        .args(["services", "import"])
        .arg(&path)
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("service[0].slug"), "{stderr}");
}

fn redis_url() -> String {
    std::env::var("DOWNWATCH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether a database of that name exists on the test server.
fn database_exists(name: &str) -> bool {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let url = format!("{}/postgres", server_url());
    let mut conn =
        <downwatch::db::bootstrap::SyncPgConnection as diesel::Connection>::establish(&url)
            .expect("PostgreSQL answers");
    let found: Found = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"
    ))
    .get_result(&mut conn)
    .unwrap();
    found.n > 0
}

#[test]
fn the_demo_detects_the_seed_outage_and_removes_its_data() {
    // Ten scenario hours in about thirty seconds.
    let output = downwatch()
        .args(["demo", "--speed", "1200", "--port", "0"])
        .env("REDIS_URL", redis_url())
        .env("DATABASE_URL", format!("{}/downwatch", server_url()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ChatGPT: incident opened"), "{stdout}");
    assert!(stdout.contains("detected: the ChatGPT outage"), "{stdout}");
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    let own = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("own data:"))
        .expect("the demo names its database and prefix");
    let database = own.split_whitespace().nth(1).unwrap().trim_end_matches(',');
    let prefix = own.split_whitespace().last().unwrap();
    assert!(database.starts_with("downwatch_demo_"), "{own}");
    assert!(!database_exists(database), "{database} is left behind");
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut conn)
        .unwrap();
    assert!(keys.is_empty(), "{} keys left under {prefix}", keys.len());
}

/// A local port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn postgres_on_a_closed_port_names_the_address_and_the_cause() {
    let port = closed_port();
    for command in [&["migrate"][..], &["serve"][..]] {
        let out = downwatch()
            .args(command)
            .env(
                "DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:{port}/downwatch"),
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{command:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("PostgreSQL at 127.0.0.1:{port} (DATABASE_URL)"))
                && stderr.contains("connection refused"),
            "{command:?}: {stderr}"
        );
    }
    let out = downwatch()
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgres://postgres@no-such-host.invalid:5432/downwatch",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PostgreSQL at no-such-host.invalid:5432")
            && stderr.contains("does not resolve"),
        "{stderr}"
    );
}

#[test]
fn postgres_refusing_a_login_says_so_with_the_address() {
    let out = downwatch()
        .arg("migrate")
        .env("DATABASE_URL", {
            let server = server_url();
            let host = server.rsplit('@').next().unwrap().to_owned();
            format!("postgres://no_such_role_dw@{host}/downwatch")
        })
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PostgreSQL at ") && stderr.contains("role \"no_such_role_dw\""),
        "{stderr}"
    );
}

#[test]
fn postgres_with_an_untrusted_certificate_names_tls_and_a_bad_sslmode_is_a_config_error() {
    // The test server runs with `ssl = on`; this CA signed nothing it shows.
    let certs = TestCerts::generate();
    let server = server_url();
    let address = server.rsplit('@').next().unwrap().to_owned();
    for command in [&["migrate"][..], &["serve"][..]] {
        let out = downwatch()
            .args(command)
            .env(
                "DATABASE_URL",
                format!(
                    "postgres://postgres@{address}/downwatch?sslmode=verify-full&sslrootcert={}",
                    certs.path("ca.crt")
                ),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot connect to PostgreSQL at {address} (DATABASE_URL): TLS: the server's \
                 certificate is not signed by a trusted CA"
            )),
            "{command:?}: {stderr}"
        );
    }
    let out = downwatch()
        .arg("migrate")
        .env("DATABASE_URL", format!("{server}/downwatch?sslmode=on"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL: expected sslmode disable, prefer, require, verify-ca, verify-full, got \"sslmode=on\""),
        "{stderr}"
    );
}

#[test]
fn serve_with_redis_down_says_once_where_and_why_and_keeps_serving() {
    use std::io::BufRead;
    let db = TempDatabase::new();
    let port = closed_port();
    let mut child = downwatch()
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("REDIS_URL", format!("redis://127.0.0.1:{port}"))
        .env("DOWNWATCH_BIND", "127.0.0.1:0")
        .env("DOWNWATCH_REDIS_TIMEOUT_MS", "300")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("downwatch listening"))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = seen.join("\n");
    let unreachable: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("Redis is unreachable"))
        .collect();
    assert_eq!(unreachable.len(), 1, "{log}");
    assert!(
        unreachable[0].contains(&format!("Redis at 127.0.0.1:{port} (REDIS_URL)"))
            && unreachable[0].contains("connection refused"),
        "{log}"
    );
    assert!(log.contains("downwatch listening"), "{log}");
}

/// Runs `downwatch` with `args` and `vars`, its stdout read line by line on a thread of its own.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str], vars: &[(&str, String)]) -> Self {
        use std::io::BufRead;
        let mut cmd = downwatch();
        cmd.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one contains `text` (true) or `within` passes (false).
    fn wait_for(&mut self, text: &str, within: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            if self.seen.iter().any(|l| l.contains(text)) {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return false,
            }
        }
    }

    /// Waits up to `within` for the process to exit; kills it if it does not.
    fn wait_exit(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(1)) {
                    self.seen.push(line);
                }
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    fn log(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// GET `path` on `127.0.0.1:port` over plain HTTP/1.1; the status line.
fn http_status(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn bind_takes_a_host_name_and_several_addresses() {
    let db = TempDatabase::new();
    let (first, second) = (closed_port(), closed_port());
    let mut serve = Running::start(
        &["serve"],
        &[
            ("DATABASE_URL", db.url()),
            ("REDIS_URL", redis_url()),
            (
                "DOWNWATCH_BIND",
                format!("localhost:{first}, 127.0.0.1:{second}"),
            ),
        ],
    );
    assert!(
        serve.wait_for("downwatch listening", std::time::Duration::from_secs(60)),
        "{}",
        serve.log()
    );
    for port in [first, second] {
        assert_eq!(
            http_status(port, "/healthz"),
            "HTTP/1.1 200 OK",
            "port {port}"
        );
    }
    let listening = serve
        .seen
        .iter()
        .find(|l| l.contains("downwatch listening"))
        .unwrap();
    assert!(
        listening.contains(&format!("http://127.0.0.1:{first}"))
            && listening.contains(&format!("http://127.0.0.1:{second}")),
        "{listening}"
    );
    // Request lines: plain text into a pipe (no colour codes), durations to the microsecond.
    assert!(
        serve.wait_for("http.route=/healthz", std::time::Duration::from_secs(30)),
        "{}",
        serve.log()
    );
    let log = serve.log();
    assert!(!log.contains('\u{1b}'), "colour codes in a pipe: {log:?}");
    let durations: Vec<&str> = log
        .split("duration_ms=")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap_or_default())
        .collect();
    assert!(!durations.is_empty(), "{log}");
    for duration in durations {
        let decimals = duration.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(
            duration.parse::<f64>().is_ok() && decimals <= 3,
            "duration_ms={duration}"
        );
    }
}

#[test]
fn an_unknown_rust_log_falls_back_to_info_with_a_warning() {
    let db = TempDatabase::new();
    let out = downwatch()
        .arg("migrate")
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "verbose")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RUST_LOG=\"verbose\"") && stdout.contains("using the default \"info\""),
        "{stdout}"
    );
    // Not silenced: the info lines still come.
    assert!(stdout.contains("applied migrations"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
}

#[test]
fn the_demo_checks_its_port_before_writing_anything_and_names_port() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = downwatch()
        .args(["demo", "--keep", "--port", &port.to_string()])
        .env("REDIS_URL", redis_url())
        .env("DATABASE_URL", format!("{}/downwatch", server_url()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port} (--port)"))
            && !stderr.contains("DOWNWATCH_BIND"),
        "{stderr}"
    );
    // With --keep, a demo that had written its history would say where it kept it.
    assert!(
        !stdout.contains("kept:") && !stdout.contains("own data"),
        "{stdout}"
    );
}

#[test]
fn demo_keep_stops_on_sigterm() {
    let mut demo = Running::start(
        &["demo", "--keep", "--speed", "1200", "--port", "0"],
        &[
            ("REDIS_URL", redis_url()),
            ("DATABASE_URL", format!("{}/downwatch", server_url())),
        ],
    );
    let serving = demo.wait_for(
        "until Ctrl-C or SIGTERM",
        std::time::Duration::from_secs(300),
    );
    let pid = i32::try_from(demo.child.id()).unwrap();
    // SAFETY: `kill` has no memory effects; `pid` is our own child, not yet reaped.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = demo.wait_exit(std::time::Duration::from_secs(60));
    let log = demo.log();
    // Remove what the demo kept.
    if let Some(own) = log.lines().find_map(|l| l.trim().strip_prefix("own data:")) {
        let database = own.split_whitespace().nth(1).unwrap().trim_end_matches(',');
        let prefix = own.split_whitespace().last().unwrap();
        drop(TempDatabase(database.to_owned()));
        let mut conn = redis::Client::open(redis_url())
            .unwrap()
            .get_connection()
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut conn)
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query(&mut conn).unwrap();
        }
    }
    assert!(serving, "{log}");
    assert_eq!(sent, 0);
    assert!(
        status.is_some(),
        "still running a minute after SIGTERM: {log}"
    );
    assert!(log.contains("kept: database"), "{log}");
}

/// A Redis server of the test's own that speaks only TLS, on a free port (killed on drop).
struct TlsRedis {
    child: std::process::Child,
    port: u16,
}

impl TlsRedis {
    fn start(certs: &TestCerts) -> Self {
        let port = closed_port();
        let server = std::env::var("DOWNWATCH_TEST_REDIS_SERVER")
            .unwrap_or_else(|_| "/usr/bin/redis-server".into());
        let child = Command::new(server)
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--tls-cert-file", &certs.path("server.crt")])
            .args(["--tls-key-file", &certs.path("server.key")])
            .args(["--tls-ca-cert-file", &certs.path("ca.crt")])
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "Redis with TLS did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a raw HTTP/1.1 request to `127.0.0.1:port`; the whole answer.
fn http(port: u16, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn rediss_counts_reports_over_tls_and_names_an_untrusted_certificate() {
    let certs = TestCerts::generate();
    let redis = TlsRedis::start(&certs);
    let db = TempDatabase::new();
    let url = format!("rediss://localhost:{}", redis.port);

    // Trusting the test's CA (SSL_CERT_FILE): ready, and a report is counted.
    let port = closed_port();
    let mut serve = Running::start(
        &["serve"],
        &[
            ("DATABASE_URL", db.url()),
            ("REDIS_URL", url.clone()),
            ("SSL_CERT_FILE", certs.path("ca.crt")),
            ("DOWNWATCH_BIND", format!("127.0.0.1:{port}")),
            ("DOWNWATCH_REDIS_PREFIX", "dwtls".to_owned()),
        ],
    );
    assert!(
        serve.wait_for("downwatch listening", std::time::Duration::from_secs(60)),
        "{}",
        serve.log()
    );
    assert!(
        !serve.log().contains("Redis is unreachable"),
        "{}",
        serve.log()
    );
    assert_eq!(http_status(port, "/readyz"), "HTTP/1.1 200 OK");
    let body = r#"{"service": "chatgpt", "problem": "login", "reporter": "tls-reporter-1"}"#;
    let answer = http(
        port,
        &format!(
            "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(answer.contains("\"counted\":true"), "{answer}");
    drop(serve);

    // With the system's roots only (no SSL_CERT_FILE): the start-up line names the address and
    // the certificate problem.
    let mut untrusting = Running::start(
        &["serve"],
        &[
            ("DATABASE_URL", db.url()),
            ("REDIS_URL", url),
            ("DOWNWATCH_BIND", "127.0.0.1:0".to_owned()),
            ("DOWNWATCH_REDIS_TIMEOUT_MS", "2000".to_owned()),
        ],
    );
    assert!(
        untrusting.wait_for("downwatch listening", std::time::Duration::from_secs(60)),
        "{}",
        untrusting.log()
    );
    let log = untrusting.log();
    let line = log
        .lines()
        .find(|l| l.contains("Redis is unreachable"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(&format!("Redis at localhost:{} (REDIS_URL)", redis.port))
            && line.to_lowercase().contains("certificate"),
        "{line}"
    );
}
