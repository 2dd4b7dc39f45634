//! The pages in a real browser (headless Chromium): a person opens the board and a service
//! page, reports a problem and sees it counted, reports again and is told it already counted,
//! watches the service turn to `outage` on the board without reloading, and is told to slow
//! down (and until when) after too many reports. The test drives
//! the clock and the monitor itself; it only polls the page, with a deadline.
//!
//! Screenshots of the board and the service page in the outage are saved to
//! `target/browser-artifacts/`. Any error on the browser console fails the test.

mod driver;

use std::path::PathBuf;

use downwatch::monitor::Monitor;
use serde_json::json;

use self::driver::{BROWSER_ZONE, Browser};
use crate::helpers::TestApp;
use crate::monitor::{count_direct, monitor, next_minute, reports};

/// Where screenshots go: `target/browser-artifacts`.
fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("browser-artifacts")
}

/// Services with everyday reports, and how many a minute they usually get.
const USUAL: [(&str, usize); 8] = [
    ("chatgpt", 3),
    ("sora", 1),
    ("claude", 2),
    ("discord", 2),
    ("steam", 1),
    ("instagram", 2),
    ("netflix", 1),
    ("github", 1),
];

/// Ordinary minutes: each service's usual reports, give or take, so the model learns them.
async fn usual_minutes(app: &TestApp, monitor: &Monitor, minutes: usize, skip: &[&str]) {
    for minute in 0..minutes {
        for (i, (slug, usual)) in USUAL.iter().enumerate() {
            if !skip.contains(slug) {
                // A slow swell over the hours, and some jitter.
                let swell = (minute / 45 + i) % 3;
                let jitter = (minute * 7 + i * 3) % 4 / 2;
                count_direct(app, slug, usual + swell + jitter, "q").await;
            }
        }
        next_minute(app, monitor).await;
    }
}

/// A script expression: the level of `slug`'s entry in `section` (undefined if absent).
fn card_level(section: &str, slug: &str) -> String {
    format!(
        "(document.querySelector('{section} [data-slug=\"{slug}\"]') || {{ dataset: {{}} }}).dataset.level"
    )
}

