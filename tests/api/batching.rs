//! Group commit and lean dedup against the real Redis: reports counted together still get
//! their own answers, a failed call acknowledges nothing it did not count, and dedup and the
//! caps hold exactly across the boundary of their epochs.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use downwatch::domain::{ProblemKind, ReporterKey, ServiceSlug};
use downwatch::store::StoreError;
use downwatch::windows::{CapKeys, CapScope, Caps, CountRequest, Counted, SharedRate, Windows};
use futures_util::future::join_all;

use downwatch::clock::Clock;

use crate::helpers::{TestApp, redis_url};

fn windows(app: &TestApp) -> &Windows {
    &app.state.reads.windows
}

/// Counts each `(service, reporter label)` at `at`, all at once (so they share calls).
async fn count_together(
    windows: &Windows,
    reports: &[(&str, String)],
    at: DateTime<Utc>,
) -> Vec<Result<bool, StoreError>> {
    let problem = ProblemKind::parse("login").unwrap();
    let services: Vec<ServiceSlug> = reports
        .iter()
        .map(|(slug, _)| ServiceSlug::parse(slug).unwrap())
        .collect();
    join_all(reports.iter().zip(&services).map(|((_, label), service)| {
        windows.count(CountRequest {
            service,
            reporter: ReporterKey::from_label(label),
            problem: &problem,
            country: None,
            at,
        })
    }))
    .await
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[actix_web::test]
async fn reports_counted_together_each_get_their_own_answer() {
    let app = TestApp::spawn().await;
    let at = app.clock.now();
    let windows = windows(&app);
    // Counted before: its reporter is a duplicate in the batch below.
    let earlier = count_together(windows, &[("chatgpt", "person-early".into())], at).await;
    assert!(matches!(earlier[..], [Ok(true)]));
    let before = windows.carried();

    let mut reports: Vec<(&str, String)> = (0..50)
        .map(|i| ("chatgpt", format!("person-{i}")))
        .collect();
    // The same reporters again in the same batch, and on another service (not duplicates).
    reports.extend((0..10).map(|i| ("chatgpt", format!("person-{i}"))));
    reports.extend((0..10).map(|i| ("sora", format!("person-{i}"))));
    reports.push(("chatgpt", "person-early".into()));
    let answers = count_together(windows, &reports, at).await;

    let expected: Vec<bool> = (0..50)
        .map(|_| true)
        .chain((0..10).map(|_| false))
        .chain((0..10).map(|_| true))
        .chain([false])
        .collect();
    let got: Vec<bool> = answers.into_iter().map(|a| a.unwrap()).collect();
    assert_eq!(got, expected);
    let carried = windows.carried();
    assert_eq!(carried.items - before.items, 71);
    assert!(
        carried.calls - before.calls <= 2,
        "71 reports at once took {} calls",
        carried.calls - before.calls
    );
    assert_eq!(app.total("chatgpt", "").await, 51);
    assert_eq!(app.total("sora", "").await, 10);
}

#[actix_web::test]
async fn a_call_that_fails_acknowledges_and_writes_nothing_and_a_resend_counts_each_report_once() {
    let app = TestApp::spawn().await;
    let at = app.clock.now();
    let windows = windows(&app);
    // Sora's minute bucket (its pair) is a string: the call fails, with ten chatgpt reports
    // before the sora one and ten after it.
    let minute = at.timestamp().div_euclid(60);
    let bucket = format!("{}:{{svc:sora}}:b:{}", app.prefix, minute.div_euclid(2));
    let mut conn = redis().await;
    let _: () = redis::cmd("SET")
        .arg(&bucket)
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .unwrap();

    let mut reports: Vec<(&str, String)> =
        (0..10).map(|i| ("chatgpt", format!("first-{i}"))).collect();
    reports.push(("sora", "the-sora-one".into()));
    reports.extend((0..10).map(|i| ("chatgpt", format!("second-{i}"))));
    let answers = count_together(windows, &reports, at).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(StoreError::Unavailable(_)))),
        "every report of the failed call is refused: {answers:?}"
    );
    // The call failed before it wrote anything: no count, and no reporter remembered.
    assert_eq!(app.total("chatgpt", "").await, 0);

    // The clients retry once Redis is sane: every report counts, once.
    let _: () = redis::cmd("DEL")
        .arg(&bucket)
        .query_async(&mut conn)
        .await
        .unwrap();
    let retried = count_together(windows, &reports, at).await;
    assert!(retried.iter().all(|a| matches!(a, Ok(true))), "{retried:?}");
    assert_eq!(app.total("chatgpt", "").await, 20);
    assert_eq!(app.total("sora", "").await, 1);
    let again = count_together(windows, &reports, at).await;
    assert!(again.iter().all(|a| matches!(a, Ok(false))), "{again:?}");
}

