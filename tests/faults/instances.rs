//! Instances side by side on one Redis and one PostgreSQL (the real binary, a one-second tick,
//! so a three-second lease): one monitor leader at a time, a killed leader handed over within
//! the lease, and events reaching SSE clients on every instance. The same again on a Redis
//! Cluster of three masters.

use std::time::{Duration, Instant};

use chrono::Utc;
use downwatch::db::{Db, incidents, services};
use downwatch::time::minute_of;

use crate::common::cluster::OwnCluster;
use crate::support::own_redis::{OwnRedis, Persistence};
use crate::support::process::Downwatch;
use crate::support::sse::Sse;
use crate::support::{
    TempDatabase, TempPrefix, eventually, lease, seed, unlimited_client, windows,
};

const TICK: Duration = Duration::from_secs(1);

/// Held by whichever side-by-side scenario runs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const LEASE: Duration = Duration::from_secs(3);

/// Which instances say they lead (the `downwatch_monitor_leader` gauge).
async fn leaders(instances: &[Option<Downwatch>], client: &awc::Client) -> Vec<usize> {
    let mut leading = Vec::new();
    for (i, instance) in instances.iter().enumerate() {
        if let Some(instance) = instance
            && instance.metric(client, "downwatch_monitor_leader").await == Some(1.0)
        {
            leading.push(i);
        }
    }
    leading
}

#[actix_web::test]
async fn side_by_side_one_leads_a_killed_leader_hands_over_within_the_lease_and_events_reach_all() {
    let redis = OwnRedis::start(Persistence::None).await;
    one_leader_hands_over_and_events_reach_all(&redis.url()).await;
}

#[actix_web::test]
async fn on_a_redis_cluster_one_leads_a_killed_leader_hands_over_within_the_lease_and_events_reach_all()
 {
    let cluster = OwnCluster::start(3, 0).await;
    one_leader_hands_over_and_events_reach_all(&cluster.url()).await;
}

/// Three instances on the Redis at `redis_url`: one leads; its successor, after a SIGKILL,
/// leads within the lease and finds an outage the dead leader had judged as quiet minutes,
/// and both survivors stream its `incident.opened`, which is opened once.
async fn one_leader_hands_over_and_events_reach_all(redis_url: &str) {
    // Three processes each, timed against a 3 s lease: the two variants take turns rather than
    // share two cores.
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = TempDatabase::new();
    let prefix = TempPrefix::new(redis_url);
    let vars = [
        ("DATABASE_URL", database.url()),
        ("REDIS_URL", redis_url.to_owned()),
        ("DOWNWATCH_REDIS_PREFIX", prefix.name().to_owned()),
        ("DOWNWATCH_MONITOR_TICK_SECONDS", TICK.as_secs().to_string()),
    ];
    let client = unlimited_client();
    let mut instances: Vec<Option<Downwatch>> =
        (0..3).map(|_| Some(Downwatch::start(&vars))).collect();
    let mut streams = Vec::new();
    for instance in instances.iter().flatten() {
        instance.until_ready(&client).await;
        streams.push(Sse::connect(&client, &instance.url("/v1/events")).await);
    }

    // One leader, and never two, over a few lease lengths.
    let leader = eventually(Duration::from_secs(20), "one instance leads", || async {
        match leaders(&instances, &client).await[..] {
            [one] => Some(one),
            _ => None,
        }
    })
    .await;
    let watched = Instant::now();
    while watched.elapsed() < 2 * LEASE {
        let leading = leaders(&instances, &client).await;
        assert_eq!(leading, [leader], "one leader at a time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An outage in minutes the leader has already judged (as empty): only a monitor that
    // replays them, the next leader, finds it, and announces it.
    let windows = windows(redis_url, prefix.name());
    let now = minute_of(Utc::now());
    seed(&windows, "chatgpt", now - 200, now + 5, |m| {
        if m < now - 9 { 3 } else { 80 }
    })
    .await;
    let (old_holder, old_expiry) = lease(&windows).await.expect("a lease");
    instances[leader].as_mut().unwrap().kill();
    instances[leader] = None;
    let killed = Instant::now();
    let successor = eventually(
        Duration::from_secs(20),
        "another instance leads",
        || async {
            match leaders(&instances, &client).await[..] {
                [one] => Some(one),
                _ => None,
            }
        },
    )
    .await;
    let handover = killed.elapsed();
    let (new_holder, new_expiry) = lease(&windows).await.expect("a lease");
    assert_ne!(new_holder, old_holder);
    // The new lease was taken at its expiry minus one lease length.
    let taken_after_expiry_ms = new_expiry - LEASE.as_millis() as i64 - old_expiry;

    let mut seen = Vec::new();
    for (i, stream) in streams.iter_mut().enumerate() {
        if i == leader {
            continue;
        }
        let event = stream
            .until("incident.opened", Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("instance {i} streams the incident"));
        assert_eq!(event.data["service"], "chatgpt");
        seen.push(event.id);
    }
    eprintln!(
        "two instances: leader {leader} killed; instance {successor} led {handover:?} later, \
         {taken_after_expiry_ms} ms after the old lease ran out (lease {LEASE:?}, tick \
         {TICK:?}); both survivors streamed incident.opened {seen:?}"
    );
    // A follower tries at every tick, so it takes the lease within a tick of its expiry; one
    // more tick is allowed because on a loaded two-core runner (three instances, a cluster of
    // three Redis servers and the other fault tests) a tick can start a second late: CI saw
    // 2,014 ms once.
    let late = 2 * TICK;
    assert!(
        handover <= LEASE + late + Duration::from_secs(1),
        "handover took {handover:?}"
    );
    assert!(
        (-100..=late.as_millis() as i64 + 500).contains(&taken_after_expiry_ms),
        "taken {taken_after_expiry_ms} ms after the old lease ran out"
    );
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "the same event: {seen:?}"
    );

    let db = Db::new(&database.url(), Duration::from_secs(5), 2).unwrap();
    let chatgpt = services::catalog_entries(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.slug.as_str() == "chatgpt")
        .unwrap()
        .id;
    let all = incidents::for_service(&db, chatgpt).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
}
