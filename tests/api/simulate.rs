//! The simulator against a real instance: what the server acknowledges is what Redis counts.

use downwatch::simulate::{Pace, RunReport, Scenario, SendOptions};

use crate::helpers::TestApp;

async fn simulate(app: &TestApp, scenario: &Scenario) -> RunReport {
    let options = SendOptions {
        base_url: app.address.clone(),
        concurrency: 32,
        scale: 1.0,
        pace: Pace::Unpaced,
        progress: false,
    };
    downwatch::simulate::run(scenario, &options)
        .await
        .expect("the simulation runs")
}

/// The shipped scenario with repeat reporters and a flooding sender.
fn repeat_and_flood() -> Scenario {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/repeat-and-flood.toml");
    Scenario::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn behind_a_trusted_proxy() -> TestApp {
    TestApp::builder()
        .var("DOWNWATCH_TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await
}

#[actix_web::test]
async fn the_seed_scenario_reconciles_every_acknowledged_report() {
    let app = behind_a_trusted_proxy().await;
    let scenario = Scenario::builtin("chatgpt-2025-06-10").unwrap();
    let report = simulate(&app, &scenario).await;
    let tally = &report.tally;
    assert!(report.reconciled(), "{report}");
    assert_eq!(tally.failed, 0, "{report}");
    assert_eq!(tally.rate_limited, 0, "{report}");
    assert_eq!(tally.sent, tally.counted + tally.duplicate);
    assert!(tally.counted > 25_000, "{report}");
    let repeats = tally.duplicate as f64 / tally.sent as f64;
    assert!((0.03..0.07).contains(&repeats), "{report}");
    let chatgpt = &report.checks[0];
    assert_eq!(chatgpt.slug, "chatgpt");
    assert_eq!(app.total("chatgpt", "").await, chatgpt.counted);
}

#[actix_web::test]
async fn repeats_and_a_flood_reconcile_and_the_flood_gets_exactly_its_burst() {
    let app = behind_a_trusted_proxy().await;
    let scenario = repeat_and_flood();
    let report = simulate(&app, &scenario).await;
    let tally = &report.tally;
    assert!(report.reconciled(), "{report}");
    assert_eq!(tally.failed, 0, "{report}");
    // The clock stands still, so the flooding address gets its burst (10) and nothing more,
    // however many tokens it invents; ordinary people are never limited.
    let flood = 10 * 300;
    assert_eq!(tally.flood_limited, flood - 10, "{report}");
    assert_eq!(tally.rate_limited, tally.flood_limited, "{report}");
    assert_eq!(tally.capped, 0, "{report}");
    let organic = tally.sent - flood;
    let repeats = tally.duplicate as f64 / organic as f64;
    assert!((0.25..0.35).contains(&repeats), "{report}");
}

#[actix_web::test]
async fn refusals_by_a_cap_are_told_apart_from_the_rate_limit() {
    // No trusted proxy: every report comes from 127.0.0.1, whose rate is opened wide here, so
    // each service counts the address's cap and refuses the rest by the cap.
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_PER_MINUTE", "1000000")
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .var("DOWNWATCH_CAP_PER_ADDRESS", "6")
        .spawn()
        .await;
    let scenario = repeat_and_flood();
    let report = simulate(&app, &scenario).await;
    let tally = &report.tally;
    assert!(report.reconciled(), "{report}");
    assert_eq!(
        tally.counted,
        6 * scenario.services.len() as u64,
        "{report}"
    );
    assert!(tally.capped > 100, "{report}");
    assert_eq!(
        tally.capped,
        tally.rate_limited - tally.flood_limited,
        "{report}"
    );
    assert!(
        !report.to_string().contains("trust this address"),
        "{report}"
    );
}
