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