#[actix_web::test]
async fn dedup_is_exact_across_the_boundary_of_its_epochs() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let once = |at: DateTime<Utc>| async move {
        let answer = count_together(windows, &[("chatgpt", "night-owl".into())], at).await;
        answer.into_iter().next().unwrap().unwrap()
    };
    // The default window is 60 minutes; its epochs start on the hour.
    let t0 = Utc.with_ymd_and_hms(2025, 6, 10, 5, 59, 0).unwrap();
    assert!(once(t0).await, "first report counts");
    assert!(
        !once(t0 + TimeDelta::minutes(2)).await,
        "06:01 is within the hour"
    );
    assert!(
        !once(t0 + TimeDelta::minutes(60) - TimeDelta::milliseconds(1)).await,
        "one millisecond short of the window"
    );
    let t1 = t0 + TimeDelta::minutes(60);
    assert!(once(t1).await, "a full window later it counts again");
    // Counted at 06:59 (the previous epoch by 07:30): still a duplicate.
    assert!(!once(t1 + TimeDelta::minutes(31)).await);
    assert!(once(t1 + TimeDelta::minutes(60)).await);
}

/// Counts each reporter key of chatgpt at `at`, all at once (so they share calls).
async fn count_keys(windows: &Windows, reporters: &[ReporterKey], at: DateTime<Utc>) -> Vec<bool> {
    let reports: Vec<_> = reporters.iter().map(|&reporter| (reporter, at)).collect();
    count_keys_at(windows, &reports).await
}

/// Counts each `(reporter key, when)` of chatgpt, all at once (so they share calls, in order).
async fn count_keys_at(windows: &Windows, reports: &[(ReporterKey, DateTime<Utc>)]) -> Vec<bool> {
    let problem = ProblemKind::parse("login").unwrap();
    let service = ServiceSlug::parse("chatgpt").unwrap();
    join_all(reports.iter().map(|&(reporter, at)| {
        windows.count(CountRequest {
            service: &service,
            reporter,
            problem: &problem,
            country: None,
            at,
        })
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect()
}

/// Reporter keys with the same first 6 bytes (a dedup entry's field) and a different seventh
/// (in the entry's value).
fn sharing_a_short_field(seventh: u8) -> ReporterKey {
    let mut bytes = [7; 14];
    bytes[6] = seventh;
    ReporterKey(bytes)
}

#[actix_web::test]
async fn reporters_whose_short_fields_meet_are_told_apart_within_and_across_epochs() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let key = sharing_a_short_field;
    let (first, second, third) = (key(1), key(2), key(3));
    let t0 = Utc.with_ymd_and_hms(2025, 6, 10, 5, 30, 0).unwrap();
    assert_eq!(
        count_keys(windows, &[first, second], t0).await,
        [true, true]
    );
    let t1 = t0 + TimeDelta::minutes(1);
    assert_eq!(count_keys(windows, &[second], t1).await, [false]);
    assert_eq!(count_keys(windows, &[first], t1).await, [false]);
    assert_eq!(
        count_keys(windows, &[third], t1).await,
        [true],
        "never counted"
    );
    // 06:20: the three are in the previous epoch's hash, two of them under their whole keys.
    let later = t0 + TimeDelta::minutes(50);
    assert_eq!(
        count_keys(windows, &[first, second, third], later).await,
        [false, false, false]
    );
    let after = t0 + TimeDelta::minutes(60);
    assert_eq!(count_keys(windows, &[second], after).await, [true]);
    assert_eq!(
        count_keys(windows, &[third], after).await,
        [false],
        "counted at 05:31"
    );
}

#[actix_web::test]
async fn a_reporter_counted_twice_in_one_call_a_window_apart_leaves_the_others_entries_alone() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let (holder, twice) = (sharing_a_short_field(1), sharing_a_short_field(2));
    let at = |hour, minute| Utc.with_ymd_and_hms(2025, 6, 10, hour, minute, 0).unwrap();
    assert_eq!(count_keys(windows, &[holder], at(6, 10)).await, [true]);
    // One call: 05:30 (the previous epoch), then a whole window later, where `holder` already
    // holds the short field.
    let answers = count_keys_at(windows, &[(twice, at(5, 30)), (twice, at(6, 30))]).await;
    assert_eq!(answers, [true, true]);
    assert_eq!(
        count_keys(windows, &[holder, twice], at(6, 40)).await,
        [false, false],
        "both still remembered"
    );
}

#[actix_web::test]
async fn a_reporter_counted_before_an_upgrade_is_still_a_duplicate_after_it() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let old = ReporterKey::from_label("counted-by-the-old-version");
    // What a version before 2026-12 wrote at 05:50: the whole key, the time into the epoch.
    let epoch_start = Utc.with_ymd_and_hms(2025, 6, 10, 5, 0, 0).unwrap();
    let legacy = format!(
        "{}:{{svc:chatgpt}}:d:3600000:{}",
        app.prefix,
        epoch_start.timestamp_millis() / 3_600_000
    );
    let offset = u32::try_from(TimeDelta::minutes(50).num_milliseconds()).unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&legacy)
        .arg(old.as_bytes())
        .arg(&offset.to_le_bytes()[..])
        .query_async(&mut redis().await)
        .await
        .unwrap();
    let newcomer = ReporterKey::from_label("never-counted");
    let five_to_six = epoch_start + TimeDelta::minutes(55);
    assert_eq!(
        count_keys(windows, &[old, newcomer], five_to_six).await,
        [false, true]
    );
    // 06:20: the old entry is in the previous epoch's legacy hash, 30 minutes back.
    let twenty_past = epoch_start + TimeDelta::minutes(80);
    assert_eq!(count_keys(windows, &[old], twenty_past).await, [false]);
    let ten_to_seven = epoch_start + TimeDelta::minutes(110);
    assert_eq!(
        count_keys(windows, &[old], ten_to_seven).await,
        [true],
        "an hour on"
    );
}

