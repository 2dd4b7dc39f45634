//! Building and running an instance: database, catalog, Redis, limiter, HTTP server, timers.
//!
//! `main` and the integration tests both go through [`Application::build`], which binds the
//! listener first (port 0 picks a free port) so callers learn the address before serving.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service as _};
use actix_web::middleware::DefaultHeaders;
use actix_web::rt::task::JoinHandle;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::alerts::Dispatcher;
use crate::api;
use crate::catalog::{CatalogCache, CatalogFile, SHIPPED_CATALOG};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::events::Events;
use crate::http::descriptors::{self, DescriptorBudget};
use crate::http::read_cache::ReadCache;
use crate::http::{AdminAuth, AppState, deadline};
use crate::ingest::{Ingest, ProxyPolicy, ReportLimiter, ReporterKeyer};
use crate::monitor::{Deps, Monitor};
use crate::query::Reads;
use crate::query::stored::StoredCache;
use crate::telemetry;
use crate::windows::{KeySchema, RedisConn, Windows};

/// Name of the reporter-key secret in `app_secrets`.
const REPORTER_SECRET: &str = "reporter_hmac";

/// How to start.
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    /// Do not create the database or apply migrations (deployments that migrate separately).
    pub skip_migrations: bool,
    /// Run the monitor on a timer (tests turn it off and call `Monitor::tick` themselves).
    pub run_monitor: bool,
    /// How much faster than the wall clock the injected clock runs (the demo's scaled clock);
    /// the monitor's lease, kept on the injected clock, stretches to match.
    pub clock_speed: f64,
    /// What set the listen addresses, for an error that cannot bind them (`DOWNWATCH_BIND`, or
    /// the demo's `--port`).
    pub bind_source: &'static str,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            skip_migrations: false,
            run_monitor: true,
            clock_speed: 1.0,
            bind_source: "DOWNWATCH_BIND",
        }
    }
}

/// A bound, not yet running, instance.
pub struct Application {
    port: u16,
    addresses: Vec<std::net::SocketAddr>,
    server: Server,
    /// The intake's own server (`DOWNWATCH_INTAKE_BIND`), stopped with the main one.
    intake: Option<Server>,
    state: web::Data<AppState>,
    background: Vec<JoinHandle<()>>,
}

