//! Sending planned reports over HTTP and tallying the answers.
//!
//! A fixed number of workers share one HTTP client; the producer paces reports on a scaled
//! clock (or sends them as fast as the workers take them). Each answer is tallied by outcome,
//! and every acknowledged report's minute bucket is kept, so the run can be reconciled with
//! what the server counted.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::plan::{PlannedReport, Planner};
use super::scenario::Scenario;
use crate::clock::ScaledClock;

/// How reports are spread over real time.
#[derive(Clone)]
pub enum Pace {
    /// As fast as the workers can send.
    Unpaced,
    /// Each report when this clock reads its scenario time.
    Clock(Arc<ScaledClock>),
}

/// What a run sends and how.
#[derive(Clone)]
pub struct SendOptions {
    /// The server, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Organic volume multiplier.
    pub scale: f64,
    /// Pacing.
    pub pace: Pace,
    /// Draw a progress bar on standard error (when it is a terminal).
    pub progress: bool,
}

/// Answers of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests sent.
    pub sent: u64,
    /// 202: counted.
    pub counted: u64,
    /// 200: already counted for this reporter.
    pub duplicate: u64,
    /// 429: over the sender's rate limit.
    pub rate_limited: u64,
    /// Anything else, including transport errors.
    pub failed: u64,
    /// Of the rate-limited, those from flooding senders.
    pub flood_limited: u64,
    /// Of the rate-limited from ordinary senders, those refused by a cap on counted reports per
    /// address or network (the answer names the `service` field), not by the rate limit.
    pub capped: u64,
    /// Per service: acknowledged reports per minute bucket (server time).
    pub acknowledged: Vec<BTreeMap<DateTime<Utc>, u64>>,
    /// The first few failures, for the operator.
    pub failures: Vec<String>,
}

impl Tally {
    fn new(services: usize) -> Self {
        Self {
            acknowledged: vec![BTreeMap::new(); services],
            ..Self::default()
        }
    }

    fn summary(&self) -> String {
        format!(
            "counted {} · duplicate {} · rate-limited {} · failed {}",
            self.counted, self.duplicate, self.rate_limited, self.failed
        )
    }
}

/// Failures kept word for word.
const KEPT_FAILURES: usize = 5;

#[derive(Deserialize)]
struct Accepted {
    bucket: DateTime<Utc>,
}

/// A 429's problem document: a cap's names the `service` field, the rate limit's no field.
#[derive(Deserialize)]
struct Refused {
    #[serde(default)]
    errors: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    field: String,
}

/// Sends every report of `scenario` to the server; returns the tally and the wall time taken.
pub async fn send(scenario: &Scenario, options: &SendOptions, run_tag: u32) -> (Tally, Duration) {
    let mut planner = Planner::new(scenario, options.scale, run_tag);
    let bar = progress_bar(options.progress, planner.expected_total());
    let tally = Rc::new(RefCell::new(Tally::new(scenario.services.len())));
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .connector(awc::Connector::new().limit(options.concurrency))
        .finish();
    let url = format!("{}/v1/reports", options.base_url.trim_end_matches('/'));
    let slugs: Rc<Vec<String>> = Rc::new(
        scenario
            .services
            .iter()
            .map(|s| s.slug.to_string())
            .collect(),
    );
    let (queue, receiver) = mpsc::channel::<PlannedReport>(options.concurrency * 4);
    let receiver = Rc::new(tokio::sync::Mutex::new(receiver));
    let workers: Vec<_> = (0..options.concurrency.max(1))
        .map(|_| {
            let worker = Worker {
                client: client.clone(),
                url: url.clone(),
                slugs: slugs.clone(),
                tally: tally.clone(),
                bar: bar.clone(),
            };
            let receiver = receiver.clone();
            actix_web::rt::spawn(async move {
                loop {
                    let next = receiver.lock().await.recv().await;
                    match next {
                        Some(report) => worker.send(report).await,
                        None => break,
                    }
                }
            })
        })
        .collect();
    let status = {
        let tally = tally.clone();
        let bar = bar.clone();
        actix_web::rt::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(200));
            loop {
                every.tick().await;
                bar.set_message(tally.borrow().summary());
            }
        })
    };
    let started = Instant::now();
    for minute in 0..scenario.minutes() {
        for report in planner.minute(minute) {
            if let Pace::Clock(clock) = &options.pace {
                let wait = clock.real_time_until(report.at);
                if wait > Duration::from_millis(1) {
                    tokio::time::sleep(wait).await;
                }
            }
            if queue.send(report).await.is_err() {
                break;
            }
        }
    }
    drop(queue);
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed();
    status.abort();
    let tally = tally.borrow().clone();
    bar.finish_with_message(tally.summary());
    (tally, elapsed)
}

struct Worker {
    client: awc::Client,
    url: String,
    slugs: Rc<Vec<String>>,
    tally: Rc<RefCell<Tally>>,
    bar: ProgressBar,
}

impl Worker {
    async fn send(&self, report: PlannedReport) {
        let mut body = serde_json::json!({
            "service": self.slugs[report.service],
            "problem": report.problem.as_str(),
            "reporter": report.reporter,
        });
        if let Some(country) = report.country {
            body["country"] = serde_json::json!(country.as_str());
        }
        self.tally.borrow_mut().sent += 1;
        let response = self
            .client
            .post(&self.url)
            .insert_header(("X-Forwarded-For", report.ip.to_string()))
            .send_json(&body)
            .await;
        let outcome = match response {
            Ok(mut response) => match response.status() {
                StatusCode::ACCEPTED => match response.json::<Accepted>().await {
                    Ok(accepted) => Outcome::Counted(accepted.bucket),
                    // Acknowledged but unreadable: the server counted it, we cannot say where.
                    Err(e) => Outcome::Failed(format!("202 with an unreadable body: {e}")),
                },
                StatusCode::OK => Outcome::Duplicate,
                StatusCode::TOO_MANY_REQUESTS => {
                    let refused = response.json::<Refused>().limit(4096).await;
                    Outcome::RateLimited {
                        capped: refused
                            .is_ok_and(|r| r.errors.iter().any(|e| e.field == "service")),
                    }
                }
                status => {
                    let body = response.body().limit(2048).await.unwrap_or_default();
                    Outcome::Failed(format!("{status}: {}", String::from_utf8_lossy(&body)))
                }
            },
            Err(e) => Outcome::Failed(format!("request failed: {e}")),
        };
        let mut tally = self.tally.borrow_mut();
        match outcome {
            Outcome::Counted(bucket) => {
                tally.counted += 1;
                *tally.acknowledged[report.service]
                    .entry(bucket)
                    .or_default() += 1;
            }
            Outcome::Duplicate => tally.duplicate += 1,
            Outcome::RateLimited { capped } => {
                tally.rate_limited += 1;
                tally.flood_limited += u64::from(report.flood);
                tally.capped += u64::from(capped && !report.flood);
            }
            Outcome::Failed(why) => {
                tally.failed += 1;
                if tally.failures.len() < KEPT_FAILURES {
                    tally.failures.push(why);
                }
            }
        }
        self.bar.inc(1);
    }
}

enum Outcome {
    Counted(DateTime<Utc>),
    Duplicate,
    /// 429, from a cap or from the rate limit.
    RateLimited {
        capped: bool,
    },
    Failed(String),
}

fn progress_bar(visible: bool, expected: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:32}] {human_pos}/~{human_len} sent, {per_sec}\n{msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}
