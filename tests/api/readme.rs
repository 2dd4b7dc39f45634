//! The README's examples run as written: every shell block marked `<!-- runnable -->` runs in
//! bash against a test server (its address in place of `localhost:8080`, the built binary in
//! place of `cargo run --release --`), and every request in it must succeed.
//!
//! The server's clock starts at the current minute, so examples with dates relative to now
//! (`date -u -d '-3 min'`) mean what they say, and it holds one open ChatGPT incident, as the
//! demo's server would, for the examples that pick an incident's id.

use std::path::Path;

use chrono::{DurationRound, TimeDelta, Utc};

use crate::helpers::TestApp;

/// The admin token the README's admin example exports.
const README_ADMIN_TOKEN: &str = "change-me-0123456789";

/// A block of the README: the line it starts on and its text.
struct Block {
    line: usize,
    script: String,
}

/// The `sh` blocks that follow a `<!-- runnable -->` line.
fn runnable_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "<!-- runnable -->" {
            continue;
        }
        assert_eq!(
            lines.get(i + 1).map(|l| l.trim()),
            Some("```sh"),
            "README line {}: a runnable marker must be followed by a ```sh block",
            i + 1
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .copied()
            .collect();
        blocks.push(Block {
            line: i + 3,
            script: body.join("\n"),
        });
    }
    blocks
}

/// Runs `script` in bash in `dir`; returns (exit success, stdout, stderr).
async fn run_bash(script: String, dir: &Path) -> (bool, String, String) {
    let dir = dir.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()
    })
    .await
    .expect("the runner thread ends")
    .expect("bash runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Each request's status, written by the `curl` wrapper to stderr.
fn statuses(stderr: &str) -> Vec<(u16, String)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("readme-test status "))
        .map(|rest| {
            let (code, request) = rest.split_once(' ').unwrap_or((rest, ""));
            (code.parse().unwrap_or(0), request.to_owned())
        })
        .collect()
}

#[actix_web::test]
async fn every_runnable_readme_example_succeeds_against_a_server() {
    for tool in ["curl", "jq"] {
        let found = std::process::Command::new(tool).arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "the README examples need {tool} (apt-get install {tool})"
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(
        blocks.len() >= 10,
        "expected the README's API examples to be marked runnable, found {} blocks",
        blocks.len()
    );

    let now = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    let app = TestApp::builder()
        .var("DOWNWATCH_ADMIN_TOKEN", README_ADMIN_TOKEN)
        .start_at(now)
        .spawn()
        .await;
    crate::incidents::store(&app, "chatgpt", now - TimeDelta::minutes(40), None, 2014).await;
    let host = app.address.trim_start_matches("http://").to_owned();

    let dir = std::env::temp_dir().join(format!("dw-readme-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(root.join("examples"), dir.join("examples")).unwrap();

    let prelude = "set -euo pipefail\n\
        curl() { command curl --silent --show-error \
        --write-out '%{stderr}readme-test status %{http_code} %{method} %{url_effective}\\n' \"$@\"; }\n";
    let mut failures = Vec::new();
    let mut requests = 0;
    for block in &blocks {
        let script = block
            .script
            .replace("localhost:8080", &host)
            .replace("cargo run --release --", env!("CARGO_BIN_EXE_downwatch"));
        let (ok, stdout, stderr) = run_bash(format!("{prelude}{script}\n"), &dir).await;
        let seen = statuses(&stderr);
        requests += seen.len();
        let bad: Vec<&(u16, String)> = seen
            .iter()
            .filter(|(code, _)| !(200..300).contains(code))
            .collect();
        let expects_requests = block.script.contains("curl ");
        if !ok || !bad.is_empty() || (expects_requests && seen.is_empty()) {
            failures.push(format!(
                "README line {}: exit ok {ok}, failed requests {bad:?}\n--- script\n{}\n--- stdout\n{}\n--- stderr\n{}",
                block.line,
                block.script,
                stdout.chars().take(2000).collect::<String>(),
                stderr.chars().take(4000).collect::<String>()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(requests >= 20, "only {requests} requests ran");
}
