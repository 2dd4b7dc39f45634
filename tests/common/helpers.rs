//! The test app builder and request helpers.

use std::sync::Arc;

use actix_web::web;
use awc::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use diesel::RunQueryDsl;
use downwatch::app::{Application, StartOptions};
use downwatch::clock::ManualClock;
use downwatch::config::Settings;
use downwatch::http::AppState;
use serde_json::Value;

/// The admin token test apps use unless told otherwise.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// 02:36 EDT on 10 June 2025, when the seed outage began.
pub fn seed_onset() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap()
}

/// The PostgreSQL server the tests use, without a database (`DOWNWATCH_TEST_DATABASE_SERVER`).
pub fn server_url() -> String {
    std::env::var("DOWNWATCH_TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The Redis the tests use (`DOWNWATCH_TEST_REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("DOWNWATCH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Builds a [`TestApp`] with some settings changed.
pub struct TestAppBuilder {
    vars: Vec<(String, String)>,
    start: Option<DateTime<Utc>>,
    database: Option<String>,
    keep_database: bool,
    prefix: Option<String>,
    database_params: Option<String>,
}

impl TestAppBuilder {
    /// Appends `?params` to the instance's `DATABASE_URL` (`sslmode=require`, say).
    pub fn database_params(mut self, params: &str) -> Self {
        self.database_params = Some(params.into());
        self
    }

    /// Sets an environment-style variable for this app only.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// Starts the manual clock at `at` instead of the seed outage's onset.
    pub fn start_at(mut self, at: DateTime<Utc>) -> Self {
        self.start = Some(at);
        self
    }

    /// Uses an existing database (shared with another app) instead of a fresh one.
    pub fn database(mut self, name: &str) -> Self {
        self.database = Some(name.into());
        self.keep_database = true;
        self
    }

    /// Uses another app's Redis key prefix: the two are instances of one deployment.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Starts the instance and waits until it listens.
    pub async fn spawn(self) -> TestApp {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = self
            .database
            .clone()
            .unwrap_or_else(|| format!("dw_test_{id}"));
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| format!("dwtest-{id}"));
        let mut vars: Vec<(String, String)> = vec![
            (
                "DATABASE_URL".into(),
                match &self.database_params {
                    Some(params) => format!("{}/{db_name}?{params}", server_url()),
                    None => format!("{}/{db_name}", server_url()),
                },
            ),
            ("REDIS_URL".into(), redis_url()),
            ("DOWNWATCH_BIND".into(), "127.0.0.1:0".into()),
            ("DOWNWATCH_REDIS_PREFIX".into(), prefix.clone()),
            ("DOWNWATCH_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            ("DOWNWATCH_WORKERS".into(), "1".into()),
            // Generous deadlines: a loaded CI machine must not turn a slow answer into a 503.
            // Tests about deadlines set their own.
            ("DOWNWATCH_REDIS_TIMEOUT_MS".into(), "5000".into()),
            ("DOWNWATCH_DATABASE_TIMEOUT_MS".into(), "10000".into()),
            // Tests read right after they write, on a clock that stands still: no shared answers
            // unless a test is about them.
            ("DOWNWATCH_READ_CACHE_MS".into(), "0".into()),
            ("DOWNWATCH_HISTORY_CACHE_MS".into(), "0".into()),
            // Every test client is 127.0.0.1 (or a few forwarded addresses): the caps per
            // address and network would bind tests about other things. Tests of the caps set
            // their own.
            ("DOWNWATCH_CAP_PER_ADDRESS".into(), "1000000".into()),
            ("DOWNWATCH_CAP_PER_NETWORK".into(), "1000000".into()),
            // Likewise the renderings one address may cause.
            ("DOWNWATCH_READ_BURST".into(), "1000000".into()),
        ];
        vars.extend(self.vars);
        let settings = Settings::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| v != "<unset>")
        })
        .expect("test settings are valid");
        let clock = ManualClock::new(self.start.unwrap_or_else(seed_onset));
        let options = StartOptions {
            run_monitor: false,
            ..StartOptions::default()
        };
        let app = Application::build(settings.clone(), clock.clone(), options)
            .await
            .expect("test app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            address,
            clock,
            client: awc::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .finish(),
            db_name,
            prefix,
            state,
            keep_database: self.keep_database,
            settings,
        }
    }
}

