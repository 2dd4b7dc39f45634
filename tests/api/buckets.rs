//! Minute buckets in the real Redis: two minutes share a hash (a key costs Redis more than a
//! minute's counts), a minute too wide for its pair gets a hash of its own, and the buckets of
//! versions before pairs (a hash a minute) are read beside the pairs.

use chrono::{DateTime, TimeDelta, Utc};
use downwatch::clock::Clock;
use downwatch::domain::{CountryCode, ProblemKind, ReporterKey, ServiceSlug};
use downwatch::time::{minute_of, minute_start};
use downwatch::windows::{CountRequest, MinuteBucket, Windows};
use futures_util::future::join_all;

use crate::helpers::{TestApp, redis_url};

/// Counts one login report of chatgpt per `(reporter label, country)` at `at`, all at once.
async fn count(windows: &Windows, reports: &[(String, Option<&str>)], at: DateTime<Utc>) {
    let problem = ProblemKind::parse("login").unwrap();
    let service = ServiceSlug::parse("chatgpt").unwrap();
    let counted = join_all(reports.iter().map(|(label, country)| {
        windows.count(CountRequest {
            service: &service,
            reporter: ReporterKey::from_label(label),
            problem: &problem,
            country: country.map(|c| CountryCode::parse(c).unwrap()),
            at,
        })
    }))
    .await;
    assert!(counted.iter().all(|c| matches!(c, Ok(true))), "{counted:?}");
}

/// The start of an even minute near the app's clock: the first of a pair.
fn even_minute(app: &TestApp) -> i64 {
    let minute = minute_of(app.clock.now());
    minute - minute.rem_euclid(2)
}

async fn read(windows: &Windows, from: i64, to: i64) -> Vec<MinuteBucket> {
    let slug = ServiceSlug::parse("chatgpt").unwrap();
    let minutes = windows.minutes(&slug, from, to).await.unwrap();
    let totals = windows.totals(&slug, from, to).await.unwrap();
    assert_eq!(
        minutes.iter().map(|b| b.total).collect::<Vec<_>>(),
        totals,
        "the totals read alone agree with the whole buckets"
    );
    minutes
}

fn redis() -> redis::Connection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn key_of(app: &TestApp, kind: &str, number: i64) -> String {
    format!("{}:{{svc:chatgpt}}:{kind}:{number}", app.prefix)
}

fn encoding(redis: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(redis)
        .unwrap()
}

#[actix_web::test]
async fn two_minutes_share_a_hash_and_read_back_apart() {
    let app = TestApp::spawn().await;
    let windows = &app.state.reads.windows;
    let minute = even_minute(&app);
    let first = [("a", Some("US")), ("b", Some("US")), ("c", Some("GB"))];
    let first: Vec<_> = first.iter().map(|(l, c)| ((*l).to_owned(), *c)).collect();
    count(
        windows,
        &first,
        minute_start(minute) + TimeDelta::seconds(10),
    )
    .await;
    let second = vec![("d".to_owned(), Some("DE")), ("e".to_owned(), None)];
    count(
        windows,
        &second,
        minute_start(minute + 1) + TimeDelta::seconds(50),
    )
    .await;

    let buckets = read(windows, minute - 1, minute + 3).await;
    assert_eq!(
        buckets.iter().map(|b| b.total).collect::<Vec<_>>(),
        [0, 3, 2, 0]
    );
    assert_eq!(buckets[1].t, minute_start(minute));
    assert_eq!(buckets[1].problems["login"], 3);
    assert_eq!(
        (buckets[1].countries["US"], buckets[1].countries["GB"]),
        (2, 1)
    );
    assert!(!buckets[1].countries.contains_key("DE"));
    assert_eq!(buckets[2].problems["login"], 2);
    assert_eq!(buckets[2].countries.len(), 1, "{:?}", buckets[2]);

    let mut redis = redis();
    let pair = key_of(&app, "b", minute / 2);
    assert_eq!(encoding(&mut redis, &pair).as_deref(), Some("listpack"));
    for own in [minute, minute + 1] {
        assert_eq!(encoding(&mut redis, &key_of(&app, "m", own)), None);
    }
}

