//! Alerts end to end: subscriptions through the admin API, incident changes written as the
//! monitor writes them, the dispatcher delivering to a real receiver on loopback.

mod receiver;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use downwatch::alerts::{Dispatcher, TargetPolicy};
use downwatch::clock::Clock;
use downwatch::db::incidents;
use downwatch::domain::{Counts, Incident, Level, Update};
use futures_util::future::join_all;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::helpers::{TestApp, seed_onset};
use receiver::{Received, Receiver};

const LOCAL: TargetPolicy = TargetPolicy {
    allow_http: true,
    allow_private: true,
};

/// An instance whose webhooks may reach loopback over plain http, as local testing needs.
async fn app() -> TestApp {
    TestApp::builder()
        .var("DOWNWATCH_WEBHOOK_ALLOW_HTTP", "true")
        .var("DOWNWATCH_WEBHOOK_ALLOW_PRIVATE", "true")
        .var("DOWNWATCH_PUBLIC_URL", "https://downwatch.example")
        .start_at(seed_onset())
        .spawn()
        .await
}

fn dispatcher(app: &TestApp, policy: TargetPolicy) -> Dispatcher {
    Dispatcher::new(
        app.state.reads.db.clone(),
        app.clock.clone(),
        policy,
        "https://downwatch.example".to_owned(),
        Duration::from_secs(5),
    )
}

/// Subscribes `url` in `format`; returns the id and the secret.
async fn subscribe(app: &TestApp, url: &str, format: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": format!("{format} receiver"), "url": url, "format": format});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let reply = app.admin("POST", "/v1/admin/subscriptions", &body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (
        reply.json["id"].as_str().unwrap().to_owned(),
        reply.json["secret"].as_str().unwrap().to_owned(),
    )
}

/// Verifies a delivery's signature from scratch, as a receiver would.
fn verify(secret: &str, received: &Received) {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(received.signature, expected, "signature of {}", received.id);
}

fn update(at: chrono::DateTime<chrono::Utc>, kind: &str, level: Level) -> Update {
    Update {
        at,
        kind: kind.parse().unwrap(),
        level,
        reports: 120,
        baseline: 4.0,
    }
}

/// Writes an incident's opening, escalation and resolution as the monitor does.
async fn outage(app: &TestApp, slug: &str) -> Uuid {
    let db = &app.state.reads.db;
    let began = seed_onset();
    let mut incident = Incident {
        id: Uuid::now_v7(),
        service_id: app.state.reads.catalog.get(slug).unwrap().id,
        began_at: began,
        started_at: began + TimeDelta::minutes(2),
        ended_at: None,
        level: Level::Elevated,
        highest_level: Level::Elevated,
        peak_at: began + TimeDelta::minutes(2),
        peak_minute_count: 40,
        peak_bin_at: began,
        peak_bin_count: 90,
        baseline_at_peak: 12.0,
        total_reports: 90,
        problem_counts: Counts::new(),
        country_counts: Counts::new(),
        updated_at: began + TimeDelta::minutes(2),
        evidence: None,
    };
    let opened = update(incident.started_at, "opened", Level::Elevated);
    incidents::open_with_update(db, &incident, &opened)
        .await
        .unwrap();
    incident.level = Level::Outage;
    incident.highest_level = Level::Outage;
    let escalated = update(began + TimeDelta::minutes(5), "escalated", Level::Outage);
    incidents::record_change(db, &incident, &escalated)
        .await
        .unwrap();
    incident.level = Level::Normal;
    incident.ended_at = Some(began + TimeDelta::hours(2));
    let resolved = update(began + TimeDelta::hours(2), "resolved", Level::Normal);
    incidents::record_change(db, &incident, &resolved)
        .await
        .unwrap();
    incident.id
}

/// The subscription's delivery log, newest first.
async fn delivery_log(app: &TestApp, id: &str) -> crate::helpers::Reply {
    app.admin(
        "GET",
        &format!("/v1/admin/subscriptions/{id}/deliveries"),
        &json!(null),
    )
    .await
}

async fn ticks(app: &TestApp, dispatcher: &Dispatcher, n: usize) {
    for _ in 0..n {
        dispatcher.tick().await.unwrap();
        app.clock.advance(Duration::from_secs(1));
    }
}

