//! The seed scenario (the ChatGPT outage of 10 June 2025) sent round-robin through three
//! instances on a Redis Cluster of three masters, minute by minute on the instances' manual
//! clocks, every instance ticking its own monitor: the counts equal those of the same plan sent
//! to one instance on one Redis server, the ChatGPT incident is opened once, by the one leader,
//! with the same onset, and its `incident.opened` reaches the event stream of every instance.

use std::time::Duration;

use chrono::TimeDelta;
use downwatch::db::incidents;
use downwatch::domain::{Incident, ServiceSlug};
use downwatch::monitor::Monitor;
use downwatch::simulate::Scenario;
use downwatch::simulate::plan::{PlannedReport, Planner};
use downwatch::time::minute_of;
use futures_util::future::join_all;
use serde_json::json;

use crate::common::cluster::OwnCluster;
use crate::helpers::TestApp;
use crate::support::sse::Sse;
use crate::support::{monitor_with_lease, unlimited_client};

/// Scenario minutes replayed: from 01:30 EDT to half an hour past the onset (02:36).
const MINUTES: i64 = 96;

/// Longer than a replayed minute, so the first instance to tick keeps leading.
const LEASE: Duration = Duration::from_secs(300);

/// What one replay produced.
#[derive(Debug, PartialEq)]
struct Replayed {
    /// Per service of the scenario: answers 202, then 200.
    answers: Vec<(usize, usize)>,
    /// Per service: counts of every replayed minute, as Redis holds them.
    minutes: Vec<Vec<u64>>,
    /// ChatGPT's incidents: `(began, started)`.
    incidents: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
}

/// Instances of one deployment (one database, one prefix) on the Redis at `redis_url`, their
/// clocks at the scenario's start.
async fn deployment(redis_url: Option<&str>, count: usize, scenario: &Scenario) -> Vec<TestApp> {
    let builder = || {
        let builder = TestApp::builder()
            .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
            .start_at(scenario.start + TimeDelta::seconds(30));
        match redis_url {
            Some(url) => builder.var("REDIS_URL", url),
            None => builder,
        }
    };
    let first = builder().spawn().await;
    let mut instances = vec![];
    for _ in 1..count {
        let sibling = builder()
            .database(&first.db_name)
            .prefix(&first.prefix)
            .spawn()
            .await;
        instances.push(sibling);
    }
    instances.insert(0, first);
    instances
}

/// Sends `report` through `app`; its status.
async fn send(app: &TestApp, scenario: &Scenario, report: &PlannedReport) -> u16 {
    let mut body = json!({
        "service": scenario.services[report.service].slug.as_str(),
        "problem": report.problem.as_str(),
        "reporter": report.reporter,
    });
    if let Some(country) = report.country {
        body["country"] = json!(country.as_str());
    }
    app.report_via(&report.ip.to_string(), body)
        .await
        .status
        .as_u16()
}

/// Replays the first `MINUTES` of `scenario` through `instances` in turn, each minute's reports
/// at once (64 in flight), then every instance's monitor ticks.
async fn replay(instances: &[TestApp], scenario: &Scenario) -> Replayed {
    let monitors: Vec<Monitor> = instances
        .iter()
        .map(|app| monitor_with_lease(app, LEASE))
        .collect();
    let mut planner = Planner::new(scenario, 1.0, 7);
    let mut answers = vec![(0, 0); scenario.services.len()];
    let mut sent = 0usize;
    for m in 0..MINUTES {
        let reports = planner.minute(m);
        for chunk in reports.chunks(64) {
            let statuses = join_all(chunk.iter().enumerate().map(|(i, report)| {
                send(&instances[(sent + i) % instances.len()], scenario, report)
            }))
            .await;
            sent += chunk.len();
            for (report, status) in chunk.iter().zip(statuses) {
                match status {
                    202 => answers[report.service].0 += 1,
                    200 => answers[report.service].1 += 1,
                    other => panic!("a report answered {other}"),
                }
            }
        }
        for (app, monitor) in instances.iter().zip(&monitors) {
            app.clock.advance(Duration::from_secs(60));
            monitor.tick().await.expect("tick");
        }
    }
    let windows = &instances[0].state.reads.windows;
    let first = minute_of(scenario.start);
    let ranges: Vec<(ServiceSlug, i64, i64)> = scenario
        .services
        .iter()
        .map(|s| (s.slug.clone(), first, first + MINUTES))
        .collect();
    let minutes = windows
        .minutes_many(&ranges)
        .await
        .unwrap()
        .into_iter()
        .map(|buckets| buckets.iter().map(|b| b.total).collect())
        .collect();
    let chatgpt = instances[0].state.reads.catalog.get("chatgpt").unwrap().id;
    let incidents: Vec<Incident> = incidents::for_service(&instances[0].state.reads.db, chatgpt)
        .await
        .unwrap();
    Replayed {
        answers,
        minutes,
        incidents: incidents
            .iter()
            .map(|i| (i.began_at, i.started_at))
            .collect(),
    }
}

#[actix_web::test]
async fn the_seed_scenario_through_three_instances_on_a_cluster_counts_and_alarms_as_on_one_server()
{
    let scenario = Scenario::builtin("chatgpt-2025-06-10").unwrap();
    let single = deployment(None, 1, &scenario).await;
    let alone = replay(&single, &scenario).await;

    let cluster = OwnCluster::start(3, 0).await;
    let instances = deployment(Some(&cluster.url()), 3, &scenario).await;
    let client = unlimited_client();
    let mut streams = Vec::new();
    for app in &instances {
        streams.push(Sse::connect(&client, &format!("{}/v1/events", app.address)).await);
    }
    let spread = replay(&instances, &scenario).await;

    let onset = scenario.outages[0].onset;
    eprintln!(
        "seed scenario, {MINUTES} minutes: one server {:?}; cluster {:?}; onset {onset}",
        alone.answers, spread.incidents
    );
    assert_eq!(spread, alone, "the cluster counts and alarms as one server");
    let (began, started) = *spread.incidents.first().expect("an incident");
    assert_eq!(spread.incidents.len(), 1, "opened once");
    assert!(
        began >= onset - TimeDelta::minutes(2) && began <= onset + TimeDelta::minutes(3),
        "onset estimated at {began}, the outage began at {onset}"
    );
    assert!(started >= began && started <= onset + TimeDelta::minutes(15));
    for (i, stream) in streams.iter_mut().enumerate() {
        let event = stream
            .until("incident.opened", Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("instance {i} streams the incident"));
        assert_eq!(event.data["service"], "chatgpt");
    }
}