impl Application {
    /// Prepares storage, loads the catalog and binds every address of `settings.bind`.
    pub async fn build(
        mut settings: Settings,
        clock: SharedClock,
        options: StartOptions,
    ) -> anyhow::Result<Self> {
        if !options.skip_migrations {
            prepare_database(&settings.database_url).await?;
        }
        let budget = plan_descriptors(&mut settings)?;
        let state = web::Data::new(build_state(&settings, clock, options.clock_speed).await?);
        // Redis may come later (connections retry in the background): say once, clearly, why
        // it is not there now, instead of letting each failed call say "timed out".
        if let Some(why) = state.reads.windows.redis().diagnose().await {
            tracing::warn!(
                error = %why,
                "Redis is unreachable; serving anyway: reports answer 503 and the monitor waits until it answers"
            );
        }
        let (listeners, addresses) = bind_all(&settings.bind, options.bind_source)?;
        // Bound before either server starts, so an address that cannot be had stops the start
        // with nothing running.
        let intake_listeners = if settings.intake_bind.is_empty() {
            None
        } else {
            Some(bind_all(&settings.intake_bind, "DOWNWATCH_INTAKE_BIND")?)
        };
        let port = addresses.first().map_or(0, std::net::SocketAddr::port);
        let workers = settings.workers.unwrap_or_else(one_per_core);
        let server = serve(
            &state,
            settings.body_timeout,
            everything,
            listeners,
            workers,
            // Past this, connections wait in the listen backlog instead of taking the
            // descriptors that Redis, PostgreSQL and kept-alive clients need.
            budget.map(|b| b.per_worker(workers)),
        )?;
        tracing::info!(address = %urls(&addresses), "downwatch listening");
        // Reports and health checks on workers of their own: a flood of reads on the main
        // listener, which keeps its workers' run queues full, cannot delay them.
        let intake = match intake_listeners {
            None => None,
            Some((listeners, addresses)) => {
                let workers = settings.intake_workers.unwrap_or_else(one_per_core);
                let intake = serve(
                    &state,
                    settings.body_timeout,
                    api::intake,
                    listeners,
                    workers,
                    budget.map(|b| b.intake_per_worker(workers)),
                )?;
                tracing::info!(address = %urls(&addresses), "downwatch intake listening (reports and health only)");
                Some(intake)
            }
        };
        let mut background = spawn_timers(&state, &settings);
        background.push(state.events.spawn_reader());
        if options.run_monitor {
            background.push(spawn_monitor(&state, settings.monitor_tick));
            background.push(spawn_dispatcher(&state, &settings));
        }
        Ok(Self {
            port,
            addresses,
            server,
            intake,
            state,
            background,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every address listened on (`DOWNWATCH_BIND` may name several); the first has [`Self::port`].
    pub fn addresses(&self) -> &[std::net::SocketAddr] {
        &self.addresses
    }

    /// A handle to stop the server gracefully from elsewhere (the intake stops with it).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The shared state, for tests that need to poke at internals.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM (or a stop through [`Self::handle`]), draining in-flight
    /// requests; then stops the timers, so nothing touches storage after this returns.
    ///
    /// On a signal, live event streams end first (their clients reconnect, to another
    /// instance, with `Last-Event-ID`): an open stream never finishes by itself, and would
    /// hold the drain until actix's 30-second shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let events = self.state.events.clone();
        let on_signal = actix_web::rt::spawn(async move {
            stop_requested().await;
            tracing::info!("stopping: ending live streams, draining requests in flight");
            events.close();
            handle.stop(true).await;
        });
        // The intake runs beside the main server and stops after it, whatever stopped that
        // (a signal or a handle): reports in flight on it are drained too.
        let intake = self.intake.map(|server| {
            let handle = server.handle();
            (handle, actix_web::rt::spawn(server))
        });
        let served = self.server.await;
        if let Some((handle, running)) = intake {
            handle.stop(true).await;
            if let Ok(Err(e)) = running.await {
                tracing::error!(error = %e, "the intake server stopped with an error");
            }
        }
        on_signal.abort();
        for task in &self.background {
            task.abort();
        }
        served
    }
}

/// Worker threads when not configured: one per core.
fn one_per_core() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// The main listener's routes: the API, then the pages.
fn everything(cfg: &mut web::ServiceConfig) {
    // The API first: a route is found by trying each in turn, and the pages' patterns
    // (`/s/{slug}`...) are regular expressions every report would otherwise run through (2 % of
    // ingest's CPU). No path of one matches the other.
    cfg.configure(api::configure)
        .configure(crate::web::configure);
}

/// An HTTP server for `routes` on `listeners`, with the middleware every answer goes through
/// (security headers, the body deadline, `HEAD`, metrics, CORS for reads).
fn serve(
    state: &web::Data<AppState>,
    body_timeout: std::time::Duration,
    routes: fn(&mut web::ServiceConfig),
    listeners: Vec<TcpListener>,
    workers: usize,
    max_connections: Option<usize>,
) -> std::io::Result<Server> {
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(security_headers())
            .wrap_fn(move |mut req, srv| {
                let started = Instant::now();
                let head = head_as_get(&mut req);
                let expired = deadline::limit_body(&mut req, body_timeout);
                let is_get = req.method() == actix_web::http::Method::GET;
                let response = srv.call(req);
                async move {
                    let response = response.await?.map_into_boxed_body();
                    let mut response =
                        deadline::answer(response, &expired, body_timeout, |error| {
                            actix_web::ResponseError::error_response(&crate::web::PageError::from(
                                error,
                            ))
                        });
                    observe(&response, started, head);
                    crate::web::allow_declared_framing(response.headers_mut());
                    if head {
                        response = without_streamed_body(response);
                    }
                    if is_get {
                        // Reads are public: any page may fetch them.
                        response.headers_mut().insert(
                            actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                            actix_web::http::header::HeaderValue::from_static("*"),
                        );
                    }
                    Ok(response)
                }
            })
            .configure(routes)
            .default_service(web::to(not_found))
    })
    // A client that closes its side of a connection is gone: its event stream (and the
    // stream's slot and descriptor) ends at once, not at the next heartbeat's write.
    .h1_allow_half_closed(false)
    // Signals are ours (see `run_until_stopped`): live event streams must end first.
    .disable_signals()
    .workers(workers);
    if let Some(max) = max_connections {
        server = server.max_connections(max);
    }
    for listener in listeners {
        server = server.listen(listener)?;
    }
    Ok(server.run())
}

