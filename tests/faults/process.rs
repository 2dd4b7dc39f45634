//! downwatch itself killed (SIGKILL) and restarted mid-incident, and stopped with SIGTERM:
//! the real binary, on the system clock, with a monitor tick of one second.

use std::time::{Duration, Instant};

use chrono::Utc;
use downwatch::db::{Db, bins, incidents, services};
use downwatch::time::{BIN_MINUTES, align_down, minute_of, minute_start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::own_redis::{OwnRedis, Persistence};
use crate::support::process::Downwatch;
use crate::support::{TempDatabase, eventually, lease, seed, unlimited_client, windows};

/// Reports per minute: three quiet hours, then an outage that began nine minutes before `now`
/// and goes on past the end of the test.
fn outage_from(now: i64) -> impl Fn(i64) -> u64 {
    move |m| if m < now - 9 { 3 } else { 80 }
}

#[actix_web::test]
async fn killed_again_and_again_mid_incident_it_keeps_one_incident_and_every_rollup() {
    let redis = OwnRedis::start(Persistence::None).await;
    let database = TempDatabase::new();
    let prefix = format!("dwfault-{}", uuid::Uuid::new_v4().simple());
    let vars = [
        ("DATABASE_URL", database.url()),
        ("REDIS_URL", redis.url()),
        ("DOWNWATCH_REDIS_PREFIX", prefix.clone()),
        ("DOWNWATCH_MONITOR_TICK_SECONDS", "1".to_owned()),
    ];
    let windows = windows(&redis.url(), &prefix);
    let now = minute_of(Utc::now());
    let first = now - 200;
    let volume = outage_from(now);
    seed(&windows, "chatgpt", first, now + 5, &volume).await;

    let client = unlimited_client();
    let mut serving = Downwatch::start(&vars);
    serving.until_ready(&client).await;
    let db = Db::new(&database.url(), Duration::from_secs(5), 2).unwrap();
    let chatgpt = services::catalog_entries(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.slug.as_str() == "chatgpt")
        .unwrap()
        .id;
    let opened = eventually(Duration::from_secs(30), "the incident opens", || async {
        incidents::open_for(&db, chatgpt).await.ok().flatten()
    })
    .await;

    // Killed right after each new process takes the lease, while its first tick (a warm-up of
    // every service, a rollup, the incident's writes) is under way, at a different point each
    // time.
    let mut kills = Vec::new();
    for pause_ms in [0, 10, 30, 60, 120, 250] {
        let holder = lease(&windows).await.map(|(h, _)| h);
        serving.kill();
        let killed = Instant::now();
        serving = Downwatch::start(&vars);
        eventually(
            Duration::from_secs(20),
            "a new process takes the lease",
            || async {
                let now = lease(&windows).await.map(|(h, _)| h);
                (now.is_some() && now != holder).then_some(())
            },
        )
        .await;
        kills.push(killed.elapsed());
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
    let holder = lease(&windows).await.map(|(h, _)| h);
    serving.kill();
    let last = Downwatch::start(&vars);
    last.until_ready(&client).await;
    // It leads, and has rolled up to the bin under way and evaluated the last closed minute.
    eventually(
        Duration::from_secs(20),
        "the last process catches up",
        || async {
            let leads = lease(&windows)
                .await
                .map(|(h, _)| h)
                .is_some_and(|h| Some(h) != holder);
            let now = minute_of(Utc::now());
            let rolled = bins::complete_before(&db).await.ok().flatten();
            let status = client
                .get(last.url("/v1/services/chatgpt"))
                .send()
                .await
                .ok()?
                .json::<serde_json::Value>()
                .await
                .ok()?;
            let evaluated = status["status"]["evaluated_at"]
                .as_str()?
                .parse::<chrono::DateTime<Utc>>()
                .ok()?;
            (leads
                && rolled == Some(minute_start(align_down(now, BIN_MINUTES)))
                && evaluated == minute_start(now))
            .then_some(())
        },
    )
    .await;
    eprintln!(
        "killed 7 times; a new process held the lease {:?} after each kill",
        kills
    );

    let all = incidents::for_service(&db, chatgpt).await.unwrap();
    assert_eq!(all.len(), 1, "one outage, one incident: {all:?}");
    assert_eq!(all[0].id, opened.id);
    assert!(all[0].ended_at.is_none(), "still open: {all:?}");
    let timeline = incidents::timeline(&db, opened.id).await.unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|u| u.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "opened").count(),
        1,
        "{kinds:?}"
    );

    // Every closed bin holds exactly the sum of its minutes.
    let closed = align_down(minute_of(Utc::now()), BIN_MINUTES);
    let stored = bins::totals(
        &db,
        chatgpt,
        minute_start(first - BIN_MINUTES),
        minute_start(closed),
    )
    .await
    .unwrap();
    let expected: Vec<(chrono::DateTime<Utc>, i32)> = (align_down(first, BIN_MINUTES)..closed)
        .step_by(BIN_MINUTES as usize)
        .map(|bin| {
            let total: u64 = (bin.max(first)..bin + BIN_MINUTES).map(&volume).sum();
            (minute_start(bin), total as i32)
        })
        .collect();
    assert_eq!(stored, expected, "no bin lost or counted twice");
}

#[actix_web::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits() {
    let redis = OwnRedis::start(Persistence::None).await;
    let database = TempDatabase::new();
    let prefix = format!("dwfault-{}", uuid::Uuid::new_v4().simple());
    let vars = [
        ("DATABASE_URL", database.url()),
        ("REDIS_URL", redis.url()),
        ("DOWNWATCH_REDIS_PREFIX", prefix.clone()),
    ];
    let client = unlimited_client();
    let mut serving = Downwatch::start(&vars);
    serving.until_ready(&client).await;
    let mut live = crate::support::sse::Sse::connect(&client, &serving.url("/v1/events")).await;

    // A report whose body is still on its way when SIGTERM comes.
    let body = br#"{"service": "chatgpt", "problem": "login", "reporter": "in-flight-0001"}"#;
    let mut request = tokio::net::TcpStream::connect(("127.0.0.1", serving.port()))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nhost: downwatch\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    request.write_all(head.as_bytes()).await.unwrap();
    request.write_all(&body[..20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    serving.terminate();
    let signalled = Instant::now();
    // It stops taking connections.
    eventually(
        Duration::from_secs(10),
        "new connections refused",
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", serving.port()))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    let refused_after = signalled.elapsed();
    request.write_all(&body[20..]).await.unwrap();
    let mut answer = String::new();
    request.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    // The live event stream does not hold the drain: it ends, and the process exits well
    // before actix's 30-second shutdown timeout.
    assert!(
        live.ended(Duration::from_secs(10)).await,
        "the event stream ends"
    );
    let (status, _) = serving.exited(Duration::from_secs(40)).await;
    let exited = signalled.elapsed();
    eprintln!(
        "sigterm: new connections refused after {refused_after:?}; the request in flight \
         answered 202; exited {exited:?} after the signal"
    );
    assert!(status.success(), "{status:?}");
    assert!(
        exited < Duration::from_secs(10),
        "exited {exited:?} after SIGTERM"
    );
    let windows = windows(&redis.url(), &prefix);
    let slug = downwatch::domain::ServiceSlug::parse("chatgpt").unwrap();
    let now = minute_of(Utc::now());
    let counted: u64 = windows
        .minutes(&slug, now - 2, now + 1)
        .await
        .unwrap()
        .iter()
        .map(|m| m.total)
        .sum();
    assert_eq!(
        counted, 1,
        "the report that finished during the drain is counted"
    );
}