/// One running instance with its own database and Redis prefix.
pub struct TestApp {
    /// Base URL, like `http://127.0.0.1:40123`.
    pub address: String,
    /// The instance's clock.
    pub clock: Arc<ManualClock>,
    /// An HTTP client.
    pub client: awc::Client,
    /// The instance's database name.
    pub db_name: String,
    /// The instance's Redis key prefix.
    pub prefix: String,
    /// Internals, for assertions that the API cannot make.
    pub state: web::Data<AppState>,
    /// The settings it runs with.
    pub settings: Settings,
    keep_database: bool,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: awc::http::header::HeaderMap,
    /// Body parsed as JSON (`Value::Null` if it is not JSON).
    pub json: Value,
    /// Raw body.
    pub text: String,
}

impl Reply {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with `status` that names `field` in `errors`.
    pub fn assert_problem(&self, status: u16, field: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.json["status"], status);
        assert!(
            self.json["title"].is_string() && self.json["detail"].is_string(),
            "{}",
            self.text
        );
        if let Some(field) = field {
            let fields: Vec<&str> = self.json["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("no errors array: {}", self.text))
                .iter()
                .filter_map(|e| e["field"].as_str())
                .collect();
            assert!(
                fields.contains(&field),
                "expected field {field} in {}",
                self.text
            );
        }
    }
}

impl TestApp {
    /// A builder with default test settings.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            vars: Vec::new(),
            start: None,
            database: None,
            keep_database: false,
            prefix: None,
            database_params: None,
        }
    }

    /// An instance with default test settings.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    async fn read(
        mut response: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<web::Bytes, awc::error::PayloadError>> + Unpin,
        >,
    ) -> Reply {
        let body = response.body().limit(16 * 1024 * 1024).await.expect("body");
        let text = String::from_utf8_lossy(&body).into_owned();
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            text,
        }
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("GET");
        Self::read(response).await
    }

    /// Sends `method path` with a JSON body and optional extra headers.
    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.address))
            .insert_header(("content-type", "application/json"));
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let response = request.send_body(body.to_string()).await.expect("request");
        Self::read(response).await
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .insert_header(("content-type", content_type))
            .send_body(body)
            .await
            .expect("request");
        Self::read(response).await
    }

    /// POST /v1/reports.
    pub async fn report(&self, body: Value) -> Reply {
        self.send_json("POST", "/v1/reports", &body, &[]).await
    }

    /// POST /v1/reports with an `X-Forwarded-For` header.
    pub async fn report_via(&self, forwarded_for: &str, body: Value) -> Reply {
        self.send_json(
            "POST",
            "/v1/reports",
            &body,
            &[("x-forwarded-for", forwarded_for)],
        )
        .await
    }

    /// An admin request with the test token.
    pub async fn admin(&self, method: &str, path: &str, body: &Value) -> Reply {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        self.send_json(method, path, body, &[("authorization", &auth)])
            .await
    }

    /// The sum of `total` over the minutes of `/minutes` for `slug` with `query`.
    pub async fn total(&self, slug: &str, query: &str) -> u64 {
        let reply = self
            .get(&format!("/v1/services/{slug}/minutes{query}"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply
            .json
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["total"].as_u64().unwrap())
            .sum()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let db = (!self.keep_database).then(|| self.db_name.clone());
        let prefix = self.prefix.clone();
        // Cleanup runs on its own thread: Drop cannot await, and the test runtime is single-threaded.
        let cleanup = std::thread::spawn(move || {
            if let Some(db) = db {
                let url = format!("{}/postgres", server_url());
                if let Ok(mut conn) =
                    <downwatch::db::bootstrap::SyncPgConnection as diesel::Connection>::establish(
                        &url,
                    )
                {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                            .execute(&mut conn);
                }
            }
            if let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection())
            {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{prefix}:*"))
                    .query(&mut conn)
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
                }
            }
        });
        let _ = cleanup.join();
    }
}

/// Counts `count` reports of `slug` straight into Redis at the app's current time, each from a
/// reporter of its own (bulk traffic without HTTP).
pub async fn count_direct(app: &TestApp, slug: &str, count: usize, tag: &str) {
    use downwatch::clock::Clock;
    use downwatch::domain::{ProblemKind, ReporterKey, ServiceSlug};
    use downwatch::windows::CountRequest;
    let service = ServiceSlug::parse(slug).unwrap();
    let problem = ProblemKind::parse("login").unwrap();
    let at = app.clock.now();
    for i in 0..count {
        let reporter = ReporterKey::from_label(&format!("{tag}{:x}{i:08x}", at.timestamp()));
        let request = CountRequest {
            service: &service,
            reporter,
            problem: &problem,
            country: None,
            at,
        };
        assert!(app.state.reads.windows.count(request).await.unwrap());
    }
}