#[actix_web::test]
async fn an_incident_reaches_every_format_in_order_and_signed() {
    let app = app().await;
    let receiver = Receiver::start(0);
    let mut secrets = Vec::new();
    for format in ["json", "slack", "discord", "alertmanager"] {
        let url = format!("{}/{format}", receiver.url);
        secrets.push((format, subscribe(&app, &url, format, json!({})).await.1));
    }
    // Only outages of OpenAI services: ChatGPT's elevated opening is not news to it.
    let (_, picky_secret) = subscribe(
        &app,
        &format!("{}/picky", receiver.url),
        "json",
        json!({"min_level": "outage", "providers": ["openai"]}),
    )
    .await;
    let id = outage(&app, "chatgpt").await;
    outage(&app, "claude").await;
    let sender = dispatcher(&app, LOCAL);
    ticks(&app, &sender, 8).await;

    let json_events: Vec<Value> = receiver
        .at("/json")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    let chatgpt: Vec<&str> = json_events
        .iter()
        .filter(|e| e["service"]["slug"] == "chatgpt")
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        chatgpt,
        ["incident.opened", "incident.escalated", "incident.resolved"]
    );
    assert_eq!(json_events.len(), 6, "both incidents, nothing twice");
    let first = &json_events[0];
    assert_eq!(first["incident"]["id"], id.to_string());
    assert_eq!(first["incident"]["began_at"], "2025-06-10T06:36:00Z");
    assert_eq!(first["level"], "elevated");
    assert!(
        first["headline"]
            .as_str()
            .unwrap()
            .starts_with("ChatGPT: problem reports rose from 6:36 AM UTC"),
        "{first}"
    );
    assert_eq!(
        first["links"]["incident"],
        format!("https://downwatch.example/incidents/{id}")
    );
    assert!(
        first["links"]["csv"]
            .as_str()
            .unwrap()
            .starts_with("https://downwatch.example/v1/services/chatgpt/curve.csv?from=")
    );

    for (format, secret) in &secrets {
        let got = receiver.at(&format!("/{format}"));
        assert_eq!(got.len(), 6, "{format}");
        let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 6, "{format}: one webhook-id per event");
        got.iter().for_each(|r| verify(secret, r));
    }
    let slack: Value = serde_json::from_str(&receiver.at("/slack")[1].body).unwrap();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("Outage: ChatGPT"),
        "{slack}"
    );
    assert_eq!(slack["blocks"][0]["type"], "section");
    let discord: Value = serde_json::from_str(&receiver.at("/discord")[2].body).unwrap();
    assert_eq!(
        discord["embeds"][0]["url"],
        format!("https://downwatch.example/incidents/{id}")
    );
    assert_eq!(discord["content"], "Resolved: ChatGPT");
    let alerts: Vec<Value> = receiver
        .at("/alertmanager")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(alerts[0]["version"], "4");
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[0]["alerts"][0]["labels"]["service"], "chatgpt");
    assert_eq!(
        alerts[0]["alerts"][0]["labels"]["alertname"],
        "DownwatchIncident"
    );
    assert_eq!(alerts[2]["status"], "resolved");
    assert_eq!(alerts[2]["alerts"][0]["endsAt"], "2025-06-10T08:36:00Z");

    let picky = receiver.at("/picky");
    let kinds: Vec<String> = picky
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        ["incident.escalated", "incident.resolved"],
        "outages of openai only"
    );
    picky.iter().for_each(|r| verify(&picky_secret, r));
    receiver.stop().await;
}

