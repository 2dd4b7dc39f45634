//! Reads under load: one cache entry per question however it is written, breakdowns shared like
//! curves, a bound on expensive renderings with a fast 503 past it, and a database pool of the
//! monitor's own that no read flood can empty.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Reply, TestApp};

fn cached() -> crate::helpers::TestAppBuilder {
    TestApp::builder().var("DOWNWATCH_READ_CACHE_MS", "1000")
}

fn reports(reply: &Reply) -> f64 {
    reply.json["points"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .iter()
        .map(|p| p["reports"].as_f64().unwrap())
        .sum()
}

#[actix_web::test]
async fn one_instant_written_four_ways_is_one_cache_entry() {
    let app = cached().spawn().await;
    let forms = [
        "2025-06-10T06:00:00Z",
        "2025-06-10T06:00:00.0Z",
        "2025-06-10T06:00:00.00Z",
        "2025-06-10T11:30:00%2B05:30",
    ];
    let path = |from: &str| format!("/v1/services/chatgpt/curve?step=1m&from={from}");
    let first = app.get(&path(forms[0])).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(reports(&first), 0.0);
    // Counted after the first rendering: an answer rendered afresh would show it.
    let report = json!({"service": "chatgpt", "problem": "login"});
    assert_eq!(app.report(report).await.status, 202);
    for from in &forms[1..] {
        let reply = app.get(&path(from)).await;
        assert_eq!(reply.status, 200, "{from}: {}", reply.text);
        assert_eq!(reports(&reply), 0.0, "{from} rendered afresh");
        assert_eq!(reply.header("etag"), first.header("etag"), "{from}");
    }
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(reports(&app.get(&path(forms[3])).await), 1.0);
}

#[actix_web::test]
async fn breakdowns_are_shared_like_curves() {
    let app = cached().spawn().await;
    let report = json!({"service": "chatgpt", "problem": "login", "country": "US"});
    let problems = "/v1/services/chatgpt/problems?window=1h&step=15m";
    let first = app.get(problems).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["total"], 0);
    assert!(first.header("etag").is_some());
    assert_eq!(first.header("cache-control"), Some("public, max-age=15"));
    assert_eq!(app.report(report).await.status, 202);
    // `60m` is `1h`: the same question, the same answer, until it expires.
    let again = app
        .get("/v1/services/chatgpt/problems?step=15m&window=60m")
        .await;
    assert_eq!(again.json["total"], 0, "{}", again.text);
    assert_eq!(again.header("etag"), first.header("etag"));
    // Countries are another question.
    let countries = app.get("/v1/services/chatgpt/countries?window=1h").await;
    assert_eq!(countries.json["total"], 1, "{}", countries.text);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.get(problems).await.json["total"], 1);
}

#[actix_web::test]
async fn past_the_bound_on_renderings_reads_answer_503_at_once_and_reports_flow() {
    let app = cached().var("DOWNWATCH_HEAVY_READS", "2").spawn().await;
    let curve = "/v1/services/chatgpt/curve?step=1h";
    assert_eq!(app.get(curve).await.status, 200);
    // A flood holds every rendering permit of the instance.
    let held = app
        .state
        .read_cache
        .renderings()
        .acquire_many_owned(2)
        .await
        .unwrap();
    for path in [
        "/v1/services/chatgpt/curve?step=15m",
        "/v1/services/zoom/curve.csv",
        "/v1/services/chatgpt/chart.svg?range=7d",
        "/v1/services/chatgpt/countries?window=90d&step=1h",
        "/v1/status",
    ] {
        let started = Instant::now();
        let reply = app.get(path).await;
        let took = started.elapsed();
        reply.assert_problem(503, None);
        assert_eq!(reply.json["type"], "/problems/busy", "{path}");
        assert_eq!(reply.header("retry-after"), Some("1"), "{path}");
        assert!(took < Duration::from_millis(500), "{path} took {took:?}");
    }
    // What is already rendered is still served; reports and health do not wait.
    assert_eq!(app.get(curve).await.status, 200);
    let report = json!({"service": "chatgpt", "problem": "login"});
    assert_eq!(app.report(report).await.status, 202);
    assert_eq!(app.get("/healthz").await.status, 200);
    drop(held);
    assert_eq!(app.get("/v1/status").await.status, 200);
}