#[actix_web::test]
async fn a_minute_too_wide_for_its_pair_gets_a_hash_of_its_own() {
    let app = TestApp::spawn().await;
    let windows = &app.state.reads.windows;
    let minute = even_minute(&app);
    // Its partner first: 3 fields in the pair.
    let partner = vec![("early".to_owned(), Some("FR"))];
    count(
        windows,
        &partner,
        minute_start(minute) + TimeDelta::seconds(1),
    )
    .await;
    // Then 140 reports from 140 countries in the odd minute: 142 fields, more than a pair
    // can take and stay compact (128).
    let codes: Vec<&str> = isocountry::CountryCode::iter()
        .map(|c| c.alpha2())
        .take(140)
        .collect();
    let wide: Vec<_> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| (format!("wide-{i}"), Some(*code)))
        .collect();
    count(
        windows,
        &wide,
        minute_start(minute + 1) + TimeDelta::seconds(5),
    )
    .await;

    let buckets = read(windows, minute, minute + 2).await;
    assert_eq!((buckets[0].total, buckets[0].countries["FR"]), (1, 1));
    assert_eq!(buckets[1].total, 140);
    assert_eq!(buckets[1].problems["login"], 140);
    assert_eq!(buckets[1].countries.len(), 140);
    assert!(buckets[1].countries.values().all(|&n| n == 1));

    let mut redis = redis();
    let pair = key_of(&app, "b", minute / 2);
    assert_eq!(encoding(&mut redis, &pair).as_deref(), Some("listpack"));
    let width: usize = redis::cmd("HLEN").arg(&pair).query(&mut redis).unwrap();
    assert!(width <= 128, "the pair holds {width} fields");
    assert!(
        encoding(&mut redis, &key_of(&app, "m", minute + 1)).is_some(),
        "the wide minute has a hash of its own"
    );
}

#[actix_web::test]
async fn a_bucket_of_a_version_before_pairs_is_read_beside_the_pair() {
    let app = TestApp::spawn().await;
    let windows = &app.state.reads.windows;
    let minute = even_minute(&app) + 1;
    // As versions before 2026-12 wrote it: a hash of the minute's own, with prefixed fields.
    let mut redis = redis();
    let old = key_of(&app, "m", minute);
    for (field, n) in [("t", 5), ("p:login", 5), ("c:US", 2)] {
        let _: () = redis::cmd("HINCRBY")
            .arg(&old)
            .arg(field)
            .arg(n)
            .query(&mut redis)
            .unwrap();
    }
    let now = vec![("new".to_owned(), Some("US"))];
    count(windows, &now, minute_start(minute) + TimeDelta::seconds(30)).await;

    let buckets = read(windows, minute, minute + 1).await;
    assert_eq!(buckets[0].total, 6);
    assert_eq!(buckets[0].problems["login"], 6);
    assert_eq!(buckets[0].countries["US"], 3);
}