#[actix_web::test]
async fn failures_are_retried_with_backoff_and_logged() {
    let app = app().await;
    let receiver = Receiver::start(0);
    receiver.answer(&[500, 500]);
    let (id, _) = subscribe(
        &app,
        &format!("{}/flaky", receiver.url),
        "json",
        json!({"kinds": ["opened"]}),
    )
    .await;
    outage(&app, "chatgpt").await;
    let sender = dispatcher(&app, LOCAL);
    let mut retries = Vec::new();
    for _ in 0..3 {
        let report = sender.tick().await.unwrap();
        assert_eq!(report.attempted, 1);
        let log = delivery_log(&app, &id).await;
        assert_eq!(log.status, 200, "{}", log.text);
        let delivery = &log.json["deliveries"][0];
        if delivery["state"] == "pending" {
            let next: chrono::DateTime<chrono::Utc> = delivery["next_attempt_at"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let wait = next - app.clock.now();
            retries.push(wait);
            // Not due before its time.
            assert_eq!(sender.tick().await.unwrap().attempted, 0);
            app.clock
                .advance(wait.to_std().unwrap() + Duration::from_secs(1));
        }
    }
    assert_eq!(retries.len(), 2);
    assert!(
        retries[0] >= TimeDelta::seconds(8) && retries[0] <= TimeDelta::seconds(12),
        "{retries:?}"
    );
    assert!(
        retries[1] >= TimeDelta::seconds(16) && retries[1] <= TimeDelta::seconds(24),
        "{retries:?}"
    );
    let log = delivery_log(&app, &id).await;
    let delivery = &log.json["deliveries"][0];
    assert_eq!(delivery["state"], "delivered");
    let statuses: Vec<i64> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(delivery["attempts"][2]["response"], "noted");
    let got = receiver.at("/flaky");
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one webhook-id on every attempt"
    );
    // Delivered means done.
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(sender.tick().await.unwrap().attempted, 0);
    receiver.stop().await;
}

#[actix_web::test]
async fn a_receiver_down_across_a_restart_gets_the_event_once() {
    let app = app().await;
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    subscribe(
        &app,
        &format!("http://127.0.0.1:{port}/later"),
        "json",
        json!({"kinds": ["opened"]}),
    )
    .await;
    outage(&app, "chatgpt").await;
    {
        let before_restart = dispatcher(&app, LOCAL);
        let report = before_restart.tick().await.unwrap();
        assert_eq!((report.attempted, report.delivered), (1, 0));
    }
    let receiver = Receiver::start(port);
    let after_restart = dispatcher(&app, LOCAL);
    app.clock.advance(Duration::from_secs(60));
    ticks(&app, &after_restart, 3).await;
    app.clock.advance(Duration::from_secs(3600));
    ticks(&app, &after_restart, 3).await;
    assert_eq!(receiver.at("/later").len(), 1, "delivered once");
    receiver.stop().await;
}

#[actix_web::test]
async fn two_instances_never_send_the_same_delivery() {
    let app = app().await;
    let receiver = Receiver::start(0);
    for n in 0..4 {
        subscribe(&app, &format!("{}/r{n}", receiver.url), "json", json!({})).await;
    }
    for slug in ["chatgpt", "claude", "sora"] {
        outage(&app, slug).await;
    }
    let (one, two) = (dispatcher(&app, LOCAL), dispatcher(&app, LOCAL));
    for _ in 0..12 {
        join_all([one.tick(), two.tick()]).await;
        app.clock.advance(Duration::from_secs(1));
    }
    let received = receiver.received();
    assert_eq!(received.len(), 4 * 9, "every delivery made");
    let ids: std::collections::BTreeSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), received.len(), "none made twice");
    receiver.stop().await;
}

#[actix_web::test]
async fn private_targets_are_refused_at_creation_and_at_delivery() {
    let strict = TestApp::spawn().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost:9443/hook",
        "https://169.254.169.254/latest/meta-data",
        "http://hooks.example.com/plain",
    ] {
        strict
            .admin(
                "POST",
                "/v1/admin/subscriptions",
                &json!({"name": "x", "url": url, "format": "json"}),
            )
            .await
            .assert_problem(400, Some("url"));
    }
    // Subscribed where it was allowed, then delivered by an instance that does not allow it.
    let app = app().await;
    let receiver = Receiver::start(0);
    let (id, _) = subscribe(
        &app,
        &format!("{}/inside", receiver.url),
        "json",
        json!({"kinds": ["opened"]}),
    )
    .await;
    outage(&app, "chatgpt").await;
    let sender = dispatcher(
        &app,
        TargetPolicy {
            allow_http: true,
            allow_private: false,
        },
    );
    sender.tick().await.unwrap();
    assert!(
        receiver.received().is_empty(),
        "nothing reached the private address"
    );
    let log = delivery_log(&app, &id).await;
    let error = log.json["deliveries"][0]["attempts"][0]["error"]
        .as_str()
        .unwrap();
    assert!(
        error.contains("refused") && error.contains("127.0.0.1"),
        "{error}"
    );
    receiver.stop().await;
}