#[actix_web::test]
async fn a_read_flood_that_empties_the_request_pool_cannot_stop_the_monitor() {
    let app = TestApp::builder()
        .var("DOWNWATCH_DATABASE_TIMEOUT_MS", "500")
        .spawn()
        .await;
    // Every request connection (16 by default) taken, as by 128 clients reading uncached
    // curves.
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(app.state.reads.db.conn().await.unwrap());
    }
    let starved = app
        .get("/v1/services/chatgpt/curve?step=1h&from=2025-06-01T00:00:00Z")
        .await;
    starved.assert_problem(503, None);
    // The monitor, its rollups and the catalog refresh have connections of their own.
    for _ in 0..10 {
        let report = app.state.monitor.tick().await.expect("the monitor ticks");
        assert!(report.leader);
        app.clock.advance(Duration::from_secs(60));
    }
    assert!(app.state.refresh_catalog().await.unwrap() >= 35);
    let zoom = app.get("/v1/services/zoom").await;
    assert_eq!(zoom.status, 200, "{}", zoom.text);
    assert!(zoom.json["status"].is_object(), "{}", zoom.text);
    drop(held);
}

#[actix_web::test]
async fn one_address_rendering_past_its_read_limit_gets_429_and_others_do_not() {
    let app = cached()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_READ_BURST", "3")
        .spawn()
        .await;
    let get = |client: &'static str, path: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(format!("{}{path}", app.address))
                .insert_header(("x-forwarded-for", client))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    let curve =
        |day: u32| format!("/v1/services/chatgpt/curve?step=1h&from=2025-06-0{day}T00:00:00Z");
    for day in 1..=3 {
        assert_eq!(get("198.51.100.1", curve(day)).await.0, 200, "day {day}");
    }
    // A fourth fresh rendering from the same address waits; what is rendered is still served.
    let (status, retry) = get("198.51.100.1", curve(4)).await;
    assert_eq!(status, 429);
    assert_eq!(
        retry.as_deref(),
        Some("1"),
        "one rendering a second at 60 a minute"
    );
    assert_eq!(get("198.51.100.1", curve(1)).await.0, 200, "a cache hit");
    // Another address renders the same question for itself, and reports are not reads.
    assert_eq!(get("198.51.100.2", curve(4)).await.0, 200);
    let report = json!({"service": "chatgpt", "problem": "login"});
    assert_eq!(app.report_via("198.51.100.1", report).await.status, 202);
    // Its allowance comes back with time.
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(get("198.51.100.1", curve(5)).await.0, 200);
}

/// The `p`-th percentile (0-100) of `latencies`, nearest rank.
fn percentile(latencies: &mut [Duration], p: usize) -> Duration {
    latencies.sort_unstable();
    let rank = (latencies.len() * p).div_ceil(100).max(1);
    latencies[rank - 1]
}