/// Raises the open-file limit, plans how it is shared (see [`descriptors`]) and fits the event
/// stream cap to it; `None` where the limit cannot be read.
fn plan_descriptors(settings: &mut Settings) -> anyhow::Result<Option<DescriptorBudget>> {
    let Some(limit) = descriptors::raise_open_file_limit() else {
        return Ok(None);
    };
    let pools = settings.database_pool + settings.background_pool;
    let budget = DescriptorBudget::plan(
        limit,
        pools,
        settings.events_max_streams,
        !settings.intake_bind.is_empty(),
    )?;
    if budget.streams < settings.events_max_streams {
        tracing::warn!(
            asked = settings.events_max_streams,
            allowed = budget.streams,
            open_file_limit = limit,
            "DOWNWATCH_EVENTS_MAX_STREAMS lowered to half of the connections the open-file limit allows"
        );
        settings.events_max_streams = budget.streams;
    }
    tracing::info!(
        open_file_limit = budget.limit,
        reserved = budget.reserved,
        connections = budget.connections,
        streams = budget.streams,
        intake_connections = budget.intake,
        "file-descriptor budget"
    );
    Ok(Some(budget))
}

/// `http://` addresses, space-separated, for the log.
fn urls(addresses: &[std::net::SocketAddr]) -> String {
    let urls: Vec<String> = addresses.iter().map(|a| format!("http://{a}")).collect();
    urls.join(" ")
}

/// Listens on every address; one a host name resolved to but this machine lacks (`::1` without
/// IPv6) is skipped with a warning, as long as another one listens. Returns the listeners and
/// the addresses they got (port 0 picks one).
fn bind_all(
    addresses: &[std::net::SocketAddr],
    source: &'static str,
) -> anyhow::Result<(Vec<TcpListener>, Vec<std::net::SocketAddr>)> {
    let mut listeners = Vec::new();
    let mut skipped = Vec::new();
    for address in addresses {
        match TcpListener::bind(address) {
            Ok(listener) => listeners.push(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable && addresses.len() > 1 => {
                skipped.push((address, e));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot listen on {address} ({source})"));
            }
        }
    }
    if listeners.is_empty()
        && let Some((address, e)) = skipped.pop()
    {
        return Err(e).with_context(|| format!("cannot listen on {address} ({source})"));
    }
    for (address, e) in skipped {
        tracing::warn!(%address, error = %e, "cannot listen on this address; listening on the others");
    }
    let bound = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok((listeners, bound))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a signal that arrives between the call and the first poll
/// (while a message is printed, say) is not lost.
pub fn stop_requested() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            match (interrupt, terminate) {
                (Some(mut interrupt), Some(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Creates the database if needed and applies pending migrations under an advisory lock.
pub async fn prepare_database(url: &str) -> anyhow::Result<()> {
    db::bootstrap::ensure_database(url).await?;
    let applied = db::bootstrap::run_migrations(url).await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    Ok(())
}

async fn build_state(
    settings: &Settings,
    clock: SharedClock,
    clock_speed: f64,
) -> anyhow::Result<AppState> {
    let db = Db::new(
        &settings.database_url,
        settings.database_timeout,
        settings.database_pool,
    )?;
    // The monitor, rollups and catalog refresh have connections of their own: a flood of
    // reads can empty the request pool, never stop detection.
    let background = Db::new(
        &settings.database_url,
        settings.database_timeout,
        settings.background_pool,
    )?;
    let secret = match &settings.reporter_secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => {
            match db::secrets::get_or_create(&db, REPORTER_SECRET, || {
                rand::random::<[u8; 32]>().to_vec()
            })
            .await
            {
                Ok(secret) => secret,
                Err(e) => {
                    let why = db.diagnose().await.unwrap_or_else(|| e.to_string());
                    anyhow::bail!("cannot load the reporter secret from PostgreSQL: {why}");
                }
            }
        }
    };
    seed_catalog(&db, &clock).await?;
    let catalog = Arc::new(CatalogCache::default());
    catalog.replace(
        db::services::catalog_entries(&db)
            .await
            .context("cannot load the catalog")?,
    );
    let redis = RedisConn::new(&settings.redis_url, settings.redis_timeout).context("REDIS_URL")?;
    let windows = Windows::new(
        redis,
        KeySchema::new(settings.redis_prefix.clone()),
        settings.dedup_window,
        settings.retention,
    );
    let limiter = Arc::new(ReportLimiter::new(
        settings.rate_per_minute,
        settings.rate_burst,
        clock.clone(),
    ));
    // Replays and publishing on connections of their own: never on the one that counts.
    let events = Events::new(
        RedisConn::new(&settings.redis_url, settings.redis_timeout).context("REDIS_URL")?,
        windows.keys().events(),
        settings.events_replay,
    );
    let monitor = Arc::new(
        Monitor::new(
            Deps {
                db: background.clone(),
                windows: windows.clone(),
                catalog: catalog.clone(),
                clock: clock.clone(),
                events: events.clone(),
            },
            settings.detect,
            settings.monitor_tick.mul_f64(3.0 * clock_speed),
            settings.retention,
        )
        .with_history_months(settings.history_months)
        .with_shards(settings.monitor_shards),
    );
    Ok(AppState {
        monitor,
        events,
        ingest: Ingest {
            catalog: catalog.clone(),
            limiter,
            keyer: ReporterKeyer::new(&secret),
            windows: windows.clone(),
            clock: clock.clone(),
            caps: crate::windows::Caps {
                per_address: settings.cap_per_address,
                per_network: settings.cap_per_network,
                window: settings.cap_window,
            },
            rate: crate::windows::SharedRate {
                interval: std::time::Duration::from_secs(60) / settings.rate_per_minute.get(),
                burst: settings.rate_burst.get(),
            },
        },
        proxies: ProxyPolicy::new(settings.trusted_proxies.clone(), settings.proxy_header),
        admin: AdminAuth::new(settings.admin_token.as_deref()),
        metrics: telemetry::metrics_handle(),
        read_cache: ReadCache::new(settings.read_cache, settings.heavy_reads, clock.clone())
            .limit_per_client(
                Arc::new(ReportLimiter::new(
                    settings.read_rate_per_minute,
                    settings.read_burst,
                    clock.clone(),
                )),
                ProxyPolicy::new(settings.trusted_proxies.clone(), settings.proxy_header),
            ),
        background_db: background,
        streams: crate::http::streams::StreamSlots::new(
            settings.events_max_streams,
            settings.events_max_per_client,
        ),
        webhook_policy: settings.webhook_policy,
        public_url: settings.public_url.clone(),
        reads: Reads {
            db,
            windows,
            catalog,
            clock: clock.clone(),
            retention: settings.retention,
            detect: settings.detect,
            runs: Arc::default(),
            stored: Arc::new(StoredCache::new(settings.history_cache, clock)),
        },
    })
}

/// Loads the shipped catalog into an empty database.
async fn seed_catalog(db: &Db, clock: &SharedClock) -> anyhow::Result<()> {
    if db::services::count(db).await? > 0 {
        return Ok(());
    }
    let file = CatalogFile::parse(SHIPPED_CATALOG)
        .map_err(|e| anyhow::anyhow!("shipped catalog is invalid: {e:?}"))?;
    let summary = db::services::import(db, &file.services, clock.now()).await?;
    tracing::info!(services = summary.inserted, "seeded the catalog");
    Ok(())
}

/// Background upkeep: limiter housekeeping and catalog refresh.
fn spawn_timers(state: &web::Data<AppState>, settings: &Settings) -> Vec<JoinHandle<()>> {
    let limiter_state = state.clone();
    let housekeeping = actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let keys = limiter_state.ingest.limiter.housekeep();
            metrics::gauge!("downwatch_rate_limiter_keys").set(keys as f64);
            limiter_state.read_cache.housekeep();
        }
    });
    let catalog_state = state.clone();
    let every = settings.catalog_refresh;
    let refresh = actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = catalog_state.refresh_catalog().await {
                tracing::warn!(error = %e, "catalog refresh failed; keeping the previous snapshot");
            }
        }
    });
    vec![housekeeping, refresh]
}