#[actix_web::test]
async fn a_person_reports_a_problem_and_watches_an_outage_arrive_live() {
    // The outage's reports come through the API from one address: no rate limit here.
    let app = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1000000")
        .spawn()
        .await;
    let browser = Browser::start().await;

    // The console check can fail: an error thrown in the page shows up in it.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .run("setTimeout(function () { throw new Error('probe: errors are seen'); }, 0);")
        .await;
    browser.wait_for("true", "the probe to run").await;
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(browser.console().await);
        if seen
            .iter()
            .any(|(_, m)| m.contains("probe: errors are seen"))
        {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        seen.iter()
            .any(|(level, m)| level == "SEVERE" && m.contains("probe: errors are seen")),
        "the console log must catch a thrown error: {seen:?}"
    );

    // Six ordinary hours.
    let monitor = monitor(&app);
    usual_minutes(&app, &monitor, 360, &[]).await;

    // The board.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(
            "document.querySelectorAll('#grid > li').length === 35",
            "the grid",
        )
        .await;
    assert_eq!(
        browser
            .run(&format!("return {};", card_level("#grid", "chatgpt")))
            .await,
        json!("normal")
    );
    let as_of = browser.text("#problems .updated time").await;
    assert!(
        as_of.ends_with("EDT"),
        "times in the viewer's zone ({BROWSER_ZONE}): {as_of}"
    );
    // Filtering happens as one types.
    let search = browser
        .client
        .find(fantoccini::Locator::Css("#q"))
        .await
        .unwrap();
    search.send_keys("chat").await.unwrap();
    browser
        .wait_for(
            "document.querySelectorAll('#grid > li:not([hidden])').length === 1",
            "the search to leave ChatGPT alone",
        )
        .await;
    assert_eq!(browser.text("#grid-count").await, "1 of 35 services");
    browser.assert_no_console_errors("on the board").await;

    // A service page: press the button, pick a problem, see it counted.
    browser.goto(&format!("{}/s/chatgpt", app.address)).await;
    browser
        .wait_for(
            "!document.getElementById('report-open').hidden",
            "the button",
        )
        .await;
    let before: u64 = browser.text("#recent-count").await.parse().unwrap();
    assert!(
        browser
            .run("return document.getElementById('report-kinds').hidden;")
            .await
            .as_bool()
            .unwrap(),
        "problem kinds appear after the button is pressed"
    );
    browser.click("#report-open").await;
    browser
        .wait_for(
            "!document.getElementById('report-kinds').hidden",
            "the problem kinds",
        )
        .await;
    browser
        .click("#report-kinds button[value='voice-mode']")
        .await;
    browser
        .wait_for(
            "document.getElementById('report-result').textContent.indexOf('Counted.') === 0",
            "counted",
        )
        .await;
    browser
        .wait_for(
            &format!(
                "document.getElementById('recent-count').textContent.trim() === '{}'",
                before + 1
            ),
            "the count to go up",
        )
        .await;
    // Again: already counted, and the count stays.
    browser.click("#report-kinds button[value='login']").await;
    browser
        .wait_for(
            "document.getElementById('report-result').textContent.indexOf('Already counted') === 0",
            "already counted",
        )
        .await;
    assert_eq!(
        browser.text("#recent-count").await,
        (before + 1).to_string()
    );
    let token = browser
        .run("return localStorage.getItem('downwatch.reporter');")
        .await;
    assert!(token.as_str().is_some_and(|t| t.len() == 32), "{token}");
    browser
        .assert_no_console_errors("on the service page")
        .await;

    // Back on the board, an outage arrives while the person watches.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(
            "document.querySelectorAll('#grid > li').length === 35",
            "the grid",
        )
        .await;
    browser.run("window.downwatchStayed = true;").await;
    let mut level = String::new();
    for step in 0..30 {
        // Reports climb, most about voice mode, from two countries (through the API).
        let count = 40 + step * 25;
        reports(&app, "chatgpt", "voice-mode", count * 2 / 3, 1000 + step).await;
        reports(&app, "chatgpt", "login", count / 3, 2000 + step).await;
        count_direct(&app, "sora", 6 + step * 3, "o").await;
        usual_minutes(&app, &monitor, 1, &["chatgpt", "sora"]).await;
        level = app.get("/v1/services/chatgpt").await.json["status"]["level"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if level == "outage" && step >= 8 {
            break;
        }
    }
    assert_eq!(level, "outage", "the monitor sees the outage");
    browser
        .wait_for(
            &format!("{} === 'outage'", card_level("#problems", "chatgpt")),
            "ChatGPT among the problems, as an outage",
        )
        .await;
    browser
        .wait_for(
            &format!("{} === 'outage'", card_level("#grid", "chatgpt")),
            "ChatGPT's card to show the outage",
        )
        .await;
    assert_eq!(
        browser.run("return window.downwatchStayed === true;").await,
        json!(true),
        "updated in place, not reloaded"
    );
    let problems = browser.text("#problems").await;
    assert!(
        problems.contains("User reports indicate an outage at ChatGPT since")
            && problems.contains("EDT"),
        "{problems}"
    );
    browser
        .assert_no_console_errors("while the board updated")
        .await;
    browser
        .screenshot(1280, &artifacts().join("board-outage.png"))
        .await;

    // The service page in the outage.
    browser.goto(&format!("{}/s/chatgpt", app.address)).await;
    let statement = browser.text("#status .statement").await;
    assert!(
        statement.starts_with("User reports indicate an outage at ChatGPT since")
            && statement.ends_with("EDT."),
        "{statement}"
    );
    browser
        .wait_for(
            "Array.prototype.every.call(document.images, function (img) { return img.complete && img.naturalWidth > 0; })",
            "the chart to load",
        )
        .await;
    browser
        .screenshot(1280, &artifacts().join("service-outage.png"))
        .await;
    browser
        .assert_no_console_errors("on the service page in the outage")
        .await;

    // Too many reports from one network: the page says to slow down, and until when.
    let strict = TestApp::builder()
        .var("DOWNWATCH_RATE_BURST", "1")
        .var("DOWNWATCH_RATE_PER_MINUTE", "1")
        .spawn()
        .await;
    browser.goto(&format!("{}/s/sora", strict.address)).await;
    browser.click("#report-open").await;
    browser.click("#report-kinds button[value='login']").await;
    browser
        .wait_for(
            "document.getElementById('report-result').textContent.indexOf('Counted.') === 0",
            "counted",
        )
        .await;
    browser.click("#report-kinds button[value='website']").await;
    browser
        .wait_for(
            "document.getElementById('report-result').textContent.indexOf('Slow down') === 0",
            "slow down",
        )
        .await;
    let slow_down = browser.text("#report-result").await;
    // "At" is by the browser's own clock, in its zone (EST or EDT, by the real date).
    assert!(
        slow_down.contains("Try again in 60 seconds (at ")
            && (slow_down.ends_with(" EST).") || slow_down.ends_with(" EDT).")),
        "{slow_down}"
    );
    // The page handles the 429; Chrome logs the refused request on its own, and only that.
    let unexpected: Vec<(String, String)> = browser
        .console()
        .await
        .into_iter()
        .filter(|(level, m)| level == "SEVERE" && !m.contains("status of 429"))
        .collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:#?}");
    browser.client.close().await.expect("close the session");
}

