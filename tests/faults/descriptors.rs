//! The file-descriptor budget under attack: the real binary with a small open-file limit, and
//! clients taking every connection they can (idle connections that never send a request, and
//! event streams opened and closed in a loop past every cap), while a client on a kept-alive
//! connection, as a proxy holds one, keeps reporting and checking health.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::process::Downwatch;
use crate::support::{TempDatabase, TempPrefix, eventually};

/// The child's open-file limit: 116 set aside, 284 connections, at most 142 event streams.
const FILE_LIMIT: u64 = 400;

/// How long the attack lasts: less than the 5 s actix gives a connection to send its request
/// head, so the idle connections are held throughout.
const ATTACK: Duration = Duration::from_secs(4);

/// Descriptors `pid` holds now.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Opens an event stream, reads its greeting (or whatever refusal), and closes it.
async fn churn_one_stream(port: u16, client: usize) {
    let Ok(Ok(mut stream)) = tokio::time::timeout(
        Duration::from_secs(1),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return;
    };
    let head = format!(
        "GET /v1/events HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 203.0.113.{}\r\n\r\n",
        client % 250
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
}

/// The status of a reply, its body read to the end so that its connection goes back to the
/// client's pool (the one kept alive) instead of being closed.
async fn status_of<S>(
    reply: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
) -> Result<u16, String>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
        + Unpin,
{
    let mut reply = reply.map_err(|e| e.to_string())?;
    reply.body().await.map_err(|e| e.to_string())?;
    Ok(reply.status().as_u16())
}

#[actix_web::test]
async fn clients_taking_every_connection_cannot_starve_intake_of_descriptors() {
    let database = TempDatabase::new();
    let prefix = TempPrefix::new(&crate::helpers::redis_url());
    let vars = [
        ("DATABASE_URL", database.url()),
        ("REDIS_URL", crate::helpers::redis_url()),
        ("DOWNWATCH_REDIS_PREFIX", prefix.name().to_owned()),
        ("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let serving = Downwatch::start_with_file_limit(&vars, FILE_LIMIT);
    // One connection, kept alive between requests (a proxy's upstream connection).
    let probe = awc::Client::builder()
        .connector(awc::Connector::new().limit(1))
        .timeout(Duration::from_secs(10))
        .finish();
    serving.until_ready(&probe).await;
    let log = serving.log();
    assert!(
        log.contains("file-descriptor budget")
            && log.contains("connections=284")
            && log.contains("streams=142"),
        "the budget is planned and logged:\n{log}"
    );
    assert!(
        log.contains("DOWNWATCH_EVENTS_MAX_STREAMS lowered"),
        "the stream cap is fitted to the limit:\n{log}"
    );
    let port = serving.port();
    let pid = serving.pid();
    // The probe's connection is open before the attack begins.
    let warm = status_of(probe.get(serving.url("/healthz")).send().await).await;
    assert_eq!(warm, Ok(200));
    let idle_before = open_files(pid);
    let started = Instant::now();

    // 600 connections that never send a request: twice what the budget accepts.
    let idle = async {
        let held = idle_connections(port, 600).await;
        // Held until the attack ends.
        tokio::time::sleep(ATTACK.saturating_sub(started.elapsed())).await;
        held
    };
    // 50 clients opening and closing event streams as fast as they can.
    let churn = futures_util::future::join_all((0..50).map(|client| async move {
        let mut opened = 0;
        while started.elapsed() < ATTACK {
            churn_one_stream(port, client).await;
            opened += 1;
        }
        opened
    }));
    let probes = async {
        let mut slowest = Duration::ZERO;
        let mut most_files = 0;
        let mut answered = 0;
        while started.elapsed() < ATTACK {
            let sent = Instant::now();
            let health = status_of(probe.get(serving.url("/healthz")).send().await).await;
            assert_eq!(health, Ok(200), "after {:?}", started.elapsed());
            let report = probe
                .post(serving.url("/v1/reports"))
                // A network of its own each time (the default caps bind per address and /24).
                .insert_header((
                    "x-forwarded-for",
                    format!("198.{}.{}.1", 18 + answered / 250, answered % 250),
                ))
                .send_json(&serde_json::json!({"service": "chatgpt", "problem": "login"}))
                .await;
            let report = status_of(report).await;
            assert_eq!(report, Ok(202), "after {:?}", started.elapsed());
            slowest = slowest.max(sent.elapsed());
            most_files = most_files.max(open_files(pid));
            // The next probe as soon as this one is answered.
            answered += 1;
        }
        (slowest, most_files, answered)
    };
    let (held, opened, (slowest, most_files, answered)) = tokio::join!(idle, churn, probes);
    let streams: usize = opened.iter().sum();

    let log = serving.log();
    assert!(
        !log.contains("Too many open files"),
        "the process ran out of descriptors:\n{log}"
    );
    assert!(
        most_files < usize::try_from(FILE_LIMIT).unwrap(),
        "{most_files} descriptors open at the worst moment"
    );
    assert!(answered > 20, "only {answered} probes in {ATTACK:?}");
    assert!(
        slowest < Duration::from_millis(100),
        "health and a report took {slowest:?} at the worst, with {} idle connections held \
         and {streams} streams churned",
        held.len()
    );
    eprintln!(
        "descriptors: {idle_before} idle, {most_files} at most; {} idle connections held, \
         {streams} streams churned; {answered} probes, slowest {slowest:?}",
        held.len()
    );

    // Once the attackers leave, a new client gets in at once.
    drop(held);
    let fresh = awc::Client::default();
    eventually(
        Duration::from_secs(2),
        "a new connection answers",
        || async {
            let reply = fresh.get(serving.url("/healthz")).send().await.ok()?;
            (reply.status() == 200).then_some(())
        },
    )
    .await;
}

/// Opens up to `count` connections to `port` that never send a request.
async fn idle_connections(port: u16, count: usize) -> Vec<TcpStream> {
    let connects = (0..count).map(|_| async move {
        let connect = TcpStream::connect(("127.0.0.1", port));
        tokio::time::timeout(Duration::from_millis(500), connect)
            .await
            .ok()?
            .ok()
    });
    futures_util::future::join_all(connects)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// With an intake listener of its own (`DOWNWATCH_INTAKE_BIND`), the main listener taken to
/// its last connection does not reach intake: a client that connects afresh for each request,
/// as a browser or a phone does, still reports at once.
#[actix_web::test]
async fn a_full_main_listener_leaves_the_intake_listener_open_to_new_clients() {
    let database = TempDatabase::new();
    let prefix = TempPrefix::new(&crate::helpers::redis_url());
    let intake_port = crate::support::free_port();
    let vars = [
        ("DATABASE_URL", database.url()),
        ("REDIS_URL", crate::helpers::redis_url()),
        ("DOWNWATCH_REDIS_PREFIX", prefix.name().to_owned()),
        ("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
        ("DOWNWATCH_INTAKE_BIND", format!("127.0.0.1:{intake_port}")),
        ("DOWNWATCH_INTAKE_WORKERS", "1".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let serving = Downwatch::start_with_file_limit(&vars, FILE_LIMIT);
    serving.until_ready(&awc::Client::default()).await;
    let log = serving.log();
    assert!(
        log.contains("connections=213") && log.contains("intake_connections=71"),
        "a quarter of the 284 connections is the intake's:\n{log}"
    );
    let intake = |path: &str| format!("http://127.0.0.1:{intake_port}{path}");
    // A client without a pool: every request on a new connection.
    let fresh = || {
        awc::Client::builder()
            .timeout(Duration::from_secs(2))
            .finish()
    };
    let started = Instant::now();

    // Twice what the main listener accepts, held for the attack (actix drops a connection that
    // sends no request head after 5 s).
    let held = idle_connections(serving.port(), 430).await;
    assert!(held.len() > 213, "only {} connections held", held.len());
    let main_answered = fresh()
        .get(serving.url("/healthz"))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        main_answered.is_err(),
        "the main listener is full, so a new client waits in its backlog"
    );

    let mut slowest = Duration::ZERO;
    for n in 0..10 {
        let sent = Instant::now();
        let health = status_of(fresh().get(intake("/healthz")).send().await).await;
        assert_eq!(health, Ok(200), "health on the intake, probe {n}");
        let report = fresh()
            .post(intake("/v1/reports"))
            .insert_header(("x-forwarded-for", format!("198.18.7.{n}")))
            .send_json(&serde_json::json!({"service": "chatgpt", "problem": "login"}))
            .await;
        assert_eq!(
            status_of(report).await,
            Ok(202),
            "a report on the intake, probe {n}"
        );
        slowest = slowest.max(sent.elapsed());
    }
    // Reads are not served there: a flood has nothing to ask of it.
    let read = status_of(
        fresh()
            .get(intake("/v1/services/chatgpt/curve"))
            .send()
            .await,
    )
    .await;
    assert_eq!(read, Ok(404));
    assert!(
        started.elapsed() < ATTACK,
        "the probes ran while the main listener was held full ({:?})",
        started.elapsed()
    );
    eprintln!(
        "intake: {} connections held on the main listener; 10 new clients reported on the \
         intake, slowest {slowest:?}",
        held.len()
    );
    drop(held);
}
