//! Checking a run against the server: every acknowledged report must be in Redis, once.
//!
//! The simulator knows the minute bucket of every 202 it received. Afterwards it reads those
//! minutes back through `GET /v1/services/{slug}/minutes` and compares minute by minute. Counts the
//! server already held for those minutes before the run (a previous run, say) are read first
//! and subtracted, so back-to-back runs reconcile too; traffic from other senders during the
//! run would show up as a surplus.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

/// Minute totals of one service, by minute start.
pub type Minutes = BTreeMap<DateTime<Utc>, u64>;

/// One service's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCheck {
    /// The service.
    pub slug: String,
    /// Reports the server acknowledged with 202.
    pub acknowledged: u64,
    /// Reports Redis holds for the same minutes, less what it held before the run.
    pub counted: u64,
    /// Acknowledged reports missing from their minute: lost.
    pub missing: u64,
    /// Reports counted beyond those acknowledged, minute by minute: a request whose answer
    /// never arrived, a double count, or another sender.
    pub extra: u64,
}

impl ServiceCheck {
    /// True when every minute holds exactly the reports acknowledged in it.
    pub fn matches(&self) -> bool {
        self.missing == 0 && self.extra == 0
    }
}

#[derive(Deserialize)]
struct Bucket {
    t: DateTime<Utc>,
    total: u64,
}

/// Tries of a read of the minutes answered 503, a second apart.
const READ_ATTEMPTS: u32 = 3;

/// Reads minute totals of `slug` in `[from, to)` (or the server's last hour when unbounded),
/// trying again on a 503.
pub async fn read_minutes(
    client: &awc::Client,
    base_url: &str,
    slug: &str,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> anyhow::Result<Minutes> {
    let mut url = format!(
        "{}/v1/services/{slug}/minutes",
        base_url.trim_end_matches('/')
    );
    if let Some((from, to)) = range {
        url.push_str(&format!(
            "?from={}&to={}",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    // A 503 says "retry shortly" (Redis busy or away): a read is safe to repeat, and the
    // check at the end of a long run should not fail on one slow moment.
    let mut attempts = 1;
    let mut response = loop {
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
        if response.status() != awc::http::StatusCode::SERVICE_UNAVAILABLE
            || attempts == READ_ATTEMPTS
        {
            break response;
        }
        attempts += 1;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    if !response.status().is_success() {
        let body = response.body().await.unwrap_or_default();
        anyhow::bail!(
            "GET {url}: {} {}",
            response.status(),
            String::from_utf8_lossy(&body)
        );
    }
    let buckets: Vec<Bucket> = response
        .json()
        .limit(16 << 20)
        .await
        .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
    Ok(buckets.into_iter().map(|b| (b.t, b.total)).collect())
}

/// Compares what was acknowledged with what the server holds now, less what it held before.
pub fn compare(
    slug: &str,
    acknowledged: &Minutes,
    before: &Minutes,
    after: &Minutes,
) -> ServiceCheck {
    let mut check = ServiceCheck {
        slug: slug.to_owned(),
        acknowledged: 0,
        counted: 0,
        missing: 0,
        extra: 0,
    };
    for (minute, &acked) in acknowledged {
        let now = after.get(minute).copied().unwrap_or(0);
        let held = now.saturating_sub(before.get(minute).copied().unwrap_or(0));
        check.acknowledged += acked;
        check.counted += held;
        check.missing += acked.saturating_sub(held);
        check.extra += held.saturating_sub(acked);
    }
    check
}

/// The range covering every acknowledged minute, for one read.
pub fn span(acknowledged: &Minutes) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = *acknowledged.keys().next()?;
    let last = *acknowledged.keys().next_back()?;
    Some((first, last + TimeDelta::minutes(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn minute(m: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(m * 60, 0).unwrap()
    }

    #[test]
    fn a_previous_runs_counts_are_subtracted() {
        let acknowledged = Minutes::from([(minute(10), 5), (minute(11), 3)]);
        let before = Minutes::from([(minute(9), 7), (minute(10), 2)]);
        let after = Minutes::from([(minute(9), 7), (minute(10), 7), (minute(11), 3)]);
        let check = compare("chatgpt", &acknowledged, &before, &after);
        assert_eq!((check.acknowledged, check.counted), (8, 8));
        assert!(check.matches());
    }

    #[test]
    fn a_loss_in_one_minute_is_not_hidden_by_a_surplus_in_another() {
        let acknowledged = Minutes::from([(minute(10), 5), (minute(11), 3)]);
        let after = Minutes::from([(minute(10), 4), (minute(11), 4)]);
        let check = compare("chatgpt", &acknowledged, &Minutes::new(), &after);
        assert_eq!((check.acknowledged, check.counted), (8, 8));
        assert_eq!((check.missing, check.extra), (1, 1));
        assert!(!check.matches());
    }

    #[test]
    fn a_lost_report_is_a_mismatch() {
        let acknowledged = Minutes::from([(minute(10), 5)]);
        let after = Minutes::from([(minute(10), 4)]);
        let check = compare("chatgpt", &acknowledged, &Minutes::new(), &after);
        assert!(!check.matches());
        assert_eq!(span(&acknowledged), Some((minute(10), minute(11))));
    }
}