#[actix_web::test]
async fn a_real_read_flood_at_128_connections_leaves_the_monitor_on_time_and_reports_flowing() {
    // The cache on (as deployed), every reader from an address of its own, each request a
    // question not asked before: every one is a rendering or a fast `busy`.
    let app = cached()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .var("DOWNWATCH_WORKERS", "2")
        .spawn()
        .await;
    let app = &app;
    // A monitor that has been running: its first tick (the warm-up of every service) is done.
    assert!(
        app.state
            .monitor
            .tick()
            .await
            .expect("the first tick")
            .leader
    );
    app.clock.advance(Duration::from_secs(15));
    let flooder = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(30))
        .finish();
    let flooder = &flooder;
    let started = Instant::now();
    let length = Duration::from_secs(5);
    let flood = futures_util::future::join_all((0..128u32).map(|reader| async move {
        let mut statuses = Vec::new();
        let mut asked = 0u32;
        while started.elapsed() < length {
            asked += 1;
            // Minutes back from the seed day (the clock stands at its onset).
            let minute = reader * 200 + asked;
            let from = chrono::DateTime::parse_from_rfc3339("2025-06-09T00:00:00Z").unwrap()
                - chrono::TimeDelta::minutes(i64::from(minute));
            let path = format!(
                "/v1/services/chatgpt/curve?step=15m&from={}",
                from.format("%Y-%m-%dT%H:%M:%SZ")
            );
            let sent = flooder
                .get(format!("{}{path}", app.address))
                .insert_header((
                    "x-forwarded-for",
                    format!("198.18.{}.{}", reader, asked % 250),
                ))
                .send()
                .await;
            if let Ok(mut response) = sent {
                let _ = response.body().limit(1 << 22).await;
                statuses.push(response.status().as_u16());
            }
        }
        statuses
    }));
    let monitor = async {
        let mut slowest = Duration::ZERO;
        let mut ticks = 0;
        while started.elapsed() < length {
            let tick = Instant::now();
            let report = app.state.monitor.tick().await.expect("the monitor ticks");
            assert!(report.leader);
            slowest = slowest.max(tick.elapsed());
            ticks += 1;
            // Tick after tick, as fast as they go: the tick's period is the injected clock's.
            app.clock.advance(Duration::from_secs(15));
        }
        (ticks, slowest)
    };
    let reports = async {
        let mut latencies = Vec::new();
        let mut sent = 0;
        while started.elapsed() < length {
            sent += 1;
            let at = Instant::now();
            let body = json!({"service": "zoom", "problem": "login"});
            let reply = app
                .report_via(&format!("198.19.{}.1", sent % 250), body)
                .await;
            assert_eq!(reply.status, 202, "{}", reply.text);
            // One report at a time, the next as soon as this one is answered.
            latencies.push(at.elapsed());
        }
        latencies
    };
    let (statuses, (ticks, slowest_tick), mut latencies) = tokio::join!(flood, monitor, reports);
    let statuses: Vec<u16> = statuses.into_iter().flatten().collect();
    let rendered = statuses.iter().filter(|s| **s == 200).count();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(
        rendered + busy,
        statuses.len(),
        "only renderings and fast `busy` answers: {:?}",
        statuses
            .iter()
            .filter(|s| **s != 200 && **s != 503)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(rendered > 0 && busy > 0, "{rendered} rendered, {busy} busy");
    // The monitor's tick is 15 s: each tick during the flood ends in a fraction of it. How many
    // fit in the 5 s flood depends on the machine's load: 6-8 alone on the 2-core CI machine,
    // 4 once while the other suites ran beside it (4 December), so three is the floor here;
    // the slowest tick's bound below is the check that matters.
    assert!(ticks >= 3, "{ticks} ticks");
    assert!(
        slowest_tick < Duration::from_secs(5),
        "a tick took {slowest_tick:?}"
    );
    // Every report counted. How fast is the benchmark's business (`BENCH_ONLY=flood
    // bench/run.sh`: a release build, the flood from wrk); here the flood, the reports and the
    // monitor share a debug build's two cores, and the bound only catches a stalled intake.
    let count = latencies.len();
    let p50 = percentile(&mut latencies, 50);
    let p99 = percentile(&mut latencies, 99);
    eprintln!(
        "read flood: {} reads ({rendered} rendered, {busy} busy); {ticks} ticks, slowest \
         {slowest_tick:?}; {count} reports, p50 {p50:?}, p99 {p99:?}",
        statuses.len()
    );
    assert!(p99 < Duration::from_secs(2), "reports p99 {p99:?}");
    assert_eq!(app.total("zoom", "").await, count as u64);
    let zoom = app.get("/v1/services/zoom").await;
    assert!(zoom.json["status"].is_object(), "{}", zoom.text);
}
