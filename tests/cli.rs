//! The `downwatch` binary: exit codes, configuration errors, migrate and import.

use std::process::Command;

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