/// Ticks the monitor; a failed tick is logged and the next one catches up.
///
/// While a dependency stays away every tick fails the same way: the first failure is a
/// warning, repeats are logged every 20th tick, and the recovery once.
fn spawn_monitor(state: &web::Data<AppState>, every: std::time::Duration) -> JoinHandle<()> {
    const FAILURE_LOG_EVERY: u64 = 20;
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing: u64 = 0;
        loop {
            tick.tick().await;
            let started = Instant::now();
            let ticked = state.monitor.tick().await;
            metrics::histogram!("downwatch_monitor_tick_seconds")
                .record(started.elapsed().as_secs_f64());
            let outcome = if ticked.is_ok() { "ok" } else { "failed" };
            metrics::counter!("downwatch_monitor_ticks_total", "outcome" => outcome).increment(1);
            if let Ok(report) = &ticked {
                metrics::gauge!("downwatch_monitor_leader").set(f64::from(u8::from(report.leader)));
            }
            if ticked.is_ok() && failing > 0 {
                tracing::info!(failed_ticks = failing, "monitor ticks succeed again");
                failing = 0;
            }
            match ticked {
                Ok(report) if report.changes > 0 || report.bins > 0 => {
                    tracing::debug!(?report, "monitor tick");
                }
                Ok(_) => {}
                Err(e) => {
                    failing += 1;
                    if failing % FAILURE_LOG_EVERY == 1 {
                        tracing::warn!(
                            error = %e,
                            failed_ticks = failing,
                            "monitor tick failed; the next tick catches up"
                        );
                    } else {
                        tracing::debug!(error = %e, "monitor tick failed again");
                    }
                }
            }
        }
    })
}

