//! Headless Chromium over WebDriver: `chromedriver` started on a free port in its own process
//! group, and killed with its browser when the [`Browser`] is dropped, a panicking test too.
//!
//! `DOWNWATCH_CHROMEDRIVER` and `DOWNWATCH_CHROMIUM` override `/usr/bin/chromedriver` and
//! `/usr/bin/chromium` (Debian's `chromium-driver` and `chromium`; `.ci/run` installs them).
//! The browser's console is collected through Chrome's `goog:loggingPrefs` log.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// How long the page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The zone the browser runs in, so pages must show times in it (not in UTC).
pub const BROWSER_ZONE: &str = "America/New_York";

/// A running `chromedriver`; dropping it kills its whole process group (driver and browser).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = self.0.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative id signals the process group this test created.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// A browser session.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: Driver,
}

fn path_from(var: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()));
    assert!(
        path.exists(),
        "{} not found: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver), or set {var}",
        path.display()
    );
    path
}

impl Browser {
    /// Starts chromedriver and opens a headless session with its console log on.
    pub async fn start() -> Self {
        let chromedriver = path_from("DOWNWATCH_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = path_from("DOWNWATCH_CHROMIUM", "/usr/bin/chromium");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .env("TZ", BROWSER_ZONE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let driver = Driver(child);
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--lang=en-US", "--hide-scrollbars",
                    "--no-first-run", "--disable-extensions",
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Self {
            client,
            _driver: driver,
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `expression` is truthy in the page, polling; panics after [`PATIENCE`].
    pub async fn wait_for(&self, expression: &str, what: &str) {
        let script = format!("return !!({expression});");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.run(&script).await == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `selector`.
    pub async fn text(&self, selector: &str) -> String {
        let script = format!(
            "var el = document.querySelector({}); return el ? el.textContent.trim() : null;",
            json!(selector)
        );
        match self.run(&script).await {
            Value::String(text) => text,
            other => panic!("no element {selector}: {other}"),
        }
    }

    /// Clicks the first element matching `selector`.
    pub async fn click(&self, selector: &str) {
        self.client
            .find(fantoccini::Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {selector}: {e}"));
    }

    /// Console entries since the last call: `(level, message)`.
    pub async fn console(&self) -> Vec<(String, String)> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("the browser log");
        entries
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Panics on any console error since the last look (uncaught exceptions, `console.error`,
    /// CSP violations, failed loads all log at SEVERE).
    pub async fn assert_no_console_errors(&self, when: &str) {
        let errors: Vec<String> = self
            .console()
            .await
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .map(|(_, message)| message)
            .collect();
        assert!(errors.is_empty(), "console errors {when}: {errors:#?}");
    }

    /// Saves a screenshot of the whole page, `width` wide, as PNG.
    pub async fn screenshot(&self, width: u32, path: &std::path::Path) {
        let height = self
            .run("return Math.ceil(document.documentElement.scrollHeight);")
            .await
            .as_u64()
            .unwrap_or(900) as u32;
        self.client
            .set_window_size(width, height.clamp(600, 4000))
            .await
            .expect("resize");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize back");
    }
}

/// Chrome's log endpoint (`goog:loggingPrefs`), which WebDriver itself does not have.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}
