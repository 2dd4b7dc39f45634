//! The leader dies mid-incident and no instance watches for a while (what a SIGKILL and a
//! restart, or a lease running out, leave behind): the next leader resumes the incident where
//! the last one stopped writing, and what happened in the gap is counted and written, as if
//! nobody had left.

use std::time::Duration;

use downwatch::db::incidents;

use crate::helpers::TestApp;
use crate::support::{count_direct, monitor};

/// Reports per minute: quiet, a climb, a plateau, quiet again.
fn traffic(minute: usize) -> usize {
    match minute {
        0..80 => 3,
        80..90 => 20 + (minute - 80) * 12,
        90..100 => 130,
        _ => 3,
    }
}

/// The minutes nobody watches: the leader dies after the incident opened, before it escalates.
const GAP: std::ops::Range<usize> = 83..92;

#[actix_web::test]
async fn a_new_leader_after_minutes_without_one_counts_and_writes_what_happened_in_them() {
    let (faulty, control) = (TestApp::spawn().await, TestApp::spawn().await);
    let control_monitor = monitor(&control);
    let mut leader = Some(monitor(&faulty));
    let mut control_changes = Vec::new();
    for minute in 0..150 {
        for app in [&faulty, &control] {
            count_direct(app, "chatgpt", traffic(minute), "t").await;
            app.clock.advance(Duration::from_secs(60));
        }
        if control_monitor.tick().await.unwrap().changes > 0 {
            control_changes.push(minute);
        }
        if minute == GAP.start {
            // SIGKILL: the monitor is gone between two ticks, its lease left to run out.
            leader = None;
        }
        if minute == GAP.end {
            leader = Some(monitor(&faulty));
        }
        if let Some(monitor) = &leader {
            monitor.tick().await.unwrap();
        }
    }
    assert!(
        control_changes.iter().any(|m| GAP.contains(m)),
        "the level changes while nobody watches: {control_changes:?}"
    );

    let incident_of = |app: &TestApp| {
        let db = app.state.reads.db.clone();
        let id = app.state.reads.catalog.get("chatgpt").unwrap().id;
        async move {
            let all = incidents::for_service(&db, id).await.unwrap();
            assert_eq!(all.len(), 1, "one incident: {all:?}");
            let timeline = incidents::timeline(&db, all[0].id).await.unwrap();
            (all[0].clone(), timeline)
        }
    };
    let ((f, ft), (c, ct)) = (incident_of(&faulty).await, incident_of(&control).await);
    let facts = |i: &incidents::Incident| {
        (
            i.started_at,
            i.ended_at,
            i.highest_level,
            i.peak_at,
            i.peak_minute_count,
            i.peak_bin_at,
            i.peak_bin_count,
            i.total_reports,
        )
    };
    assert_eq!(facts(&f), facts(&c), "\n{f:?}\n{c:?}");
    let steps = |t: &[incidents::Update]| -> Vec<_> {
        t.iter()
            .map(|u| (u.at, u.kind, u.level, u.reports))
            .collect()
    };
    assert_eq!(steps(&ft), steps(&ct), "the same timeline");
}