/// Sends alerts every second, from every instance (PostgreSQL hands each delivery to one).
fn spawn_dispatcher(state: &web::Data<AppState>, settings: &Settings) -> JoinHandle<()> {
    let (db, clock) = (state.background_db.clone(), state.reads.clock.clone());
    let (policy, public_url, timeout) = (
        settings.webhook_policy,
        settings.public_url.clone(),
        settings.webhook_timeout,
    );
    actix_web::rt::spawn(async move {
        let dispatcher = Dispatcher::new(db, clock, policy, public_url, timeout);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match dispatcher.tick().await {
                Ok(report) if report.attempted > 0 || report.queued > 0 => {
                    tracing::debug!(?report, "alert dispatch");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "alert dispatch failed; retrying next second"),
            }
        }
    })
}

/// Anything no route took: a page for browsers asking for a page, problem+json for the rest.
async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    if let Some(page) = crate::web::missing_page(&req) {
        return Ok(page);
    }
    let hint = if req.path() == "/v1" || req.path().starts_with("/v1/") {
        "GET /openapi.json lists the API's routes."
    } else {
        "The API lives under /v1 (see README)."
    };
    // Both are the client's: an answer echoes a bounded part of them.
    Err(ApiError::NotFound(format!(
        "No resource at {} {}. {hint}",
        telemetry::clip(req.method().as_str(), telemetry::LOG_TEXT_LIMIT),
        telemetry::clip(req.path(), telemetry::LOG_TEXT_LIMIT)
    )))
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ))
}

/// `HEAD` is answered by the `GET` route, whatever it is: the request goes on as a `GET`, and
/// the connection writes the headers (`Content-Length` included) without the body. Returns
/// whether the request was a `HEAD`.
fn head_as_get(req: &mut actix_web::dev::ServiceRequest) -> bool {
    let head = req.method() == actix_web::http::Method::HEAD;
    if head {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    head
}

/// A `HEAD` answer whose `GET` body is a stream (the live events) ends at once: the
/// connection would drop the bytes anyway, and must not wait for a stream that never ends.
fn without_streamed_body(
    response: actix_web::dev::ServiceResponse,
) -> actix_web::dev::ServiceResponse {
    use actix_web::body::{BodySize, BoxBody, MessageBody};
    if response.response().body().size() == BodySize::Stream {
        response.map_body(|_, _| BoxBody::new(()))
    } else {
        response
    }
}

/// Records latency per route and logs the request (never the client address).
///
/// Every label value is bounded: the route is a registered pattern (or `unmatched`), the method
/// one of the standard ones (or `other`), the status a number. An invented method is logged,
/// cut to [`telemetry::LOG_TEXT_LIMIT`] characters, but never becomes a label.
fn observe<B>(response: &actix_web::dev::ServiceResponse<B>, started: Instant, head: bool) {
    let elapsed = started.elapsed();
    let request = response.request();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = if head {
        "HEAD"
    } else {
        telemetry::method_label(request.method())
    };
    let status = response.status().as_u16();
    // Microseconds are plenty, and `0.110037` reads better than `0.11003700000000001`.
    let duration_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let sent = (method == "other")
        .then(|| telemetry::clip(request.method().as_str(), telemetry::LOG_TEXT_LIMIT));
    if status >= 500 {
        tracing::warn!(http.method = method, http.method_sent = sent.as_deref(), http.route = %route, http.status = status, duration_ms, "request");
    } else {
        tracing::info!(http.method = method, http.method_sent = sent.as_deref(), http.route = %route, http.status = status, duration_ms, "request");
    }
    metrics::histogram!(
        "downwatch_http_request_duration_seconds",
        "route" => route,
        "method" => method,
        "status" => status_label(status)
    )
    .record(elapsed.as_secs_f64());
}

/// The `status` label of a response: the code as text, without an allocation for the codes
/// downwatch answers most.
fn status_label(status: u16) -> metrics::SharedString {
    match status {
        200 => metrics::SharedString::const_str("200"),
        202 => metrics::SharedString::const_str("202"),
        304 => metrics::SharedString::const_str("304"),
        400 => metrics::SharedString::const_str("400"),
        404 => metrics::SharedString::const_str("404"),
        429 => metrics::SharedString::const_str("429"),
        503 => metrics::SharedString::const_str("503"),
        other => metrics::SharedString::from(other.to_string()),
    }
}
