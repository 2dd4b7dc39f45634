//! `rediss+cluster://`: the real binary on a Redis Cluster that speaks only TLS (clients, the
//! cluster bus, replication), trusting the test's own CA through `SSL_CERT_FILE`: ready, and
//! reports to services on every master counted once. Without the CA it is not ready, and says
//! why.

use std::time::Duration;

use serde_json::json;

use crate::common::certs::TestCerts;
use crate::common::cluster::OwnCluster;
use crate::support::process::Downwatch;
use crate::support::{TempDatabase, eventually, unlimited_client};

/// Services whose slots lie on every master of a three-master cluster.
const SERVICES: [&str; 6] = [
    "chatgpt", "discord", "github", "slack", "spotify", "youtube",
];

/// `POST /v1/reports` for `service` by `reporter`; the status.
async fn report(client: &awc::Client, instance: &Downwatch, service: &str, reporter: &str) -> u16 {
    let body = json!({"service": service, "problem": "login", "reporter": reporter});
    let mut reply = client
        .post(instance.url("/v1/reports"))
        .send_json(&body)
        .await
        .expect("an answer");
    let _ = reply.body().await;
    reply.status().as_u16()
}

#[actix_web::test]
async fn over_rediss_cluster_reports_count_once_on_every_master_and_an_untrusted_ca_is_named() {
    let certs = TestCerts::generate();
    let cluster = OwnCluster::start_tls(3, 0, &certs).await;
    let database = TempDatabase::new();
    let prefix = format!("dwtls-{}", uuid::Uuid::new_v4().simple());
    let vars = vec![
        ("DATABASE_URL", database.url()),
        ("REDIS_URL", cluster.url()),
        ("DOWNWATCH_REDIS_PREFIX", prefix),
        // Twelve reports from one address: more than the default burst.
        ("DOWNWATCH_RATE_BURST", "100".to_owned()),
    ];
    assert!(cluster.url().starts_with("rediss+cluster://"));
    let client = unlimited_client();

    let mut trusting = vars.clone();
    trusting.push(("SSL_CERT_FILE", certs.path("ca.crt")));
    let instance = Downwatch::start(&trusting);
    instance.until_ready(&client).await;
    eventually(Duration::from_secs(20), "ready over TLS", || async {
        let reply = client.get(instance.url("/readyz")).send().await.ok()?;
        reply.status().is_success().then_some(())
    })
    .await;
    for service in SERVICES {
        assert_eq!(
            report(&client, &instance, service, "tls-reporter-1").await,
            202
        );
        assert_eq!(
            report(&client, &instance, service, "tls-reporter-1").await,
            200
        );
        let mut reply = client
            .get(instance.url(&format!("/v1/services/{service}/minutes")))
            .send()
            .await
            .unwrap();
        let minutes: serde_json::Value = reply.json().await.unwrap();
        let total: u64 = minutes
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["total"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 1, "{service}");
    }
    drop(instance);

    // The system's roots alone do not trust the test's CA: not ready, and the answer says so.
    let untrusting = Downwatch::start(&vars);
    untrusting.until_ready(&client).await;
    let mut reply = client.get(untrusting.url("/readyz")).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 503);
    let body = String::from_utf8_lossy(&reply.body().await.unwrap()).into_owned();
    assert!(
        body.contains("127.0.0.1:") && body.to_lowercase().contains("certificate"),
        "{body}"
    );
}
