//! `downwatch simulate`: real HTTP reports, following a scenario, to a running server.
//!
//! The point is evidence, not just load: the run ends with a reconciliation that every report
//! the server acknowledged is counted in Redis exactly once. Senders are told apart by
//! `X-Forwarded-For`, so the server must trust the simulator's address as a proxy
//! (`DOWNWATCH_TRUSTED_PROXIES=127.0.0.1/32`); without that every report shares one address
//! and most are rate-limited, which the summary points out.

pub mod plan;
pub mod reconcile;
pub mod scenario;
pub mod send;
pub mod shape;

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

pub use scenario::Scenario;
pub use send::{Pace, SendOptions, Tally};

use reconcile::{Minutes, ServiceCheck, compare, read_minutes, span};

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The answers.
    pub tally: Tally,
    /// Wall time spent sending.
    pub elapsed: Duration,
    /// Per-service reconciliation.
    pub checks: Vec<ServiceCheck>,
}

impl RunReport {
    /// True when no acknowledged report is missing and every surplus is explained by requests
    /// whose answer never arrived (the server may have counted those).
    pub fn reconciled(&self) -> bool {
        let missing: u64 = self.checks.iter().map(|c| c.missing).sum();
        let extra: u64 = self.checks.iter().map(|c| c.extra).sum();
        missing == 0 && extra <= self.tally.failed
    }

    /// Requests per second over the run.
    pub fn rate(&self) -> f64 {
        self.tally.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        writeln!(
            f,
            "sent {} in {:.1} s ({:.0}/s): counted {}, duplicate {}, rate-limited {} ({} from flooding senders, {} others by a cap per address or network), failed {}",
            t.sent,
            self.elapsed.as_secs_f64(),
            self.rate(),
            t.counted,
            t.duplicate,
            t.rate_limited,
            t.flood_limited,
            t.capped,
            t.failed
        )?;
        for failure in &t.failures {
            writeln!(f, "  failure: {failure}")?;
        }
        // Ordinary senders over the rate limit (a cap is the crowd's own size, not a setup fault).
        if t.sent > 0 && t.rate_limited - t.flood_limited - t.capped > t.sent / 10 {
            writeln!(
                f,
                "  many ordinary senders were rate-limited: does the server trust this address as a proxy (DOWNWATCH_TRUSTED_PROXIES)?"
            )?;
        }
        writeln!(
            f,
            "reconciliation (acknowledged with 202 / counted in Redis):"
        )?;
        for check in &self.checks {
            let verdict = if check.missing > 0 {
                format!("MISMATCH: {} acknowledged but not counted", check.missing)
            } else if check.extra > 0 {
                format!(
                    "{} counted without an acknowledgement (answers that never arrived, or another sender)",
                    check.extra
                )
            } else {
                "ok".to_owned()
            };
            writeln!(
                f,
                "  {:<24} {:>10} / {:<10} {verdict}",
                check.slug, check.acknowledged, check.counted
            )?;
        }
        Ok(())
    }
}

/// Most organic reports one scenario minute may plan (each minute is planned in memory).
const MAX_PER_MINUTE: f64 = 2_000_000.0;

#[derive(Deserialize)]
struct ServiceInfo {
    problems: Vec<String>,
}

/// Checks the scenario against the server's catalog, sends it, and reconciles.
pub async fn run(scenario: &Scenario, options: &SendOptions) -> anyhow::Result<RunReport> {
    let busiest = plan::Planner::new(scenario, options.scale, 0).busiest_minute();
    anyhow::ensure!(
        busiest <= MAX_PER_MINUTE,
        "the scenario at this scale asks for {busiest:.0} reports in one minute; at most {MAX_PER_MINUTE} (lower --scale)"
    );
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let base = options.base_url.trim_end_matches('/');
    check_catalog(&client, base, scenario).await?;
    let mut before = Vec::new();
    for service in &scenario.services {
        before.push(read_minutes(&client, base, service.slug.as_str(), None).await?);
    }
    let (tally, elapsed) = send::send(scenario, options, rand::random()).await;
    let mut checks = Vec::new();
    for ((service, acknowledged), before) in scenario
        .services
        .iter()
        .zip(&tally.acknowledged)
        .zip(&before)
    {
        let after = match span(acknowledged) {
            Some(range) => read_minutes(&client, base, service.slug.as_str(), Some(range)).await?,
            None => Minutes::new(),
        };
        checks.push(compare(service.slug.as_str(), acknowledged, before, &after));
    }
    Ok(RunReport {
        tally,
        elapsed,
        checks,
    })
}

/// Fails early, naming the service and problem, when the server would refuse the scenario.
async fn check_catalog(
    client: &awc::Client,
    base: &str,
    scenario: &Scenario,
) -> anyhow::Result<()> {
    for service in &scenario.services {
        let url = format!("{base}/v1/services/{}", service.slug);
        let mut response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach the server at {base}: {e}"))?;
        if !response.status().is_success() {
            anyhow::bail!(
                "service {:?} of the scenario: GET {url} answered {}",
                service.slug.as_str(),
                response.status()
            );
        }
        let info: ServiceInfo = response
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
        let mut wanted: Vec<&str> = service
            .problems
            .weights
            .iter()
            .map(|(p, _)| p.as_str())
            .collect();
        for outage in scenario
            .outages
            .iter()
            .filter(|o| scenario.services[o.service].slug == service.slug)
        {
            wanted.extend(outage.problems.weights.iter().map(|(p, _)| p.as_str()));
        }
        if let Some(missing) = wanted
            .iter()
            .find(|p| !info.problems.iter().any(|q| q == *p))
        {
            anyhow::bail!(
                "problem {missing:?} of the scenario is not a problem kind of {} on the server (it has {})",
                service.slug,
                info.problems.join(", ")
            );
        }
    }
    Ok(())
}
