//! The dispatcher: outbox entries to deliveries, deliveries to targets.
//!
//! Any instance runs it on a timer; PostgreSQL arbitrates (see `db::alerts`). A delivery that
//! fails is retried with exponential backoff and jitter for a day; one whose target refuses in
//! a way retrying cannot fix (4xx other than 408, 425 and 429; a forbidden address) counts
//! towards pausing its subscription.

use std::time::{Duration, Instant};

use actix_tls::connect::{Connector as TcpConnector, Resolver};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::join_all;
use rand::Rng;
use uuid::Uuid;

use super::event::{AlertEvent, AlertService};
use super::format::render;
use super::policy::{PolicyResolver, TargetError, TargetPolicy};
use super::sign::signature;
use crate::clock::SharedClock;
use crate::db::Db;
use crate::db::alerts::{self, Attempt, Claimed, NewDelivery, Outcome};
use crate::store::StoreError;

/// Outbox entries turned into deliveries per tick.
const FAN_OUT_BATCH: i64 = 200;
/// Deliveries sent per tick (one per subscription at most).
const SEND_BATCH: i64 = 50;
/// Retries stop this long after a delivery was queued.
const GIVE_UP_AFTER: TimeDelta = TimeDelta::hours(24);
/// Permanent failures in a row that pause a subscription.
const PAUSE_AFTER: i32 = 5;
/// The first retry waits about this long; each next one twice as long, up to an hour.
const FIRST_RETRY_SECONDS: f64 = 10.0;
const LONGEST_RETRY_SECONDS: f64 = 3600.0;
/// How long a claimed delivery is this instance's: longer than any attempt (the timeout is at
/// most a minute), so a claim outlives its attempt unless the instance died during it.
const CLAIM_HOLD: TimeDelta = TimeDelta::seconds(120);
/// Bytes of a receiver's answer kept in the log.
const RESPONSE_PREFIX: usize = 256;

/// What a tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Deliveries queued from the outbox.
    pub queued: usize,
    /// Deliveries attempted.
    pub attempted: usize,
    /// Of those, delivered.
    pub delivered: usize,
}

/// Sends alerts. Not `Send`: it lives on one actix worker thread, as the HTTP client does.
pub struct Dispatcher {
    db: Db,
    clock: SharedClock,
    policy: TargetPolicy,
    client: awc::Client,
    base_url: String,
    timeout: Duration,
}

