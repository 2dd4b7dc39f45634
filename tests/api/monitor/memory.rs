//! The detector's memory across monitors: saved as bins close, recalled by the next monitor.

use downwatch::clock::Clock;
use downwatch::db::{incidents, memories};
use downwatch::detect::Params;
use downwatch::detect::readings::model_id;

use super::{count_direct, monitor, next_minute};
use crate::helpers::TestApp;

/// Two services with the same history and the same rise, one of whose saved memories is
/// replaced by that of a service whose excursions reached fifty times its baseline: after a
/// takeover the rise opens an incident on the other service only.
#[actix_web::test]
async fn a_monitor_that_takes_over_recalls_what_the_last_one_learned() {
    let app = TestApp::spawn().await;
    let db = &app.state.reads.db;
    let chatgpt = app.state.reads.catalog.get("chatgpt").unwrap().id;
    let sora = app.state.reads.catalog.get("sora").unwrap().id;
    let first = monitor(&app);
    first.tick().await.unwrap();
    for _ in 0..90 {
        count_direct(&app, "chatgpt", 3, "q").await;
        count_direct(&app, "sora", 3, "q").await;
        next_minute(&app, &first).await;
    }
    let model = model_id(&Params::default());
    let saved = memories::recall(db, model, &[chatgpt, sora]).await.unwrap();
    assert_eq!(saved.len(), 2, "the first monitor saved both memories");
    let memory = saved[&chatgpt].1.clone();
    assert_eq!(
        memory.windows.len(),
        Params::default().windows_minutes.len()
    );
    assert!(
        memories::recall(db, model ^ 1, &[chatgpt])
            .await
            .unwrap()
            .is_empty(),
        "another model's detector learns afresh"
    );

    // The first monitor stops; the memory of a service that bursts fifty-fold replaces
    // chatgpt's.
    let week = app.clock.now().timestamp().div_euclid(7 * 86_400);
    let mut bursty = memory;
    for window in &mut bursty.windows {
        window.tail.weeks = vec![(week, 50f64.ln())];
    }
    memories::save(db, model, app.clock.now(), &[(chatgpt, bursty.clone())])
        .await
        .unwrap();

    let second = monitor(&app);
    for step in 0..12 {
        count_direct(&app, "chatgpt", 20 + step * 8, "o").await;
        count_direct(&app, "sora", 20 + step * 8, "o").await;
        next_minute(&app, &second).await;
    }
    assert!(
        incidents::open_for(db, sora).await.unwrap().is_some(),
        "a rise of 7 to 36 times the baseline is an outage for a service that never burst"
    );
    assert!(
        incidents::for_service(db, chatgpt)
            .await
            .unwrap()
            .is_empty(),
        "the recalled tail knows fifty-fold excursions"
    );
    let resaved = memories::recall(db, model, &[chatgpt]).await.unwrap();
    assert!(
        resaved[&chatgpt].1.windows[2]
            .tail
            .weeks
            .contains(&(week, 50f64.ln())),
        "the second monitor saves what it recalled"
    );
}