#[actix_web::test]
async fn counting_loads_its_script_again_when_redis_has_forgotten_it() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let at = app.clock.now();
    let first = count_together(windows, &[("chatgpt", "before-the-flush".into())], at).await;
    assert!(matches!(first[..], [Ok(true)]));
    // What a Redis restart (without persistence of its script cache) or a failover does.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut redis().await)
        .await
        .unwrap();
    let after = count_together(
        windows,
        &[
            ("chatgpt", "before-the-flush".into()),
            ("chatgpt", "after-the-flush".into()),
        ],
        at,
    )
    .await;
    assert!(
        matches!(after[..], [Ok(false), Ok(true)]),
        "counted again with the script reloaded: {after:?}"
    );
}

#[actix_web::test]
async fn a_dedup_entry_costs_at_most_64_bytes_of_redis_memory_at_scale() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let at = app.clock.now();
    let key = format!(
        "{}:{{svc:chatgpt}}:r:3600000:{}",
        app.prefix,
        at.timestamp_millis().div_euclid(3_600_000)
    );
    let reporters = 20_000;
    let labels: Vec<(&str, String)> = (0..reporters)
        .map(|i| ("chatgpt", format!("crowd-{i}")))
        .collect();
    for chunk in labels.chunks(500) {
        let answers = count_together(windows, chunk, at).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(true))));
    }
    let mut conn = redis().await;
    let bytes: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&key)
        .arg("SAMPLES")
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    // MEMORY USAGE counts a dict entry at its 24 bytes; the allocator hands out 32.
    let per_entry = bytes / reporters + 8;
    eprintln!("dedup: {bytes} bytes for {reporters} reporters, {per_entry} per entry");
    assert!(per_entry <= 64, "{per_entry} bytes per dedup entry");
}

/// The shipped caps: 6 per address and 18 per network, per service, per hour.
const CAPS: Caps = Caps {
    per_address: 6,
    per_network: 18,
    window: Duration::from_secs(3600),
};