#[actix_web::test]
async fn a_nearly_full_pair_still_takes_the_fields_it_holds_and_spills_only_new_ones() {
    let app = TestApp::spawn().await;
    let windows = &app.state.reads.windows;
    let minute = even_minute(&app);
    let at = minute_start(minute + 1) + TimeDelta::seconds(5);
    let early = vec![("early".to_owned(), Some("FR"))];
    count(windows, &early, minute_start(minute)).await;
    // 121 countries in the odd minute: 3 + 123 fields, the pair nearly full.
    let codes: Vec<&str> = isocountry::CountryCode::iter()
        .map(|c| c.alpha2())
        .filter(|c| *c != "FR")
        .collect();
    let crowd: Vec<_> = codes[..121]
        .iter()
        .enumerate()
        .map(|(i, code)| (format!("crowd-{i}"), Some(*code)))
        .collect();
    count(windows, &crowd, at).await;
    let mut redis = redis();
    let pair = key_of(&app, "b", minute / 2);
    let own = key_of(&app, "m", minute + 1);
    let width = |redis: &mut redis::Connection| -> usize {
        redis::cmd("HLEN").arg(&pair).query(redis).unwrap()
    };
    assert_eq!(width(&mut redis), 126);

    // Reports whose fields the pair holds go on into it (their 3 fields are not new).
    let again = vec![("again".to_owned(), Some(codes[0]))];
    count(windows, &again, at).await;
    assert_eq!(encoding(&mut redis, &own), None, "nothing spilled");
    // Four new countries would take it to 130: they spill.
    let wider: Vec<_> = codes[121..125]
        .iter()
        .enumerate()
        .map(|(i, code)| (format!("wider-{i}"), Some(*code)))
        .collect();
    count(windows, &wider, at).await;
    assert!(width(&mut redis) <= 128);
    assert_eq!(encoding(&mut redis, &pair).as_deref(), Some("listpack"));

    let buckets = read(windows, minute, minute + 2).await;
    assert_eq!(buckets[0].total, 1);
    assert_eq!(buckets[1].total, 126);
    assert_eq!(buckets[1].countries.len(), 125);
    assert_eq!(buckets[1].countries[codes[0]], 2);
}

#[actix_web::test]
async fn a_long_range_from_an_odd_minute_reads_every_total() {
    let app = TestApp::spawn().await;
    let windows = &app.state.reads.windows;
    let slug = ServiceSlug::parse("chatgpt").unwrap();
    // From the second minute of a pair; every 97th minute too wide for its pair, so in a hash
    // of its own.
    let to = even_minute(&app) - 10;
    let from = to - 1101;
    assert_eq!(from.rem_euclid(2), 1);
    let wide: std::collections::BTreeMap<String, u64> = (0..70u8)
        .map(|i| {
            (
                format!("{}{}", char::from(b'A' + i / 26), char::from(b'A' + i % 26)),
                1,
            )
        })
        .collect();
    let seeded: Vec<MinuteBucket> = (from..to)
        .map(|minute| {
            let countries = if minute % 97 == 0 {
                wide.clone()
            } else {
                std::collections::BTreeMap::new()
            };
            MinuteBucket {
                t: minute_start(minute),
                total: u64::try_from(minute.rem_euclid(7)).unwrap() + 70,
                problems: std::collections::BTreeMap::new(),
                countries,
            }
        })
        .collect();
    windows.seed_minutes(&slug, &seeded).await.unwrap();
    // And one minute as versions before pairs counted it, beside its pair.
    let mut redis = redis();
    let _: () = redis::cmd("HINCRBY")
        .arg(key_of(&app, "m", from + 600))
        .arg("t")
        .arg(5)
        .query(&mut redis)
        .unwrap();

    let buckets = read(windows, from, to).await;
    let expected: Vec<u64> = seeded
        .iter()
        .map(|b| b.total + if minute_of(b.t) == from + 600 { 5 } else { 0 })
        .collect();
    assert_eq!(
        buckets.iter().map(|b| b.total).collect::<Vec<_>>(),
        expected
    );
    let own = (from..to).filter(|m| m % 97 == 0).count();
    assert!(own >= 11, "{own} minutes were wide");

    // Several ranges at once, as the board reads them: with and without buckets of their own,
    // empty, odd and even ends; each as the whole buckets read it.
    let ranges: Vec<(ServiceSlug, i64, i64)> = [
        (from, from + 3),
        (from + 98, from + 98),
        (from + 600, from + 607),
        (to - 97 * 3, to - 1),
        (from + 1, from + 2),
    ]
    .iter()
    .map(|(a, b)| (slug.clone(), *a, *b))
    .collect();
    let totals = windows.totals_many(&ranges).await.unwrap();
    let whole = windows.minutes_many(&ranges).await.unwrap();
    let whole: Vec<Vec<u64>> = whole
        .iter()
        .map(|range| range.iter().map(|b| b.total).collect())
        .collect();
    assert_eq!(totals, whole);
    assert_eq!(totals[1], Vec::<u64>::new());
    assert_eq!(totals[2][0], expected[600]);
}
