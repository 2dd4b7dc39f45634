//! Monitor shards: two instances split the services, each evaluated by exactly one of them
//! every tick, and a dead instance's shards move to the other within the lease, mid-incident.

use std::collections::HashSet;
use std::time::Duration;

use downwatch::clock::Clock;
use downwatch::db::incidents;
use downwatch::monitor::{Monitor, TickReport, shard_of};
use uuid::Uuid;

use super::count_direct;
use crate::helpers::TestApp;

const SHARDS: u32 = 4;
/// Ticks a minute apart, the lease three ticks, as in production (15 s and 45 s).
const TICK: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_secs(180);

fn sharded(app: &TestApp) -> Monitor {
    super::monitor_with_lease(app, LEASE).with_shards(SHARDS)
}

/// Every service of the catalog.
fn service_ids(app: &TestApp) -> Vec<Uuid> {
    app.state
        .reads
        .catalog
        .entries()
        .iter()
        .map(|e| e.id)
        .collect()
}

/// The services of the shards a tick held.
fn services_of(all: &[Uuid], report: &TickReport) -> HashSet<Uuid> {
    all.iter()
        .copied()
        .filter(|id| report.shards.contains(&shard_of(*id, SHARDS)))
        .collect()
}

/// Both monitors tick at the same moment: between them they evaluate every service once.
async fn tick_both(all: &[Uuid], a: &Monitor, b: &Monitor) -> (TickReport, TickReport) {
    let (ra, rb) = (a.tick().await.unwrap(), b.tick().await.unwrap());
    let (sa, sb) = (services_of(all, &ra), services_of(all, &rb));
    assert!(sa.is_disjoint(&sb), "{:?} and {:?}", ra.shards, rb.shards);
    assert_eq!(sa.len() + sb.len(), all.len(), "{ra:?} {rb:?}");
    assert_eq!((ra.services, rb.services), (sa.len(), sb.len()));
    (ra, rb)
}

#[actix_web::test]
async fn two_monitors_split_the_shards_and_a_dead_ones_move_within_the_lease() {
    let app = TestApp::spawn().await;
    let all = service_ids(&app);
    let (a, b) = (sharded(&app), sharded(&app));
    // Alone, `a` takes every shard; `b` finds them held, and gets half once `a` lets go.
    let first = a.tick().await.unwrap();
    assert_eq!(first.shards, vec![0, 1, 2, 3]);
    assert_eq!(first.services, all.len());
    assert!(!b.tick().await.unwrap().leader, "every shard is held");
    app.clock.advance(TICK);
    let (ra, rb) = tick_both(&all, &a, &b).await;
    assert_eq!(
        (ra.shards, rb.shards),
        (vec![0, 1], vec![2, 3]),
        "a keeps its fair share and lets go of the rest, which b takes"
    );

    // A service's outage, in the shard of one of them.
    let chatgpt = app.state.reads.catalog.get("chatgpt").unwrap().id;
    let b_leads = shard_of(chatgpt, SHARDS) >= 2;
    let minute = |count: usize, tag: &'static str| {
        let (app, all, a, b) = (&app, &all, &a, &b);
        async move {
            count_direct(app, "chatgpt", count, tag).await;
            app.clock.advance(TICK);
            let (ra, rb) = tick_both(all, a, b).await;
            assert_eq!(ra.watched + rb.watched, all.len(), "each watches its own");
        }
    };
    for _ in 0..80 {
        minute(3, "q").await;
    }
    for _ in 0..10 {
        minute(30, "o").await;
    }
    let open = incidents::open_for(&app.state.reads.db, chatgpt)
        .await
        .unwrap()
        .expect("the outage opened an incident");

    // The monitor leading chatgpt's shard dies; the other one goes on ticking.
    let (survivor, dead_shards) = if b_leads {
        (&a, vec![2, 3])
    } else {
        (&b, vec![0, 1])
    };
    let died_at = app.clock.now();
    let mut took_over = None;
    for m in 0..60 {
        count_direct(&app, "chatgpt", if m < 5 { 30 } else { 3 }, "t").await;
        app.clock.advance(TICK);
        let report = survivor.tick().await.unwrap();
        let now = app.clock.now();
        let lapsed = now >= died_at + LEASE;
        if took_over.is_none() && report.shards.len() == SHARDS as usize {
            took_over = Some(now);
        }
        assert_eq!(
            dead_shards.iter().all(|s| report.shards.contains(s)),
            lapsed,
            "the dead one's shards move once its lease lapses, not before ({now})"
        );
        if lapsed {
            assert_eq!(
                report.services,
                all.len(),
                "the survivor evaluates everyone"
            );
        }
    }
    assert_eq!(took_over, Some(died_at + LEASE), "within the lease");

    let all_incidents = incidents::for_service(&app.state.reads.db, chatgpt)
        .await
        .unwrap();
    assert_eq!(
        all_incidents.len(),
        1,
        "the survivor resumed it: {all_incidents:?}"
    );
    assert_eq!(all_incidents[0].id, open.id);
    assert!(all_incidents[0].ended_at.is_some(), "and resolved it");
    let kinds: Vec<&str> = incidents::timeline(&app.state.reads.db, open.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.kind.as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "opened").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.last().copied(), Some("resolved"), "{kinds:?}");
}

/// The shard leases on a Redis Cluster: their keys share the `{monitor}` hash tag, so the one
/// script that takes, renews and balances them runs on one master.
#[actix_web::test]
async fn on_a_redis_cluster_two_monitors_split_the_shards() {
    let cluster = crate::common::cluster::OwnCluster::start(3, 0).await;
    let app = TestApp::builder()
        .var("REDIS_URL", &cluster.url())
        .spawn()
        .await;
    let all = service_ids(&app);
    let (a, b) = (sharded(&app), sharded(&app));
    assert_eq!(a.tick().await.unwrap().shards, vec![0, 1, 2, 3]);
    assert!(
        b.tick().await.unwrap().shards.is_empty(),
        "every shard is held"
    );
    app.clock.advance(TICK);
    let (ra, rb) = tick_both(&all, &a, &b).await;
    assert_eq!((ra.shards, rb.shards), (vec![0, 1], vec![2, 3]));
}
