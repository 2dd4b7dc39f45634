//! Redis Cluster mode against a real cluster of the test's own (three masters on loopback
//! ports, `tests/common/cluster.rs`): every storage path across slots and masters, readiness
//! naming a master that died, and reads of the services on the other masters going on while
//! those on its slots get a bounded 503.

use std::time::{Duration, Instant};

use downwatch::domain::ServiceSlug;
use downwatch::time::minute_of;

use crate::common::cluster::OwnCluster;
use crate::helpers::TestApp;
use crate::support::{eventually, seed, windows};

/// Services whose slots lie on more than one master of a three-master cluster.
const SERVICES: [&str; 6] = [
    "chatgpt", "discord", "github", "slack", "spotify", "youtube",
];

fn slug(s: &str) -> ServiceSlug {
    ServiceSlug::parse(s).unwrap()
}

#[actix_web::test]
async fn minutes_statuses_the_lease_and_purge_work_across_the_masters_of_a_cluster() {
    let cluster = OwnCluster::start(3, 0).await;
    let prefix = format!("dwcluster-{}", uuid::Uuid::new_v4().simple());
    let windows = windows(&cluster.url(), &prefix);
    assert!(windows.redis().is_cluster());
    let masters: std::collections::BTreeSet<u16> = SERVICES
        .iter()
        .map(|s| cluster.master_of(&windows.keys().status(&slug(s))))
        .collect();
    assert!(masters.len() >= 2, "the services span masters: {masters:?}");
    windows.redis().ping().await.unwrap();
    assert_eq!(windows.redis().diagnose().await, None);

    // Minutes of six services, read back in one call (pipelines grouped by slot).
    let now = 29_000_000;
    for (i, service) in SERVICES.iter().enumerate() {
        seed(&windows, service, now - 30, now, |m| {
            (m - now + 31) as u64 * (i as u64 + 1)
        })
        .await;
    }
    let ranges: Vec<(ServiceSlug, i64, i64)> =
        SERVICES.iter().map(|s| (slug(s), now - 40, now)).collect();
    let read = windows.minutes_many(&ranges).await.unwrap();
    for (i, minutes) in read.iter().enumerate() {
        let totals: Vec<u64> = minutes.iter().map(|b| b.total).collect();
        let expected: Vec<u64> = (now - 40..now)
            .map(|m| {
                if m < now - 30 {
                    0
                } else {
                    (m - now + 31) as u64 * (i as u64 + 1)
                }
            })
            .collect();
        assert_eq!(totals, expected, "{}", SERVICES[i]);
    }

    // Statuses of every service, written and read in order.
    let statuses: Vec<(ServiceSlug, String)> = SERVICES
        .iter()
        .map(|s| (slug(s), format!("{{\"service\":\"{s}\"}}")))
        .collect();
    windows.write_statuses(&statuses).await.unwrap();
    let mut asked: Vec<ServiceSlug> = SERVICES.iter().rev().map(|s| slug(s)).collect();
    asked.push(slug("netflix"));
    let answered = windows.read_statuses(&asked).await.unwrap();
    let mut expected: Vec<Option<String>> = SERVICES
        .iter()
        .rev()
        .map(|s| Some(format!("{{\"service\":\"{s}\"}}")))
        .collect();
    expected.push(None);
    assert_eq!(answered, expected);

    // The lease: one holder at a time.
    let at = chrono::Utc::now();
    let (first, second) = (
        windows.leader_lease(Duration::from_secs(30)),
        windows.leader_lease(Duration::from_secs(30)),
    );
    assert!(first.acquire(at).await.unwrap());
    assert!(!second.acquire(at).await.unwrap());
    assert!(first.acquire(at).await.unwrap());

    // Purge visits every master: 6 x 15 buckets (30 minutes, two to a hash), 6 statuses and
    // the lease.
    assert_eq!(windows.purge().await.unwrap(), 6 * 15 + 6 + 1);
    let after = windows.minutes_many(&ranges).await.unwrap();
    assert!(after.iter().flatten().all(|b| b.total == 0));
    assert_eq!(windows.purge().await.unwrap(), 0);
}

#[actix_web::test]
async fn a_dead_master_is_named_by_readyz_and_only_its_slots_answer_503_in_bounded_time() {
    let mut cluster = OwnCluster::start(3, 0).await;
    let app = TestApp::builder()
        .var("REDIS_URL", &cluster.url())
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "1000")
        .spawn()
        .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let windows = &app.state.reads.windows;
    let now = minute_of(downwatch::clock::Clock::now(app.clock.as_ref()));
    for service in SERVICES {
        seed(windows, service, now - 10, now, |_| 4).await;
    }

    let victim = cluster.master_of(&windows.keys().status(&slug("chatgpt")));
    let (lost, kept): (Vec<&str>, Vec<&str>) = SERVICES
        .iter()
        .partition(|s| cluster.master_of(&windows.keys().status(&slug(s))) == victim);
    assert!(!kept.is_empty(), "some services live on other masters");
    cluster.kill(victim);

    // Readiness says which node is gone.
    let detail = eventually(
        Duration::from_secs(20),
        "readyz names the dead node",
        || async {
            let reply = app.get("/readyz").await;
            (reply.status == 503).then(|| reply.json["detail"].to_string())
        },
    )
    .await;
    assert!(
        detail.contains(&format!("127.0.0.1:{victim}")),
        "readyz names 127.0.0.1:{victim}: {detail}"
    );

    // Reads of the services on the dead master fail fast; the others answer in full.
    for _ in 0..3 {
        for service in &lost {
            let started = Instant::now();
            let reply = app.get(&format!("/v1/services/{service}/minutes")).await;
            assert_eq!(reply.status, 503, "{service}: {}", reply.text);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{service}: a 503 after {:?}",
                started.elapsed()
            );
        }
        for service in &kept {
            let reply = app.get(&format!("/v1/services/{service}/minutes")).await;
            assert_eq!(reply.status, 200, "{service}: {}", reply.text);
            let total: u64 = reply
                .json
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["total"].as_u64().unwrap())
                .sum();
            assert_eq!(total, 4 * 10, "{service}: {}", reply.text);
        }
    }
}
