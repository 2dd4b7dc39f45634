//! `downwatch demo`: the seed outage, detected live, in a few minutes, from one command.
//!
//! A newcomer should see the whole product work before reading any of it. The demo makes its
//! own database and Redis prefix, gives the model four weeks of normal history, then starts a
//! real server on a clock running many times faster than the wall clock (starting an hour
//! before ChatGPT's outage of 10 June 2025) and replays the outage into it over HTTP with the
//! simulator. It prints what the monitor announces as it happens, then a summary, and removes
//! its data unless asked to keep it.

pub mod history;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::app::{self, Application, StartOptions};
use crate::catalog::{CatalogFile, SHIPPED_CATALOG};
use crate::clock::ScaledClock;
use crate::config::Settings;
use crate::db::{self, Db};
use crate::events::Event;
use crate::simulate::scenario::SEED_SCENARIO_NAME;
use crate::simulate::{self, Pace, RunReport, Scenario, SendOptions};
use crate::windows::{KeySchema, RedisConn, Windows};

/// Days of normal history the demo writes before it starts.
const HISTORY_DAYS: i64 = 28;
/// Minutes of that history also written to Redis (what the monitor replays when it starts).
const RECENT_MINUTES: i64 = 180;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How many times faster than the wall clock the demo's clock runs.
    pub speed: f64,
    /// Port to serve on (0 picks a free one).
    pub port: u16,
    /// Keep the database and Redis keys, and keep serving after the replay until Ctrl-C or
    /// SIGTERM.
    pub keep: bool,
    /// Volume multiplier for the replay.
    pub scale: f64,
}

/// What the demo saw.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The simulator's run and reconciliation.
    pub run: RunReport,
    /// Incidents the monitor opened, per scenario service.
    pub incidents: Vec<(String, db::incidents::Incident)>,
    /// Minutes from the outage's onset to the first ChatGPT incident, if one opened.
    pub detected_after: Option<i64>,
}

/// Runs the demo against the PostgreSQL server and Redis of `base`, in a database and key
/// prefix of its own.
pub async fn run(base: Settings, options: DemoOptions) -> anyhow::Result<DemoOutcome> {
    let scenario = Scenario::builtin(SEED_SCENARIO_NAME).expect("the seed scenario is built in");
    // A busy port must stop the demo before it writes four weeks of history, not after.
    let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), options.port);
    drop(std::net::TcpListener::bind(address).with_context(|| {
        format!("cannot listen on {address} (--port): pick a free port with --port, or 0 for any")
    })?);
    let tag = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let settings = demo_settings(base, &tag, &options)?;
    let outcome = run_in(&settings, &scenario, &options).await;
    if options.keep {
        println!(
            "kept: database {:?}, Redis prefix {:?}",
            database_name(&settings.database_url),
            settings.redis_prefix
        );
    } else {
        clean_up(&settings).await;
    }
    outcome
}

/// The caller's connections with a database, prefix, address and timing of the demo's own.
fn demo_settings(
    mut settings: Settings,
    tag: &str,
    options: &DemoOptions,
) -> anyhow::Result<Settings> {
    let mut url = url::Url::parse(&settings.database_url).context("DATABASE_URL")?;
    url.set_path(&format!("/downwatch_demo_{tag}"));
    // A `dbname` parameter would override the path: the demo must never write elsewhere.
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "dbname")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    settings.database_url = url.to_string();
    settings.redis_prefix = format!("dwdemo-{tag}");
    settings.bind = vec![SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        options.port,
    )];
    // The simulator tells its people apart with X-Forwarded-For from this machine.
    settings.trusted_proxies = vec!["127.0.0.1/32".parse()?, "::1/128".parse()?];
    // One evaluation per simulated minute (up to 1200x; faster, a tick covers several).
    settings.monitor_tick = Duration::from_secs_f64((60.0 / options.speed).max(0.05));
    Ok(settings)
}

