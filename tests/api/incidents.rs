//! `GET /v1/incidents` and `GET /v1/incidents/{id}` over incidents stored as the monitor stores them.

use chrono::{DateTime, TimeDelta, Utc};
use downwatch::db::incidents::{self, Incident, Update};
use downwatch::detect::Level;
use downwatch::domain::{Counts, Evidence};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, seed_onset};

fn counts(pairs: &[(&str, u64)]) -> Counts {
    pairs.iter().map(|(k, c)| ((*k).to_owned(), *c)).collect()
}

pub async fn store(
    app: &TestApp,
    slug: &str,
    started: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
    peak_bin: i32,
) -> Uuid {
    let service_id = app.state.reads.catalog.get(slug).unwrap().id;
    let incident = Incident {
        id: Uuid::now_v7(),
        service_id,
        began_at: started,
        // Detected two minutes after the rise began.
        started_at: started + TimeDelta::minutes(2),
        ended_at: None,
        level: Level::Outage,
        highest_level: Level::Outage,
        peak_at: started + TimeDelta::minutes(40),
        peak_minute_count: 176,
        peak_bin_at: started + TimeDelta::minutes(39),
        peak_bin_count: peak_bin,
        baseline_at_peak: 41.5,
        total_reports: 9000,
        problem_counts: counts(&[("voice-mode", 6000), ("login", 2000), ("app", 1000)]),
        country_counts: counts(&[("US", 5000), ("KR", 4000)]),
        updated_at: started,
        evidence: Some(Evidence {
            window_minutes: 5,
            observed: 412.0,
            expected: 31.5,
            probability: 1e-12,
        }),
    };
    let (stored, created) = incidents::open_or_resume(&app.state.reads.db, &incident)
        .await
        .unwrap();
    assert!(created);
    let update = |at, kind: &str, level: &str| Update {
        at,
        kind: kind.parse().unwrap(),
        level: level.parse().unwrap(),
        reports: 50,
        baseline: 3.0,
    };
    incidents::add_update(
        &app.state.reads.db,
        stored.id,
        &update(started, "opened", "elevated"),
    )
    .await
    .unwrap();
    incidents::add_update(
        &app.state.reads.db,
        stored.id,
        &update(started + TimeDelta::minutes(2), "escalated", "outage"),
    )
    .await
    .unwrap();
    if let Some(ended) = ended {
        let mut resolved = stored.clone();
        resolved.ended_at = Some(ended);
        resolved.level = Level::Normal;
        incidents::save(&app.state.reads.db, &resolved)
            .await
            .unwrap();
        incidents::add_update(
            &app.state.reads.db,
            stored.id,
            &update(ended, "resolved", "normal"),
        )
        .await
        .unwrap();
    }
    stored.id
}

#[actix_web::test]
async fn incidents_list_filter_and_paginate() {
    let app = TestApp::spawn().await;
    let onset = seed_onset();
    let old = store(
        &app,
        "chatgpt",
        onset - TimeDelta::days(3),
        Some(onset - TimeDelta::days(3) + TimeDelta::hours(1)),
        300,
    )
    .await;
    let seed = store(
        &app,
        "chatgpt",
        onset,
        Some(onset + TimeDelta::hours(5)),
        2014,
    )
    .await;
    let sora = store(&app, "sora", onset + TimeDelta::minutes(4), None, 500).await;

    let all = app.get("/v1/incidents").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let ids: Vec<&str> = all.json["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [sora.to_string(), seed.to_string(), old.to_string()],
        "newest first"
    );
    assert_eq!(all.json["incidents"][0]["state"], "open");
    assert_eq!(all.json["incidents"][0]["service"]["slug"], "sora");
    assert_eq!(all.json["incidents"][1]["duration_minutes"], 300);
    assert!(all.json["next_cursor"].is_null());

    let open = app.get("/v1/incidents?state=open").await;
    assert_eq!(open.json["incidents"].as_array().unwrap().len(), 1);
    let chatgpt = app
        .get("/v1/incidents?service=chatgpt&state=resolved")
        .await;
    assert_eq!(chatgpt.json["incidents"].as_array().unwrap().len(), 2);
    let openai = app
        .get("/v1/incidents?provider=openai&since=2025-06-10T00:00:00Z")
        .await;
    assert_eq!(openai.json["incidents"].as_array().unwrap().len(), 2);

    // One at a time, following the cursor, gives each incident once.
    let mut seen = Vec::new();
    let mut path = "/v1/incidents?limit=1".to_owned();
    loop {
        let page = app.get(&path).await;
        seen.extend(
            page.json["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/incidents?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    for (query, field) in [
        ("state=closed", "state"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("since=yesterday", "since"),
        ("cursor=abc", "cursor"),
        (
            "cursor=-999999999999999999_0195a0e8f4c07b3c9d1e2f3a4b5c6d7e",
            "cursor",
        ),
        ("service=Chat%20GPT", "service"),
    ] {
        app.get(&format!("/v1/incidents?{query}"))
            .await
            .assert_problem(400, Some(field));
    }
}

#[actix_web::test]
async fn an_incident_reads_like_the_article() {
    let app = TestApp::spawn().await;
    let onset = seed_onset();
    let seed = store(&app, "chatgpt", onset, None, 2014).await;
    let sora = store(&app, "sora", onset + TimeDelta::minutes(4), None, 500).await;
    store(
        &app,
        "openai-api",
        onset - TimeDelta::days(2),
        Some(onset - TimeDelta::days(2) + TimeDelta::hours(1)),
        90,
    )
    .await;

    let reply = app
        .get(&format!("/v1/incidents/{seed}?tz=America/New_York"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json["headline"],
        "ChatGPT: problem reports rose from 2:36 AM EDT (detected 2:38 AM EDT) and peaked at \
         2,014 around 3:15 AM EDT"
    );
    assert_eq!(reply.json["incident"]["began_at"], "2025-06-10T06:36:00Z");
    assert_eq!(reply.json["incident"]["started_at"], "2025-06-10T06:38:00Z");
    assert_eq!(
        reply.json["incident"]["evidence"],
        json!({"window_minutes": 5, "observed": 412.0, "expected": 31.5, "probability": 1e-12})
    );
    assert_eq!(reply.json["tz"], "America/New_York");
    assert_eq!(reply.json["incident"]["peak_bin_count"], 2014);
    assert_eq!(reply.json["incident"]["state"], "open");
    assert_eq!(
        reply.json["top_problems"][0],
        json!({"problem": "voice-mode", "count": 6000, "share": 0.667})
    );
    assert_eq!(reply.json["top_countries"][1]["country"], "KR");
    let kinds: Vec<&str> = reply.json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "escalated"]);
    let related: Vec<&str> = reply.json["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        related,
        [sora.to_string()],
        "only overlapping incidents of the same provider"
    );

    let utc = app.get(&format!("/v1/incidents/{seed}")).await;
    assert!(
        utc.json["headline"]
            .as_str()
            .unwrap()
            .contains("6:36 AM UTC")
    );
    app.get(&format!("/v1/incidents/{seed}?tz=Eastern"))
        .await
        .assert_problem(400, Some("tz"));
    app.get("/v1/incidents/not-a-uuid")
        .await
        .assert_problem(400, Some("id"));
    app.get(&format!("/v1/incidents/{}", Uuid::now_v7()))
        .await
        .assert_problem(404, None);
}
