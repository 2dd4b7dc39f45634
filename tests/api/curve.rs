//! Outage curves: stitched from PostgreSQL and Redis, in any zone, as JSON and CSV.

use chrono::{TimeDelta, TimeZone, Utc};
use downwatch::clock::Clock;
use downwatch::domain::ServiceSlug;
use downwatch::time::minute_of;

use crate::helpers::TestApp;
use crate::monitor::{count_direct, monitor, next_minute};

#[actix_web::test]
async fn the_curve_across_the_postgres_redis_seam_equals_the_raw_minutes() {
    let start = Utc.with_ymd_and_hms(2025, 6, 10, 6, 30, 0).unwrap();
    let app = TestApp::builder().start_at(start).spawn().await;
    let monitor = monitor(&app);
    for minute in 0..150 {
        count_direct(&app, "sora", 1 + minute % 7, "c").await;
        if minute < 110 {
            next_minute(&app, &monitor).await;
        } else {
            // The monitor stops: the last 40 minutes are only in Redis, so the seam falls
            // mid-range and both stores serve part of the curve.
            app.clock.advance(std::time::Duration::from_secs(60));
        }
    }
    let from = start;
    let to = app.clock.now();
    let query = format!("from={}&to={}", from.to_rfc3339(), to.to_rfc3339()).replace('+', "%2B");
    let raw = app.get(&format!("/v1/services/sora/minutes?{query}")).await;
    let minutes: Vec<u64> = raw
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["total"].as_u64().unwrap())
        .collect();
    assert_eq!(minutes.len(), 150);
    let per_bin: Vec<u64> = minutes.chunks(15).map(|c| c.iter().sum()).collect();

    // Redis forgets the older minutes (as retention would): PostgreSQL now serves them.
    let keys = app.state.reads.windows.keys().clone();
    let slug = ServiceSlug::parse("sora").unwrap();
    let first = minute_of(from);
    // (The pair of the last minute may hold the next one too: it is also in PostgreSQL.)
    let old: Vec<String> = (first..first + 90)
        .flat_map(|m| [keys.minute_bucket(&slug, m), keys.pair_bucket(&slug, m)])
        .collect();
    let mut redis = redis::Client::open(app.settings.redis_url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("DEL").arg(old).query(&mut redis).unwrap();

    let curve = app
        .get(&format!("/v1/services/sora/curve?{query}&step=15m"))
        .await;
    assert_eq!(curve.status, 200, "{}", curve.text);
    let points = curve.json["points"].as_array().unwrap();
    let reports: Vec<u64> = points
        .iter()
        .map(|p| p["reports"].as_f64().unwrap() as u64)
        .collect();
    assert_eq!(reports, per_bin, "no double count, no gap at the seam");
    assert_eq!(points[0]["t"], "2025-06-10T06:30:00Z");
    for field in ["from", "to"] {
        let at = curve.json[field].as_str().unwrap();
        assert!(
            at.ends_with('Z'),
            "UTC times end in Z, like the rest of the API: {at}"
        );
    }
    assert!(
        points
            .iter()
            .all(|p| p["baseline"].is_number() && p["upper"].is_number() && p["level"].is_string())
    );

    let hourly = app
        .get(&format!("/v1/services/sora/curve?{query}&step=1h"))
        .await;
    let total: f64 = hourly.json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reports"].as_f64().unwrap())
        .sum();
    assert_eq!(total as u64, minutes.iter().sum::<u64>());

    let recent_from = (to - TimeDelta::minutes(30))
        .to_rfc3339()
        .replace('+', "%2B");
    let by_minute = app
        .get(&format!(
            "/v1/services/sora/curve?from={recent_from}&step=1m"
        ))
        .await;
    let last: Vec<u64> = by_minute.json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reports"].as_f64().unwrap() as u64)
        .collect();
    assert_eq!(
        &last[..30],
        &minutes[120..],
        "1-minute points are the minutes themselves"
    );
}

