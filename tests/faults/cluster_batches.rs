//! Group commit on a Redis Cluster: reports that arrive together go out in one call per hash
//! slot, and a batch never mixes slots, so a dead master delays only the reports of its own
//! slots. (Were batches to mix slots, every report sharing a batch with a dead master's service
//! would be answered only at that call's deadline.)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use downwatch::domain::{ProblemKind, ReporterKey, ServiceSlug};
use downwatch::store::StoreError;
use downwatch::windows::{CountRequest, KeySchema, RedisConn, Windows};
use futures_util::future::join_all;
use redis::cluster_routing::Slot;

use crate::common::cluster::OwnCluster;

/// Services whose slots lie on more than one master of a three-master cluster.
const SERVICES: [&str; 6] = [
    "chatgpt", "discord", "github", "slack", "spotify", "youtube",
];

/// How long a report waits for Redis before its 503.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Counts `per_service` new reporters of each of `services` at once (one thread, so they
/// queue together), each answer with the time it took.
async fn count_together(
    windows: &Windows,
    services: &[ServiceSlug],
    per_service: usize,
    tag: &str,
) -> Vec<(usize, Result<bool, StoreError>, Duration)> {
    let problem = ProblemKind::parse("login").unwrap();
    let at = Utc::now();
    let reports: Vec<(usize, String)> = (0..per_service)
        .flat_map(|r| (0..services.len()).map(move |s| (s, format!("{tag}-{s}-{r}"))))
        .collect();
    let started = Instant::now();
    join_all(reports.iter().map(|(s, label)| {
        let request = CountRequest {
            service: &services[*s],
            reporter: ReporterKey::from_label(label),
            problem: &problem,
            country: None,
            at,
        };
        async move {
            let answer = windows.count(request).await;
            (*s, answer, started.elapsed())
        }
    }))
    .await
}

#[actix_web::test]
async fn on_a_cluster_reports_go_out_one_call_per_slot_and_a_dead_master_delays_only_its_own() {
    let mut cluster = OwnCluster::start(3, 0).await;
    let prefix = format!("dwbatch-{}", uuid::Uuid::new_v4().simple());
    let keys = KeySchema::new(&prefix);
    let redis = RedisConn::new(&cluster.url(), TIMEOUT).unwrap();
    let windows = Windows::new(
        redis,
        keys.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    let services: Vec<ServiceSlug> = SERVICES
        .iter()
        .map(|s| ServiceSlug::parse(s).unwrap())
        .collect();
    let slots: HashSet<Slot> = services
        .iter()
        .map(|s| Slot::for_key(keys.status(s)))
        .collect();

    // 20 reports of each of six services at once: one call per slot, each carrying its slot's.
    let answers = count_together(&windows, &services, 20, "before").await;
    assert!(answers.iter().all(|(_, a, _)| matches!(a, Ok(true))));
    let carried = windows.carried();
    assert_eq!(carried.items, 120);
    assert_eq!(carried.calls, slots.len() as u64, "one call per slot");

    // A master dies; its services' reports wait for their deadline, nobody else's do.
    let master = |s: &ServiceSlug| cluster.master_of(&keys.status(s));
    let victim = master(&services[0]);
    let lost: Vec<bool> = services.iter().map(|s| master(s) == victim).collect();
    assert!(lost.contains(&false), "services on other masters");
    cluster.kill(victim);
    for wave in 0..3 {
        let answers = count_together(&windows, &services, 10, &format!("after-{wave}")).await;
        for (s, answer, took) in &answers {
            if lost[*s] {
                assert!(
                    matches!(answer, Err(StoreError::Unavailable(_))),
                    "{}: {answer:?}",
                    SERVICES[*s]
                );
                assert!(
                    took < &(TIMEOUT * 2),
                    "{}: a 503 after {took:?}",
                    SERVICES[*s]
                );
            } else {
                assert!(matches!(answer, Ok(true)), "{}: {answer:?}", SERVICES[*s]);
                // Answered before the lost reports' deadline: not held by the dead master.
                assert!(took < &TIMEOUT, "{}: answered after {took:?}", SERVICES[*s]);
            }
        }
    }
    let now = Utc::now().timestamp() / 60;
    for (s, service) in services.iter().enumerate().filter(|(s, _)| !lost[*s]) {
        let minutes = windows.minutes(service, now - 2, now + 1).await.unwrap();
        let total: u64 = minutes.iter().map(|m| m.total).sum();
        assert_eq!(total, 20 + 3 * 10, "{}", SERVICES[s]);
    }
}