/// Counts a login report of `slug` by the reporter `label` from `source` (its address's and
/// its network's cap keys) at `at`, under [`CAPS`] and `rate`.
async fn count_capped(
    windows: &Windows,
    slug: &str,
    label: &str,
    source: (&str, &str),
    at: DateTime<Utc>,
    rate: SharedRate,
) -> Counted {
    let service = ServiceSlug::parse(slug).unwrap();
    let problem = ProblemKind::parse("login").unwrap();
    windows
        .count_capped(
            CountRequest {
                service: &service,
                reporter: ReporterKey::from_label(label),
                problem: &problem,
                country: None,
                at,
            },
            CapKeys {
                address_hex: source.0,
                network_hex: source.1,
            },
            CAPS,
            rate,
        )
        .await
        .unwrap()
}

#[actix_web::test]
async fn caps_and_the_shared_rate_hold_within_one_call() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let at = app.clock.now();
    let rate = SharedRate {
        interval: Duration::from_secs(2),
        burst: 12,
    };
    // Every report from the same address and network, by a reporter of its own.
    let capped = |label: String| async move {
        count_capped(windows, "chatgpt", &label, ("aa", "bb"), at, rate).await
    };
    // Twelve people behind one address, all at once: the address cap lets six count.
    let answers = join_all((0..12).map(|i| capped(format!("household-{i}")))).await;
    assert_eq!(answers[..6], [Counted::Yes; 6]);
    for refused in &answers[6..] {
        match refused {
            Counted::Capped { scope, retry_after } => {
                assert_eq!(*scope, CapScope::Address);
                assert_eq!(*retry_after, Duration::from_secs(3600));
            }
            other => panic!("{other:?}"),
        }
    }
    // The thirteenth report of the address in the same instant is over its burst of twelve.
    let over = capped("household-12".into()).await;
    assert_eq!(
        over,
        Counted::RateLimited {
            retry_after: Duration::from_secs(2)
        }
    );
    assert_eq!(app.total("chatgpt", "").await, 6);
}

#[actix_web::test]
async fn caps_hold_exactly_across_a_cap_epoch_and_cost_a_field_not_a_key() {
    let app = TestApp::spawn().await;
    let windows = windows(&app);
    let rate = SharedRate {
        interval: Duration::from_millis(1),
        burst: 1000,
    };
    let one = ("0a", "0b");
    // Six reports one second before a cap epoch ends (epochs are whole hours of Unix time).
    let end = Utc.with_ymd_and_hms(2025, 6, 10, 7, 0, 0).unwrap();
    let last_second = end - TimeDelta::seconds(1);
    for i in 0..6 {
        assert_eq!(
            count_capped(
                windows,
                "zoom",
                &format!("late-{i}"),
                one,
                last_second,
                rate
            )
            .await,
            Counted::Yes
        );
    }
    // Half a second into the next epoch the address is still at its cap, until the first of
    // the six is an hour old.
    let next = end + TimeDelta::milliseconds(500);
    assert_eq!(
        count_capped(windows, "zoom", "early", one, next, rate).await,
        Counted::Capped {
            scope: CapScope::Address,
            retry_after: Duration::from_millis(3_598_500),
        }
    );
    let hour_later = last_second + TimeDelta::hours(1);
    assert!(matches!(
        count_capped(
            windows,
            "zoom",
            "still",
            one,
            hour_later - TimeDelta::milliseconds(1),
            rate,
        )
        .await,
        Counted::Capped { .. }
    ));
    assert_eq!(
        count_capped(windows, "zoom", "again", one, hour_later, rate).await,
        Counted::Yes,
        "an hour after the six, the address counts again"
    );
    // 200 more addresses, each of a network of its own: fields of the epoch's hash, not keys.
    for i in 0..200 {
        let (address, network) = (format!("{:04x}", 0x100 + i), format!("{:04x}", 0x400 + i));
        let counted = count_capped(
            windows,
            "zoom",
            &format!("many-{i}"),
            (&address, &network),
            next,
            rate,
        )
        .await;
        assert_eq!(counted, Counted::Yes);
    }
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let cap_keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:{{svc:zoom}}:l:*", app.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(cap_keys.len(), 2, "one hash per cap epoch: {cap_keys:?}");
    let other: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:{{svc:zoom}}:[an]:*", app.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(other.is_empty(), "no key per source: {other:?}");
}
