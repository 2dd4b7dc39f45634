//! A master failing over to its replica while reports flow (three masters with a replica each,
//! `cluster-node-timeout` one second): its services get bounded 503s, then count again through
//! the promoted replica by themselves; the other services never stop. Every acknowledged report
//! is then sent again: a duplicate (200) proves it is still remembered, so still counted (its
//! count and its dedup entry are written by one script call, replicated as one unit). Redis
//! replicates asynchronously, so a report acknowledged in the last moments before the kill may
//! not have reached the replica: the test measures that loss and requires that it touch only
//! reports acknowledged before the kill.

use std::time::{Duration, Instant};

use crate::common::cluster::OwnCluster;
use crate::helpers::TestApp;
use crate::support::victim::{self, Victim};
use crate::support::{Load, Outcome, eventually, resend};

/// The acknowledged reports among `outcomes` that are no longer remembered (a resend counts).
async fn forgotten<'a>(app: &TestApp, service: &str, outcomes: &'a [Outcome]) -> Vec<&'a Outcome> {
    let acknowledged: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == 202).collect();
    let reporters: Vec<String> = acknowledged.iter().map(|o| o.reporter.clone()).collect();
    let again = resend(app, service, &reporters).await;
    assert!(
        again.iter().all(|s| *s == 200 || *s == 202),
        "resends answered {again:?}"
    );
    acknowledged
        .into_iter()
        .zip(again)
        .filter(|(_, status)| *status == 202)
        .map(|(o, _)| o)
        .collect()
}

#[actix_web::test]
async fn on_a_cluster_with_replicas_a_master_killed_under_load_fails_over_and_its_services_count_again()
 {
    let mut cluster = OwnCluster::start(3, 1).await;
    let app = victim::instance_on(&cluster).await;
    let Victim {
        port: victim,
        lost,
        kept,
    } = victim::choose(&app, &cluster);

    let (lost_load, kept_load) = (
        Load::start(&app, lost, 4, Duration::from_millis(10)),
        Load::start(&app, kept, 4, Duration::from_millis(10)),
    );
    victim::until_both_count(&lost_load, &kept_load, 50).await;
    cluster.kill(victim);
    let killed = Instant::now();

    // Its replica takes over, and the lost service counts again by itself.
    let back = eventually(
        Duration::from_secs(30),
        "the lost service counting again after the failover",
        || async {
            lost_load
                .first_since(202, killed + Duration::from_millis(100))
                .filter(|_| lost_load.count_since(503, killed) > 0)
        },
    )
    .await;
    let recovered = (back.sent + back.latency).duration_since(killed);
    // A while of counting after the failover, then the load stops.
    let resumed = Instant::now();
    eventually(Duration::from_secs(10), "counting on after it", || async {
        (lost_load.count_since(202, resumed) > 50).then_some(())
    })
    .await;
    let (lost_outcomes, kept_outcomes) = (lost_load.stop().await, kept_load.stop().await);
    cluster.until_ok(Duration::from_secs(10)).await;

    let statuses = |outcomes: &[Outcome], from: Instant, to: Instant| -> Vec<u16> {
        let mut seen: Vec<u16> = outcomes
            .iter()
            .filter(|o| o.sent >= from && o.sent < to)
            .map(|o| o.status)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    };
    let unavailable = lost_outcomes
        .iter()
        .filter(|o| o.sent >= killed && o.status == 503)
        .count();
    let slowest = lost_outcomes
        .iter()
        .filter(|o| o.sent >= killed)
        .map(|o| o.latency)
        .max()
        .unwrap_or_default();
    // Only 202 (counted) and 503 (bounded) on the lost service; the kept one never failed.
    assert_eq!(statuses(&lost_outcomes, killed, resumed), [202, 503]);
    assert!(
        slowest < Duration::from_secs(2),
        "an answer took {slowest:?}"
    );
    assert!(
        kept_outcomes.iter().all(|o| o.status == 202),
        "{:?}",
        kept_outcomes.iter().find(|o| o.status != 202)
    );
    assert_eq!(
        app.total(kept, "").await as usize,
        kept_outcomes.len(),
        "every 202 of the kept service counted once"
    );

    // What the failover forgot: only reports acknowledged before the kill, never after.
    let forgotten_lost = forgotten(&app, lost, &lost_outcomes).await;
    let forgotten_kept = forgotten(&app, kept, &kept_outcomes).await;
    let before_kill = lost_outcomes
        .iter()
        .filter(|o| o.status == 202 && o.sent < killed)
        .count();
    let window = forgotten_lost
        .iter()
        .map(|o| killed.duration_since(o.sent + o.latency))
        .max()
        .map_or_else(|| "-".to_owned(), |w| format!("{w:?}"));
    eprintln!(
        "failover under load: {lost} answered 202 again {recovered:?} after its master's kill \
         ({unavailable} answers 503 meanwhile, slowest answer {slowest:?}); of {before_kill} \
         reports acknowledged before the kill, {} were lost with the master (acknowledged at \
         most {window} before it); none after; {kept}: {} acknowledged, none lost",
        forgotten_lost.len(),
        kept_outcomes.len(),
    );
    assert!(forgotten_kept.is_empty(), "{forgotten_kept:?}");
    assert!(
        forgotten_lost.iter().all(|o| o.sent < killed),
        "a report acknowledged after the kill was lost: {forgotten_lost:?}"
    );
}