/// A script returning every label on the board whose box leaves its card's box (empty: none).
const OVERFLOWING_LABELS: &str = r#"
var out = [];
document.querySelectorAll('#grid > li.card, #problems li.problem').forEach(function (card) {
  var box = card.getBoundingClientRect();
  card.querySelectorAll('.badge, .card-meta, .card-link, svg, p').forEach(function (label) {
    var r = label.getBoundingClientRect();
    if (r.width === 0) { return; }
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) {
      out.push(card.dataset.slug + ': ' + (label.className.baseVal !== undefined ? label.className.baseVal : label.className) +
        ' "' + label.textContent.trim() + '" [' + Math.round(r.left) + '..' + Math.round(r.right) + '] outside [' +
        Math.round(box.left) + '..' + Math.round(box.right) + ']');
    }
  });
});
return out;
"#;

#[actix_web::test]
async fn no_label_on_the_board_overflows_its_card_at_1280_or_390_pixels() {
    let app = TestApp::spawn().await;
    // A service with problems, so the problem list is measured too.
    let since = crate::helpers::seed_onset();
    let status = json!({
        "level": "elevated", "since": since, "reports_15m": 180, "baseline_15m": 41.6,
        "incident_id": null, "evaluated_at": since,
    })
    .to_string();
    app.state
        .reads
        .windows
        .write_statuses(&[(
            downwatch::domain::ServiceSlug::parse("microsoft-teams").unwrap(),
            status,
        )])
        .await
        .unwrap();
    let browser = Browser::start().await;
    for width in [1280, 390] {
        browser
            .client
            .set_window_size(width, 900)
            .await
            .expect("resize");
        browser.goto(&format!("{}/", app.address)).await;
        browser
            .wait_for(
                "document.querySelectorAll('#grid > li').length === 35",
                "the grid",
            )
            .await;
        let viewport = browser
            .run("return document.documentElement.clientWidth;")
            .await;
        assert!(
            viewport.as_u64().is_some_and(|w| w <= u64::from(width)),
            "{viewport}"
        );
        let overflowing = browser.run(OVERFLOWING_LABELS).await;
        assert_eq!(
            overflowing,
            json!([]),
            "labels outside their card at {width} px"
        );
        let page_overflow = browser
            .run("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
            .await;
        assert_eq!(
            page_overflow,
            json!(0),
            "the page scrolls sideways at {width} px"
        );
        browser
            .screenshot(width, &artifacts().join(format!("board-{width}.png")))
            .await;
        browser
            .assert_no_console_errors(&format!("on the board at {width} px"))
            .await;
    }
    browser.client.close().await.expect("close the session");
}