#[actix_web::test]
async fn subscriptions_are_managed_by_admins_and_a_test_event_arrives() {
    let app = app().await;
    app.get("/v1/admin/subscriptions")
        .await
        .assert_problem(401, None);
    let bad = app
        .admin(
            "POST",
            "/v1/admin/subscriptions",
            &json!({"name": "", "url": "nope", "format": "teams", "kinds": ["boom"]}),
        )
        .await;
    bad.assert_problem(400, Some("name"));
    for field in ["url", "format", "kinds"] {
        assert!(
            bad.text.contains(&format!("\"{field}\"")),
            "{field}: {}",
            bad.text
        );
    }
    let receiver = Receiver::start(0);
    let (id, secret) = subscribe(&app, &format!("{}/t", receiver.url), "slack", json!({})).await;
    let listed = app
        .admin("GET", "/v1/admin/subscriptions", &json!(null))
        .await;
    assert_eq!(listed.json["subscriptions"][0]["id"], id.as_str());
    assert!(
        listed.json["subscriptions"][0].get("secret").is_none(),
        "shown once"
    );
    let patched = app
        .admin(
            "PATCH",
            &format!("/v1/admin/subscriptions/{id}"),
            &json!({"min_level": "outage", "kinds": ["opened", "resolved"]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json["min_level"], "outage");
    assert_eq!(patched.json["kinds"], json!(["opened", "resolved"]));
    assert_eq!(patched.json["format"], "slack");

    let queued = app
        .admin(
            "POST",
            &format!("/v1/admin/subscriptions/{id}/test"),
            &json!(null),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    dispatcher(&app, LOCAL).tick().await.unwrap();
    let got = receiver.at("/t");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, queued.json["webhook_id"].as_str().unwrap());
    verify(&secret, &got[0]);
    assert!(
        got[0]
            .body
            .contains("Test: this is what a downwatch alert looks like")
    );

    let gone = app
        .admin(
            "DELETE",
            &format!("/v1/admin/subscriptions/{id}"),
            &json!(null),
        )
        .await;
    assert_eq!(gone.status, 204);
    app.admin(
        "GET",
        &format!("/v1/admin/subscriptions/{id}"),
        &json!(null),
    )
    .await
    .assert_problem(404, None);
    receiver.stop().await;
}

#[actix_web::test]
async fn a_target_that_keeps_refusing_is_paused_until_enabled_again() {
    let app = app().await;
    let receiver = Receiver::start(0);
    receiver.answer(&[404; 5]);
    let (id, _) = subscribe(
        &app,
        &format!("{}/gone", receiver.url),
        "discord",
        json!({"kinds": ["opened"]}),
    )
    .await;
    outage(&app, "chatgpt").await;
    let sender = dispatcher(&app, LOCAL);
    for _ in 0..8 {
        sender.tick().await.unwrap();
        app.clock.advance(Duration::from_secs(3600));
    }
    assert_eq!(receiver.at("/gone").len(), 5, "no attempt after the pause");
    let paused = app
        .admin(
            "GET",
            &format!("/v1/admin/subscriptions/{id}"),
            &json!(null),
        )
        .await;
    assert_eq!(paused.json["enabled"], false);
    let reason = paused.json["paused_reason"].as_str().unwrap();
    assert!(
        reason.contains("5 permanent failures") && reason.contains("404"),
        "{reason}"
    );
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics
            .contains("downwatch_webhook_deliveries_total{outcome=\"retry\",format=\"discord\"}"),
        "{metrics}"
    );

    // Enabled again: the pause is forgotten and the waiting delivery goes out.
    let enabled = app
        .admin(
            "PATCH",
            &format!("/v1/admin/subscriptions/{id}"),
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(enabled.json["paused_reason"], Value::Null);
    sender.tick().await.unwrap();
    assert_eq!(receiver.at("/gone").len(), 6);
    receiver.stop().await;
}