#[actix_web::test]
async fn times_follow_the_zone_across_a_dst_change_and_csv_downloads_with_a_file_name() {
    let end_of_dst = Utc.with_ymd_and_hms(2025, 11, 2, 12, 0, 0).unwrap();
    let app = TestApp::builder().start_at(end_of_dst).spawn().await;
    let path = "/v1/services/chatgpt/curve?from=2025-11-02T04:00:00Z&to=2025-11-02T08:00:00Z&step=1h&tz=America/New_York";
    let curve = app.get(path).await;
    assert_eq!(curve.status, 200, "{}", curve.text);
    let times: Vec<&str> = curve.json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["t"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2025-11-02T00:00:00-04:00",
            "2025-11-02T01:00:00-04:00",
            "2025-11-02T01:00:00-05:00",
            "2025-11-02T02:00:00-05:00"
        ]
    );
    assert_eq!(curve.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        curve.header("cache-control"),
        Some("public, max-age=86400"),
        "a closed range never changes"
    );

    let etag = curve.header("etag").unwrap().to_owned();
    let again = app
        .client
        .get(format!("{}{path}", app.address))
        .insert_header(("if-none-match", etag.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // A proxy that compressed the answer sends the tag back weak: still the same curve.
    let weak = app
        .client
        .get(format!("{}{path}", app.address))
        .insert_header(("if-none-match", format!("W/{etag}")))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 304);

    let csv = app.get(&path.replace("/curve?", "/curve.csv?")).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"chatgpt-2025-11-02-1h.csv\"")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "t,reports,baseline,upper,level");
    assert_eq!(lines.len(), 5);
    assert!(
        lines[3].starts_with("2025-11-02T01:00:00-05:00,0,"),
        "{}",
        lines[3]
    );
}

#[actix_web::test]
async fn bad_curve_requests_say_what_is_allowed() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("step=10m", "step"),
        ("tz=Eastern", "tz"),
        ("from=2025-01-01T00:00:00Z", "to"),
        ("from=2025-06-01T00:00:00Z&step=1m", "step"),
        ("from=soon", "from"),
        ("from=2025-06-10T06:00:00Z&to=2025-06-10T05:00:00Z", "from"),
    ] {
        let reply = app
            .get(&format!("/v1/services/chatgpt/curve?{query}"))
            .await;
        reply.assert_problem(400, Some(field));
    }
    let reply = app.get("/v1/services/chatgpt/curve?step=10m").await;
    assert!(reply.text.contains("1m, 5m, 15m, 1h"));
    app.get("/v1/services/chatgpt/curve?step=1m&step=5m")
        .await
        .assert_problem(400, Some("step"));
    app.get("/v1/services/chatgpt/chart.svg?range=1%C3%A9")
        .await
        .assert_problem(400, Some("range"));
    app.get("/v1/services/chatgpt/chart.svg?range=99999999999999999d")
        .await
        .assert_problem(400, Some("range"));
    app.get("/v1/services/nope/curve")
        .await
        .assert_problem(404, None);
    let default = app.get("/v1/services/chatgpt/curve").await;
    assert_eq!(
        default.json["points"].as_array().unwrap().len(),
        96,
        "the last 24 hours at 15 minutes"
    );
}

#[actix_web::test]
async fn identical_reads_share_one_answer_for_the_read_cache_time() {
    let app = TestApp::builder()
        .var("DOWNWATCH_READ_CACHE_MS", "1000")
        .spawn()
        .await;
    let path = "/v1/services/chatgpt/curve?step=1m&from=2025-06-10T06:00:00Z";
    let total = |reply: &crate::helpers::Reply| -> f64 {
        reply.json["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["reports"].as_f64().unwrap())
            .sum()
    };
    let first = app.get(path).await;
    assert_eq!(total(&first), 0.0);
    let report = serde_json::json!({"service": "chatgpt", "problem": "login"});
    assert_eq!(app.report(report).await.status, 202);
    // Within the second the shared answer stands, ETag and all.
    let second = app.get(path).await;
    assert_eq!(total(&second), 0.0);
    assert_eq!(first.header("etag"), second.header("etag"));
    // A second later it is rendered afresh.
    app.clock.advance(std::time::Duration::from_secs(1));
    let third = app.get(path).await;
    assert_eq!(total(&third), 1.0);
    assert_ne!(first.header("etag"), third.header("etag"));
}