impl Dispatcher {
    /// A dispatcher whose links point under `base_url` and whose attempts last at most `timeout`.
    pub fn new(
        db: Db,
        clock: SharedClock,
        policy: TargetPolicy,
        base_url: String,
        timeout: Duration,
    ) -> Self {
        // The connector resolves through the policy: it connects only to addresses it checked.
        let tcp = TcpConnector::new(Resolver::custom(PolicyResolver(policy))).service();
        let connector = awc::Connector::new().connector(tcp).timeout(timeout);
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(timeout)
            .disable_redirects()
            .add_default_header((
                "user-agent",
                concat!("downwatch-webhooks/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        Self {
            db,
            clock,
            policy,
            client,
            base_url,
            timeout,
        }
    }

    /// One round: queue deliveries for new incident changes, then send what is due.
    pub async fn tick(&self) -> Result<DispatchReport, StoreError> {
        let now = self.clock.now();
        let queued = self.fan_out(now).await?;
        let claimed = alerts::claim(&self.db, now, CLAIM_HOLD, SEND_BATCH).await?;
        let attempts = join_all(claimed.iter().map(|c| self.attempt(c))).await;
        let mut report = DispatchReport {
            queued,
            attempted: claimed.len(),
            delivered: 0,
        };
        for (claimed, (attempt, outcome)) in claimed.iter().zip(attempts) {
            let label = match outcome {
                Outcome::Delivered => "delivered",
                Outcome::Retry { .. } => "retry",
                Outcome::Failed { .. } => "failed",
            };
            metrics::counter!("downwatch_webhook_deliveries_total", "outcome" => label, "format" => format_label(&claimed.format)).increment(1);
            if outcome == Outcome::Delivered {
                report.delivered += 1;
            } else {
                tracing::info!(delivery = claimed.id, subscription = %claimed.subscription_id, status = ?attempt.status, error = ?attempt.error, "webhook delivery failed");
            }
            // One delivery's record failing must not strand the others: its claim lapses and
            // it is tried again.
            if let Err(e) = alerts::record(&self.db, claimed, &attempt, outcome, PAUSE_AFTER).await
            {
                tracing::warn!(delivery = claimed.id, error = %e, "webhook attempt not recorded; retried once its claim lapses");
            }
        }
        if let Ok((waiting, oldest)) = alerts::backlog(&self.db, now).await {
            metrics::gauge!("downwatch_webhook_queue_depth").set(waiting as f64);
            metrics::gauge!("downwatch_webhook_oldest_pending_seconds")
                .set(oldest.map_or(0.0, |age| age.num_seconds() as f64));
        }
        Ok(report)
    }

    /// Turns outbox entries into one delivery per matching enabled subscription.
    async fn fan_out(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let unsent = alerts::unsent(&self.db, FAN_OUT_BATCH).await?;
        if unsent.is_empty() {
            return Ok(0);
        }
        let subscriptions = alerts::with_secrets(&self.db, true).await?;
        let mut new = Vec::new();
        for entry in &unsent {
            let (slug, name, provider, category) = entry.service.clone();
            let event = AlertEvent::of(
                &entry.update,
                &entry.incident,
                AlertService {
                    slug,
                    name,
                    provider,
                    category,
                },
                &self.base_url,
            );
            let service = &event.service;
            for (subscription, _) in &subscriptions {
                if subscription.filter.matches(
                    event.kind,
                    event.judged_level(),
                    &service.slug,
                    &service.provider,
                    &service.category,
                ) {
                    new.push(NewDelivery {
                        subscription_id: subscription.id,
                        update_id: Some(entry.update_id),
                        webhook_id: Uuid::now_v7(),
                        event: event.event_type.clone(),
                        body: render(subscription.format, &event).to_string(),
                    });
                }
            }
        }
        let fanned: Vec<i64> = unsent.iter().map(|u| u.update_id).collect();
        alerts::queue(&self.db, &new, &fanned, now).await?;
        Ok(new.len())
    }

    /// Makes one attempt and decides what follows.
    async fn attempt(&self, claimed: &Claimed) -> (Attempt, Outcome) {
        let at = self.clock.now();
        let started = Instant::now();
        let (status, error, response) = match self.post(claimed, at).await {
            Ok((status, response)) => (Some(status), None, Some(response)),
            Err(error) => (None, Some(error), None),
        };
        let attempt = Attempt {
            at,
            status: status.map(i32::from),
            error,
            latency_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            response,
        };
        let outcome = outcome(claimed, &attempt, at);
        (attempt, outcome)
    }

    /// Posts the delivery; the receiver's status and the start of its answer, or what failed.
    async fn post(&self, claimed: &Claimed, at: DateTime<Utc>) -> Result<(u16, String), String> {
        let url = self
            .policy
            .check_url(&claimed.url)
            .map_err(|e| format!("refused: the target {e}"))?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        // Only a forbidden address is a refusal (permanent); a name that does not resolve now
        // may resolve in a minute.
        match tokio::time::timeout(self.timeout, self.policy.resolve(host, port)).await {
            Ok(Ok(_)) => {}
            Ok(Err(TargetError::Refused(e))) => return Err(format!("refused: the target {e}")),
            Ok(Err(TargetError::Unresolved(e))) => return Err(format!("no answer: {e}")),
            Err(_) => return Err(format!("no answer: {host} did not resolve in time")),
        }
        let webhook_id = claimed.webhook_id.to_string();
        let timestamp = at.timestamp();
        let signed = signature(
            &claimed.secret,
            &webhook_id,
            timestamp,
            claimed.body.as_bytes(),
        );
        let mut response = self
            .client
            .post(url.as_str())
            .insert_header(("content-type", "application/json"))
            .insert_header(("webhook-id", webhook_id))
            .insert_header(("webhook-timestamp", timestamp.to_string()))
            .insert_header(("webhook-signature", signed))
            .send_body(claimed.body.clone())
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status().as_u16();
        let body = response.body().limit(64 * 1024).await.unwrap_or_default();
        let prefix = &body[..body.len().min(RESPONSE_PREFIX)];
        Ok((status, String::from_utf8_lossy(prefix).into_owned()))
    }
}

/// Retry, give up or done, after `attempt` of `claimed` at `now`.
fn outcome(claimed: &Claimed, attempt: &Attempt, now: DateTime<Utc>) -> Outcome {
    let permanent = match (attempt.status, &attempt.error) {
        (Some(200..=299), _) => return Outcome::Delivered,
        (Some(408 | 425 | 429), _) => false,
        (Some(400..=499), _) => true,
        (None, Some(error)) => error.starts_with("refused"),
        _ => false,
    };
    if now - claimed.created_at >= GIVE_UP_AFTER {
        return Outcome::Failed { permanent };
    }
    Outcome::Retry {
        at: now + backoff(claimed.attempts + 1, &mut rand::rng()),
        permanent,
    }
}

/// The wait before retry `n` (1-based): 10 s, 20 s, 40 s, ... up to an hour, each ±20% so
/// that deliveries that failed together do not retry together.
fn backoff(n: i32, rng: &mut impl Rng) -> TimeDelta {
    let doubling = f64::from(n.clamp(1, 30) - 1);
    let base = (FIRST_RETRY_SECONDS * doubling.exp2()).min(LONGEST_RETRY_SECONDS);
    let jittered = base * rng.random_range(0.8..1.2);
    TimeDelta::milliseconds(crate::domain::whole(jittered * 1000.0))
}

/// A bounded metrics label for a stored format.
fn format_label(format: &str) -> &'static str {
    match format {
        "json" => "json",
        "slack" => "slack",
        "discord" => "discord",
        "alertmanager" => "alertmanager",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_an_hour() {
        let mut rng = rand::rng();
        for (n, base) in [(1, 10.0), (2, 20.0), (3, 40.0), (12, 3600.0), (30, 3600.0)] {
            let wait = backoff(n, &mut rng).num_milliseconds() as f64 / 1000.0;
            assert!(
                (base * 0.8..=base * 1.2).contains(&wait),
                "retry {n}: {wait} s"
            );
        }
    }

    fn claimed(attempts: i32, age: TimeDelta, now: DateTime<Utc>) -> Claimed {
        Claimed {
            id: 1,
            subscription_id: Uuid::nil(),
            webhook_id: Uuid::nil(),
            body: "{}".to_owned(),
            attempts,
            created_at: now - age,
            url: "https://example.com".to_owned(),
            secret: "whsec_".to_owned(),
            format: "json".to_owned(),
            claimed_until: now,
        }
    }

    fn attempt(status: Option<i32>, error: Option<&str>, now: DateTime<Utc>) -> Attempt {
        Attempt {
            at: now,
            status,
            error: error.map(str::to_owned),
            latency_ms: 5,
            response: None,
        }
    }

    #[test]
    fn outcomes_follow_the_status() {
        let now = Utc::now();
        let fresh = claimed(0, TimeDelta::zero(), now);
        assert_eq!(
            outcome(&fresh, &attempt(Some(204), None, now), now),
            Outcome::Delivered
        );
        assert!(matches!(
            outcome(&fresh, &attempt(Some(503), None, now), now),
            Outcome::Retry { permanent: false, at } if at > now
        ));
        assert!(matches!(
            outcome(&fresh, &attempt(Some(429), None, now), now),
            Outcome::Retry {
                permanent: false,
                ..
            }
        ));
        assert!(matches!(
            outcome(&fresh, &attempt(Some(404), None, now), now),
            Outcome::Retry {
                permanent: true,
                ..
            }
        ));
        assert!(matches!(
            outcome(
                &fresh,
                &attempt(None, Some("refused: the target resolves to 10.0.0.1"), now),
                now
            ),
            Outcome::Retry {
                permanent: true,
                ..
            }
        ));
        let old = claimed(20, TimeDelta::hours(25), now);
        assert_eq!(
            outcome(&old, &attempt(None, Some("no answer: timeout"), now), now),
            Outcome::Failed { permanent: false }
        );
    }
}