async fn run_in(
    settings: &Settings,
    scenario: &Scenario,
    options: &DemoOptions,
) -> anyhow::Result<DemoOutcome> {
    // Ctrl-C or SIGTERM while setting up: nothing runs yet, the caller cleans up.
    let (db, services) = tokio::select! {
        prepared = prepare(settings, scenario) => prepared?,
        () = app::stop_requested() => anyhow::bail!("interrupted"),
    };
    let clock = ScaledClock::new(scenario.start, options.speed);
    let start = StartOptions {
        clock_speed: options.speed,
        bind_source: "--port",
        ..StartOptions::default()
    };
    let application = Application::build(settings.clone(), clock.clone(), start).await?;
    let base_url = format!("http://127.0.0.1:{}", application.port());
    let events = application.state().events.subscribe();
    let server = application.handle();
    let serving = actix_web::rt::spawn(application.run_until_stopped());
    let zone = scenario.zone;
    println!(
        "downwatch demo: the ChatGPT outage of 10 June 2025, replayed at {}x from {}",
        options.speed,
        local(scenario.start, zone)
    );
    println!(
        "  own data:      database {}, Redis prefix {}",
        database_name(&settings.database_url),
        settings.redis_prefix
    );
    println!("  status board:  {base_url}/");
    println!("  status JSON:   {base_url}/v1/status");
    println!("  ChatGPT:       {base_url}/s/chatgpt");
    let printer = spawn_printer(events, &services, zone, &base_url);
    let replay = Replay {
        settings,
        scenario,
        options,
        clock: &clock,
        db: &db,
        services: &services,
        base_url: &base_url,
    };
    let outcome = tokio::select! {
        outcome = replay.run() => outcome,
        () = app::stop_requested() => Err(anyhow::anyhow!("interrupted")),
    };
    printer.abort();
    if options.keep && outcome.is_ok() {
        // The server stops itself on Ctrl-C or SIGTERM: its handler has listened since it
        // started, so a signal sent the moment this line is read is not missed (a handler
        // registered only now would miss it, and the demo would serve on).
        println!(
            "serving on {base_url} until Ctrl-C or SIGTERM (the clock keeps running at {}x)",
            options.speed
        );
    } else {
        server.stop(true).await;
    }
    // Wait for the timers too, before the caller removes the data under them.
    let _ = serving.await;
    outcome
}

/// The database ready, with the catalog and four weeks of history in it.
async fn prepare(
    settings: &Settings,
    scenario: &Scenario,
) -> anyhow::Result<(Db, Vec<(String, Uuid, String)>)> {
    app::prepare_database(&settings.database_url).await?;
    let db = Db::new(&settings.database_url, Duration::from_secs(60), 4)?;
    let services = write_history(settings, &db, scenario).await?;
    Ok((db, services))
}

/// Prints a line for each incident event as the monitor announces it.
fn spawn_printer(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    services: &[(String, Uuid, String)],
    zone: Tz,
    base_url: &str,
) -> actix_web::rt::task::JoinHandle<()> {
    let names: HashMap<String, String> = services
        .iter()
        .map(|(slug, _, name)| (slug.clone(), name.clone()))
        .collect();
    let base_url = base_url.to_owned();
    actix_web::rt::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(line) = describe(&event, &names, zone, &base_url) {
                        println!("{line}");
                    }
                }
                // Fell behind a burst of events: carry on with the next ones.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// The replay itself and what the monitor made of it.
struct Replay<'a> {
    settings: &'a Settings,
    scenario: &'a Scenario,
    options: &'a DemoOptions,
    clock: &'a Arc<ScaledClock>,
    db: &'a Db,
    services: &'a [(String, Uuid, String)],
    base_url: &'a str,
}

impl Replay<'_> {
    async fn run(&self) -> anyhow::Result<DemoOutcome> {
        let send = SendOptions {
            base_url: self.base_url.to_owned(),
            concurrency: 16,
            scale: self.options.scale,
            pace: Pace::Clock(self.clock.clone()),
            progress: false,
        };
        let run = simulate::run(self.scenario, &send).await?;
        // Let the monitor see the last minutes before reading what it decided.
        let end = self.scenario.end + TimeDelta::minutes(2);
        tokio::time::sleep(self.clock.real_time_until(end)).await;
        tokio::time::sleep(self.settings.monitor_tick * 2).await;
        print!("{run}");
        let mut incidents = Vec::new();
        for (slug, id, _) in self.services {
            for incident in db::incidents::for_service(self.db, *id).await? {
                incidents.push((slug.clone(), incident));
            }
        }
        let onset = self.scenario.outages[0].onset;
        let detected_after = incidents
            .iter()
            .filter(|(slug, i)| slug == "chatgpt" && i.started_at >= onset)
            .map(|(_, i)| (i.started_at - onset).num_minutes())
            .min();
        print_summary(
            &incidents,
            onset,
            detected_after,
            self.scenario.zone,
            self.base_url,
        );
        Ok(DemoOutcome {
            run,
            incidents,
            detected_after,
        })
    }
}

