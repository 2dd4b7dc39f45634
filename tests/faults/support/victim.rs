//! A master to kill under load on a Redis Cluster: an instance on the cluster, a service whose
//! slot the victim holds, and a service on another master that must go on counting.

use std::time::{Duration, Instant};

use crate::common::cluster::OwnCluster;
use crate::helpers::TestApp;

use super::{Load, eventually};

/// Services whose slots lie on more than one master.
pub const SERVICES: [&str; 6] = [
    "chatgpt", "discord", "github", "slack", "spotify", "youtube",
];

/// Who loses its master and who keeps it.
pub struct Victim {
    /// The master to kill.
    pub port: u16,
    /// A service on it.
    pub lost: &'static str,
    /// A service on another master.
    pub kept: &'static str,
}

/// An instance on `cluster` with a Redis timeout of 500 ms and the rate limit out of the way.
pub async fn instance_on(cluster: &OwnCluster) -> TestApp {
    TestApp::builder()
        .var("REDIS_URL", &cluster.url())
        .var("DOWNWATCH_REDIS_TIMEOUT_MS", "500")
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await
}

/// A master of `cluster` to kill and the services on either side of it. The test's client
/// (127.0.0.1) has its shared rate state on some master: killing that one would fail every
/// report of the client, whatever the service (as for any client whose state is there), so the
/// victim is another.
pub fn choose(app: &TestApp, cluster: &OwnCluster) -> Victim {
    let keys = app.state.reads.windows.keys().clone();
    let master = |service: &str| {
        let slug = downwatch::domain::ServiceSlug::parse(service).unwrap();
        cluster.master_of(&keys.status(&slug))
    };
    let client_ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let rate_key = keys.rate_limit(&app.state.ingest.keyer.cap_key("address", client_ip));
    let rate_master = cluster.master_of(&rate_key);
    let lost = SERVICES
        .into_iter()
        .find(|s| master(s) != rate_master)
        .expect("a service apart from the client's rate state");
    let port = master(lost);
    let kept = SERVICES
        .into_iter()
        .find(|s| master(s) != port)
        .expect("a service on another master");
    Victim { port, lost, kept }
}

/// Waits until both loads have more than `counted` reports answered 202.
pub async fn until_both_count(lost: &Load, kept: &Load, counted: usize) {
    eventually(
        Duration::from_secs(10),
        "both services counting",
        || async {
            let since = Instant::now() - Duration::from_secs(60);
            (lost.count_since(202, since) > counted && kept.count_since(202, since) > counted)
                .then_some(())
        },
    )
    .await;
}
