//! The rollup and the readings spread over shards: two monitors with four shards roll up each
//! service's bins once per tick (as many bins, tick by tick, as one leader over the same
//! reports), keep a watermark per shard, and end with the same bins, readings, progress and
//! curves as one leader, even after one of them dies and the other takes its shards over.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use downwatch::clock::Clock;
use downwatch::db::readings::{self, StoredBin};
use downwatch::db::shard_progress::{self, Scope};
use downwatch::monitor::Monitor;

use super::count_direct;
use crate::helpers::TestApp;

const SHARDS: u32 = 4;
const TICK: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_secs(180);
/// Minutes both sharded monitors tick, then minutes the survivor ticks alone.
const TOGETHER: usize = 100;
const ALONE: usize = 60;

fn monitor(app: &TestApp, shards: u32) -> Monitor {
    super::monitor_with_lease(app, LEASE).with_shards(shards)
}

fn slugs(app: &TestApp) -> Vec<String> {
    let mut slugs: Vec<String> = app
        .state
        .reads
        .catalog
        .entries()
        .iter()
        .map(|e| e.slug.to_string())
        .collect();
    slugs.sort();
    slugs
}

/// The same reports in both apps: every service, a count that varies by minute and service
/// (none in some minutes), and a burst in one of them.
async fn report_minute(apps: [&TestApp; 2], slugs: &[String], minute: usize) {
    for (k, slug) in slugs.iter().enumerate() {
        let mut count = (minute * 7 + k * 3) % 5;
        if slug == "chatgpt" && (60..75).contains(&minute) {
            count += 25;
        }
        for app in apps {
            count_direct(app, slug, count, "s").await;
        }
    }
}

/// Every service's stored bins with their readings, by slug.
async fn stored(app: &TestApp) -> BTreeMap<String, Vec<StoredBin>> {
    let (from, to) = (
        app.clock.now() - chrono::TimeDelta::days(2),
        app.clock.now(),
    );
    let mut all = BTreeMap::new();
    for entry in app.state.reads.catalog.entries() {
        let bins = readings::read(&app.state.reads.db, entry.id, from, to)
            .await
            .unwrap();
        all.insert(entry.slug.to_string(), bins);
    }
    all
}

#[actix_web::test]
async fn four_shards_on_two_monitors_roll_up_and_read_every_service_once_as_one_leader_does() {
    let start = Utc.with_ymd_and_hms(2025, 6, 10, 4, 0, 0).unwrap();
    let one = TestApp::builder().start_at(start).spawn().await;
    let split = TestApp::builder().start_at(start).spawn().await;
    let slugs = slugs(&one);
    assert_eq!(slugs, self::slugs(&split));
    let leader = monitor(&one, 1);
    let (a, b) = (monitor(&split, SHARDS), monitor(&split, SHARDS));
    let mut rolled = 0;
    for minute in 0..TOGETHER + ALONE {
        report_minute([&one, &split], &slugs, minute).await;
        one.clock.advance(TICK);
        split.clock.advance(TICK);
        let single = leader.tick().await.unwrap();
        let ra = a.tick().await.unwrap();
        if minute >= TOGETHER {
            // `b` died: `a` rolls up its shards from their watermarks once it takes them over.
            rolled += single.bins;
            continue;
        }
        let rb = b.tick().await.unwrap();
        let mut held = [ra.shards.clone(), rb.shards.clone()].concat();
        held.sort_unstable();
        assert_eq!(held, vec![0, 1, 2, 3], "each shard on one monitor");
        assert_eq!(
            ra.bins + rb.bins,
            single.bins,
            "minute {minute}: each service's bins rolled up once, as by one leader"
        );
        assert!(minute < 2 || (ra.shards.len(), rb.shards.len()) == (2, 2));
        rolled += single.bins;
    }
    assert!(rolled > 0);
    assert_eq!(a.tick().await.unwrap().shards, vec![0, 1, 2, 3]);

    // The same bins and readings for every service, and the same progress for readers.
    let (expected, got) = (stored(&one).await, stored(&split).await);
    let read = |bins: &Vec<StoredBin>| bins.iter().filter(|b| b.quarter.is_some()).count();
    assert!(
        expected.values().map(read).sum::<usize>() > 100,
        "{expected:?}"
    );
    assert_eq!(got, expected);
    let want = readings::progress(&one.state.reads.db).await.unwrap();
    let have = readings::progress(&split.state.reads.db).await.unwrap();
    assert!(want.readings.is_some(), "{want:?}");
    assert_eq!(have, want);
    for shard in 0..SHARDS {
        let own = shard_progress::progress(
            &split.state.reads.db,
            Scope::Shard {
                shards: SHARDS,
                shard,
            },
        )
        .await
        .unwrap();
        assert_eq!(own.complete_before, want.complete_before, "shard {shard}");
        let span = |p: readings::Progress| p.readings.map(|s| (s.from, s.before, s.model));
        assert_eq!(span(own), span(want), "shard {shard}");
    }

    // Curves over the rolled-up range, which read the stored readings, agree too.
    let query = format!("from={}&to={}&step=15m", start.to_rfc3339(), {
        want.complete_before.unwrap().to_rfc3339()
    })
    .replace('+', "%2B");
    for slug in &slugs {
        let path = format!("/v1/services/{slug}/curve?{query}");
        let (want, have) = (one.get(&path).await, split.get(&path).await);
        assert_eq!(want.status, 200, "{}", want.text);
        assert_eq!(have.json["points"], want.json["points"], "{slug}");
    }
}