/// Seeds the catalog and four weeks of normal history; returns (slug, id, name) per service.
async fn write_history(
    settings: &Settings,
    db: &Db,
    scenario: &Scenario,
) -> anyhow::Result<Vec<(String, Uuid, String)>> {
    let catalog = CatalogFile::parse(SHIPPED_CATALOG)
        .map_err(|e| anyhow::anyhow!("shipped catalog is invalid: {e:?}"))?;
    db::services::import(db, &catalog.services, scenario.start).await?;
    let mut services = Vec::new();
    for traffic in &scenario.services {
        let service = db::services::find(db, traffic.slug.as_str())
            .await?
            .with_context(|| format!("{} is not in the shipped catalog", traffic.slug))?;
        services.push((service.slug, service.id, service.name));
    }
    let ids: Vec<Uuid> = services.iter().map(|(_, id, _)| *id).collect();
    let history = history::generate(scenario, &ids, HISTORY_DAYS, RECENT_MINUTES);
    for chunk in history.bins.chunks(500) {
        db::bins::upsert(db, chunk).await?;
    }
    db::bins::set_complete_before(db, scenario.start).await?;
    let windows = Windows::new(
        RedisConn::new(&settings.redis_url, settings.redis_timeout)?,
        KeySchema::new(settings.redis_prefix.clone()),
        settings.dedup_window,
        settings.retention,
    );
    for (traffic, minutes) in scenario.services.iter().zip(&history.minutes) {
        windows.seed_minutes(&traffic.slug, minutes).await?;
    }
    println!(
        "wrote {HISTORY_DAYS} days of normal reports for {} services ({} bins)",
        services.len(),
        history.bins.len()
    );
    Ok(services)
}

/// One line for an incident event; `None` for events not worth a line.
fn describe(
    event: &Event,
    names: &HashMap<String, String>,
    zone: Tz,
    base_url: &str,
) -> Option<String> {
    let data: serde_json::Value = serde_json::from_str(&event.data).ok()?;
    let kind = data["kind"].as_str()?;
    if !event.kind.starts_with("incident.") || kind == "peak" {
        return None;
    }
    let slug = data["service"].as_str()?;
    let name = names.get(slug).map_or(slug, String::as_str);
    let at: DateTime<Utc> = data["at"].as_str()?.parse().ok()?;
    let id = data["incident_id"].as_str()?;
    let level = data["level"].as_str()?;
    let what = match kind {
        "opened" => format!("incident opened at level {level}"),
        "escalated" => format!("escalated to {level}"),
        "deescalated" => format!("calmer: level {level}"),
        "resolved" => "resolved".to_owned(),
        other => other.to_owned(),
    };
    Some(format!(
        "[{}] {name}: {what}  {base_url}/incidents/{id}",
        local(at, zone)
    ))
}

fn print_summary(
    incidents: &[(String, db::incidents::Incident)],
    onset: DateTime<Utc>,
    detected_after: Option<i64>,
    zone: Tz,
    base_url: &str,
) {
    println!("incidents:");
    for (slug, incident) in incidents {
        let ended = incident.ended_at.map_or_else(
            || "still open".to_owned(),
            |t| format!("resolved {}", local(t, zone)),
        );
        println!(
            "  {slug:<12} rose from {}, detected {}, highest {}, peak {} reports in 15 min, {ended}  {base_url}/incidents/{}",
            local(incident.began_at, zone),
            local(incident.started_at, zone),
            incident.highest_level,
            incident.peak_bin_count,
            incident.id
        );
    }
    match detected_after {
        Some(minutes) => println!(
            "detected: the ChatGPT outage (onset {}) was flagged {minutes} min after it began",
            local(onset, zone)
        ),
        None => println!("NOT DETECTED: no ChatGPT incident opened"),
    }
}

fn local(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%H:%M %Z").to_string()
}

fn database_name(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

/// Drops the demo's database and Redis keys; failures are printed, not fatal.
async fn clean_up(settings: &Settings) {
    if let Err(e) = db::bootstrap::drop_database(&settings.database_url).await {
        eprintln!("could not drop the demo database: {e:#}");
    }
    let purge = async {
        let windows = Windows::new(
            RedisConn::new(&settings.redis_url, settings.redis_timeout)?,
            KeySchema::new(settings.redis_prefix.clone()),
            settings.dedup_window,
            settings.retention,
        );
        windows.purge().await.map_err(anyhow::Error::from)
    };
    match purge.await {
        Ok(_) => println!("cleaned up the demo's database and Redis keys"),
        Err(e) => eprintln!("could not delete the demo's Redis keys: {e:#}"),
    }
}
