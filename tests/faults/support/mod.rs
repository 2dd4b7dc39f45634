//! What the fault tests share: their own Redis, a PostgreSQL proxy, a database that outlives
//! one instance, a report load that records every answer, test monitors, and polling with a
//! deadline.

pub mod own_redis;
pub mod pg_proxy;
pub mod process;
pub mod victim;
pub(crate) use crate::sse;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::TestApp;
pub use crate::helpers::count_direct;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The shared PostgreSQL server (`postgres://user@host:port`), as the api tests find it.
pub fn database_server() -> String {
    std::env::var("DOWNWATCH_TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A Redis key prefix that a test's instances write under; its keys are removed when this goes,
/// however the test ends (on a Redis Cluster, a cluster of the test's own, nothing is done).
pub struct TempPrefix {
    name: String,
    redis_url: String,
}

impl TempPrefix {
    /// A fresh prefix on the Redis at `redis_url`.
    pub fn new(redis_url: &str) -> Self {
        Self {
            name: format!("dwfault-{}", uuid::Uuid::new_v4().simple()),
            redis_url: redis_url.to_owned(),
        }
    }

    /// The prefix, for `DOWNWATCH_REDIS_PREFIX`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TempPrefix {
    fn drop(&mut self) {
        if self.redis_url.contains("+cluster") {
            return;
        }
        let (url, pattern) = (self.redis_url.clone(), format!("{}:*", self.name));
        // Its own thread, as for the database.
        let _ = std::thread::spawn(move || {
            let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("UNLINK").arg(keys).query(&mut conn);
            }
        })
        .join();
    }
}

/// A database name that several instances (or several runs of the binary) share; dropped when
/// this goes, however the test ends.
pub struct TempDatabase(pub String);

impl TempDatabase {
    /// A fresh name; the first instance creates the database.
    pub fn new() -> Self {
        Self(format!("dw_fault_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The URL of this database on the shared server.
    pub fn url(&self) -> String {
        format!("{}/{}", database_server(), self.0)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Its own thread: a test runtime may be inside a blocking section here.
        let _ = std::thread::spawn(move || {
            let url = format!("{}/postgres", database_server());
            if let Ok(mut conn) =
                <downwatch::db::bootstrap::SyncPgConnection as diesel::Connection>::establish(&url)
            {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
            }
        })
        .join();
    }
}

/// Polls `check` every 20 ms until it yields a value; panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP client without awc's default cap of 100 connections, which would queue a burst
/// on the client side and hide how the server answers.
pub fn unlimited_client() -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish()
}

/// One answered report.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The reporter token sent (unique per request).
    pub reporter: String,
    /// The status answered.
    pub status: u16,
    /// When the request was sent.
    pub sent: Instant,
    /// How long the answer took.
    pub latency: Duration,
}

/// Reports sent in a loop by a few concurrent clients, each request with a reporter token of
/// its own, every answer recorded.
pub struct Load {
    stop: Rc<Cell<bool>>,
    outcomes: Rc<RefCell<Vec<Outcome>>>,
    tasks: Vec<actix_web::rt::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` loops reporting `service` to `app`, each pausing `pause` between
    /// requests.
    pub fn start(app: &TestApp, service: &str, clients: usize, pause: Duration) -> Self {
        let stop = Rc::new(Cell::new(false));
        let outcomes = Rc::new(RefCell::new(Vec::new()));
        let tasks = (0..clients)
            .map(|c| {
                let (stop, outcomes) = (stop.clone(), outcomes.clone());
                let client = unlimited_client();
                let url = format!("{}/v1/reports", app.address);
                let service = service.to_owned();
                actix_web::rt::spawn(async move {
                    let mut i = 0u32;
                    while !stop.get() {
                        let reporter = format!("load-{c:02}-{i:07}");
                        let outcome = report(&client, &url, &service, &reporter).await;
                        outcomes.borrow_mut().push(outcome);
                        i += 1;
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Self {
            stop,
            outcomes,
            tasks,
        }
    }

    /// How many answers with `status` came to requests sent after `since`.
    pub fn count_since(&self, status: u16, since: Instant) -> usize {
        self.outcomes
            .borrow()
            .iter()
            .filter(|o| o.status == status && o.sent >= since)
            .count()
    }

    /// The first answer with `status` to a request sent after `since`.
    pub fn first_since(&self, status: u16, since: Instant) -> Option<Outcome> {
        self.outcomes
            .borrow()
            .iter()
            .filter(|o| o.status == status && o.sent >= since)
            .min_by_key(|o| o.sent + o.latency)
            .cloned()
    }

    /// Stops the clients and returns every answer.
    pub async fn stop(self) -> Vec<Outcome> {
        self.stop.set(true);
        join_all(self.tasks).await;
        self.outcomes.take()
    }
}

/// Sends one report and times the answer.
pub async fn report(client: &awc::Client, url: &str, service: &str, reporter: &str) -> Outcome {
    let sent = Instant::now();
    let body = json!({"service": service, "problem": "login", "reporter": reporter});
    let status = match client
        .post(url)
        .insert_header(("content-type", "application/json"))
        .send_body(body.to_string())
        .await
    {
        Ok(mut response) => {
            let _ = response.body().await;
            response.status().as_u16()
        }
        // No answer at all: recorded as 0, which every test treats as a failure.
        Err(_) => 0,
    };
    Outcome {
        reporter: reporter.to_owned(),
        status,
        sent,
        latency: sent.elapsed(),
    }
}

/// Sends each reporter's report again, 100 at a time, and returns the statuses in order.
pub async fn resend(app: &TestApp, service: &str, reporters: &[String]) -> Vec<u16> {
    let url = format!("{}/v1/reports", app.address);
    let client = unlimited_client();
    let mut statuses = Vec::with_capacity(reporters.len());
    for chunk in reporters.chunks(100) {
        let sends = chunk.iter().map(|r| report(&client, &url, service, r));
        statuses.extend(join_all(sends).await.into_iter().map(|o| o.status));
    }
    statuses
}

/// The largest of `latencies`.
pub fn slowest(outcomes: &[&Outcome]) -> Duration {
    outcomes.iter().map(|o| o.latency).max().unwrap_or_default()
}

/// Sends `count` reports at once (reporters `{tag}-0000`, ...) and returns their answers and
/// how long the slowest took from the start.
pub async fn burst(app: &TestApp, tag: &str, count: usize) -> (Vec<Outcome>, Duration) {
    let url = format!("{}/v1/reports", app.address);
    let reporters: Vec<String> = (0..count).map(|i| format!("{tag}-{i:04}")).collect();
    let client = unlimited_client();
    let started = Instant::now();
    let outcomes = join_all(
        reporters
            .iter()
            .map(|r| report(&client, &url, "chatgpt", r)),
    )
    .await;
    (outcomes, started.elapsed())
}

/// The lease the test monitors hold (three 15-second ticks, as in production).
pub const LEASE: Duration = Duration::from_secs(45);

/// A monitor over `app`'s storage with a holder id of its own: what a restarted downwatch, or
/// another instance, would run.
pub fn monitor(app: &TestApp) -> downwatch::monitor::Monitor {
    monitor_with_lease(app, LEASE)
}

/// [`monitor`] holding its lease for `lease` at a time.
pub fn monitor_with_lease(app: &TestApp, lease: Duration) -> downwatch::monitor::Monitor {
    downwatch::monitor::Monitor::new(
        downwatch::monitor::Deps {
            db: app.state.reads.db.clone(),
            windows: app.state.reads.windows.clone(),
            catalog: app.state.reads.catalog.clone(),
            clock: app.clock.clone(),
            events: app.state.events.clone(),
        },
        downwatch::detect::Params::default(),
        lease,
        app.settings.retention,
    )
}

/// Minute buckets and leases under `prefix` on the Redis at `url`, as an instance keeps them.
pub fn windows(url: &str, prefix: &str) -> downwatch::windows::Windows {
    use downwatch::windows::{KeySchema, RedisConn, Windows};
    let redis = RedisConn::new(url, Duration::from_secs(5)).expect("redis url");
    Windows::new(
        redis,
        KeySchema::new(prefix),
        Duration::from_secs(3600),
        Duration::from_secs(48 * 3600),
    )
}

/// Writes `per_minute(m)` login reports into each minute `m` of `[from, to)` of `slug`.
pub async fn seed(
    windows: &downwatch::windows::Windows,
    slug: &str,
    from: i64,
    to: i64,
    per_minute: impl Fn(i64) -> u64,
) {
    use downwatch::time::minute_start;
    use downwatch::windows::MinuteBucket;
    let buckets: Vec<MinuteBucket> = (from..to)
        .map(|m| MinuteBucket {
            t: minute_start(m),
            total: per_minute(m),
            problems: [("login".to_owned(), per_minute(m))].into(),
            countries: Default::default(),
        })
        .collect();
    let slug = downwatch::domain::ServiceSlug::parse(slug).unwrap();
    windows.seed_minutes(&slug, &buckets).await.unwrap();
}

/// The monitor lease as stored: `(holder, expiry in ms)`.
pub async fn lease(windows: &downwatch::windows::Windows) -> Option<(String, i64)> {
    let key = format!("{}:monitor:lease", windows.keys().prefix());
    let value: Option<String> = windows
        .redis()
        .run("test-lease", |mut c| async move {
            redis::cmd("GET").arg(key).query_async(&mut c).await
        })
        .await
        .unwrap();
    let (holder, expiry) = value?
        .rsplit_once('|')
        .map(|(h, e)| (h.to_owned(), e.to_owned()))?;
    Some((holder, expiry.parse().ok()?))
}
