//! Ingest on a Redis Cluster of three masters: reports sent round-robin through three
//! instances, from many addresses to services on every master, each counted once (duplicates
//! answered as such wherever they land); one address gets one quota across the instances
//! (its rate state in a slot of its own, spent in a call of its own); and a master killed
//! during load answers 503 in bounded time for its services while the others keep counting.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use crate::common::cluster::OwnCluster;
use crate::helpers::{Reply, TestApp};
use crate::support::victim::{self, SERVICES, Victim};
use crate::support::{Load, eventually};

/// Three instances of one deployment on `cluster`: one database, one prefix, clients told
/// apart by `X-Forwarded-For`.
async fn three_instances(cluster: &OwnCluster) -> Vec<TestApp> {
    let on_cluster = || {
        TestApp::builder()
            .var("REDIS_URL", &cluster.url())
            .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
    };
    let first = on_cluster().spawn().await;
    let mut instances = Vec::new();
    for _ in 0..2 {
        let sibling = on_cluster()
            .database(&first.db_name)
            .prefix(&first.prefix)
            .spawn()
            .await;
        instances.push(sibling);
    }
    instances.insert(0, first);
    instances
}

fn body(service: &str, token: &str) -> serde_json::Value {
    json!({"service": service, "problem": "login", "reporter": token})
}

#[actix_web::test]
async fn on_a_cluster_reports_round_robin_through_three_instances_count_once_and_one_address_gets_one_quota()
 {
    let cluster = OwnCluster::start(3, 0).await;
    let instances = three_instances(&cluster).await;

    // 40 addresses, 3 reports each, spread over six services and the three instances; sent 40
    // at a time so that batches mix services and clients.
    let sends: Vec<(usize, String, &str, String)> = (0..120)
        .map(|i| {
            let address = format!("10.1.{}.{}", i % 40 / 8, i % 40);
            (i % 3, address, SERVICES[i % 6], format!("rr-token-{i:04}"))
        })
        .collect();
    let mut first = Vec::new();
    for chunk in sends.chunks(40) {
        let replies = join_all(chunk.iter().map(|(n, address, service, token)| {
            instances[*n].report_via(address, body(service, token))
        }))
        .await;
        first.extend(replies);
    }
    let statuses =
        |replies: &[Reply]| -> Vec<u16> { replies.iter().map(|r| r.status.as_u16()).collect() };
    assert_eq!(
        statuses(&first),
        vec![202; 120],
        "{:?}",
        first.last().map(|r| &r.text)
    );
    // The same reporters again, each through the next instance: every one a duplicate.
    let again = join_all(sends.iter().map(|(n, address, service, token)| {
        instances[(n + 1) % 3].report_via(address, body(service, token))
    }))
    .await;
    assert_eq!(
        statuses(&again),
        vec![200; 120],
        "{:?}",
        again.last().map(|r| &r.text)
    );
    for service in SERVICES {
        assert_eq!(instances[1].total(service, "").await, 20, "{service}");
    }

    // One address flooding through the three instances: one burst (10) in all, counted.
    let mut flood = Vec::new();
    for round in 0..10 {
        for (n, app) in instances.iter().enumerate() {
            let token = format!("flood-{round:02}-{n}");
            flood.push(app.report_via("192.0.2.77", body("sora", &token)).await);
        }
    }
    let accepted = flood.iter().filter(|r| r.status == 202).count();
    let limited = flood.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        (accepted, limited),
        (10, 20),
        "one burst across the deployment"
    );
    assert_eq!(instances[2].total("sora", "").await, 10);
}

#[actix_web::test]
async fn on_a_cluster_a_master_killed_during_load_fails_only_its_services_in_bounded_time() {
    let mut cluster = OwnCluster::start(3, 0).await;
    let app = victim::instance_on(&cluster).await;
    let Victim {
        port: victim,
        lost,
        kept,
    } = victim::choose(&app, &cluster);

    let (lost_load, kept_load) = (
        Load::start(&app, lost, 3, Duration::from_millis(20)),
        Load::start(&app, kept, 3, Duration::from_millis(20)),
    );
    victim::until_both_count(&lost_load, &kept_load, 20).await;
    cluster.kill(victim);
    let killed = Instant::now();
    // Let the load run on for a while with the master gone.
    eventually(
        Duration::from_secs(20),
        "503s for the lost service",
        || async { (lost_load.count_since(503, killed) >= 20).then_some(()) },
    )
    .await;
    let kept_after = kept_load.count_since(202, killed + Duration::from_secs(1));
    let (lost_outcomes, kept_outcomes) = (lost_load.stop().await, kept_load.stop().await);

    // The lost service: only 202 before, 503 after, and never a hang.
    let late: Vec<_> = lost_outcomes
        .iter()
        .filter(|o| o.sent > killed + Duration::from_secs(1))
        .collect();
    assert!(late.iter().all(|o| o.status == 503), "{late:?}");
    let slowest = late.iter().map(|o| o.latency).max().unwrap_or_default();
    assert!(slowest < Duration::from_secs(2), "a 503 took {slowest:?}");
    // The other service kept counting, and counted every 202 once.
    assert!(
        kept_after > 20,
        "only {kept_after} reports counted after the kill"
    );
    assert!(
        kept_outcomes.iter().all(|o| o.status == 202),
        "{:?}",
        kept_outcomes.iter().find(|o| o.status != 202)
    );
    assert_eq!(
        app.total(kept, "").await as usize,
        kept_outcomes.len(),
        "every 202 counted once"
    );
}
