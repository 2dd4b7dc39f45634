//! Subscriptions, deliveries and their attempts.
//!
//! The outbox is `incident_updates.fanned_out`: a timeline entry written with its incident and
//! not yet turned into deliveries. Fan-out is idempotent (one delivery per subscription and
//! entry, by a unique key), so instances may race at it. Sending is claimed: a delivery is
//! taken by one instance until a deadline, and only the oldest pending delivery of each
//! subscription is ever due, so a target sees its events one at a time and in order.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::incidents::{IncidentRow, UpdateRow};
use super::pool::Db;
use super::schema::{
    deliveries, delivery_attempts, incident_updates, incidents, services, subscriptions,
};
use crate::domain::{AlertKind, Filter, Format, NewSubscription, Subscription, SubscriptionPatch};
use crate::domain::{Incident, Level, Update};
use crate::store::StoreError;

/// A subscription row as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
struct SubscriptionRow {
    id: Uuid,
    name: String,
    url: String,
    format: String,
    min_level: String,
    kinds: Vec<Option<String>>,
    services: Vec<Option<String>>,
    providers: Vec<Option<String>>,
    categories: Vec<Option<String>>,
    enabled: bool,
    secret: String,
    paused_reason: Option<String>,
    permanent_failures: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn corrupt(id: Uuid, detail: String) -> StoreError {
    StoreError::Corrupt {
        what: "subscription row",
        detail: format!("{id}: {detail}"),
    }
}

fn texts<'a>(set: impl IntoIterator<Item = &'a String>) -> Vec<Option<String>> {
    set.into_iter().cloned().map(Some).collect()
}

fn set(values: Vec<Option<String>>) -> BTreeSet<String> {
    values.into_iter().flatten().collect()
}

impl SubscriptionRow {
    fn into_domain(self) -> Result<(Subscription, String), StoreError> {
        let id = self.id;
        let format: Format = self.format.parse().map_err(|e| corrupt(id, e))?;
        let min_level: Level = self.min_level.parse().map_err(|e| corrupt(id, e))?;
        let kinds = self
            .kinds
            .into_iter()
            .flatten()
            .map(|k| k.parse::<AlertKind>())
            .collect::<Result<BTreeSet<_>, _>>()
            .map_err(|e| corrupt(id, e))?;
        Ok((
            Subscription {
                id,
                name: self.name,
                url: self.url,
                format,
                filter: Filter {
                    min_level,
                    kinds,
                    services: set(self.services),
                    providers: set(self.providers),
                    categories: set(self.categories),
                },
                enabled: self.enabled,
                paused_reason: self.paused_reason,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            self.secret,
        ))
    }
}

/// Stores a new subscription with its signing `secret`.
pub async fn create(
    db: &Db,
    new: &NewSubscription,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Subscription, StoreError> {
    let row = SubscriptionRow {
        id: Uuid::now_v7(),
        name: new.name.clone(),
        url: new.url.clone(),
        format: new.format.as_str().to_owned(),
        min_level: new.filter.min_level.as_str().to_owned(),
        kinds: new
            .filter
            .kinds
            .iter()
            .map(|k| Some(k.as_str().to_owned()))
            .collect(),
        services: texts(&new.filter.services),
        providers: texts(&new.filter.providers),
        categories: texts(&new.filter.categories),
        enabled: new.enabled,
        secret: secret.to_owned(),
        paused_reason: None,
        permanent_failures: 0,
        created_at: now,
        updated_at: now,
    };
    let mut conn = db.conn().await?;
    db.timed(
        diesel::insert_into(subscriptions::table)
            .values(&row)
            .execute(&mut conn),
    )
    .await?;
    Ok(row.into_domain()?.0)
}

/// Every subscription, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Subscription>, StoreError> {
    Ok(with_secrets(db, false)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// Subscriptions with their secrets (only the enabled ones if `enabled_only`).
pub async fn with_secrets(
    db: &Db,
    enabled_only: bool,
) -> Result<Vec<(Subscription, String)>, StoreError> {
    let mut conn = db.conn().await?;
    let mut query = subscriptions::table
        .order(subscriptions::id)
        .select(SubscriptionRow::as_select())
        .into_boxed();
    if enabled_only {
        query = query.filter(subscriptions::enabled.eq(true));
    }
    let rows: Vec<SubscriptionRow> = db.timed(query.load(&mut conn)).await?;
    rows.into_iter().map(SubscriptionRow::into_domain).collect()
}

/// The subscription with `id` and its secret.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<(Subscription, String)>, StoreError> {
    let mut conn = db.conn().await?;
    let query = subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select());
    let row: Option<SubscriptionRow> = db
        .timed(async { query.first(&mut conn).await.optional() })
        .await?;
    row.map(SubscriptionRow::into_domain).transpose()
}

/// Applies `patch`; enabling clears a pause. `None` if there is no such subscription.
pub async fn update(
    db: &Db,
    id: Uuid,
    patch: &SubscriptionPatch,
    now: DateTime<Utc>,
) -> Result<Option<Subscription>, StoreError> {
    let Some((current, _)) = find(db, id).await? else {
        return Ok(None);
    };
    let filter = &current.filter;
    let pick =
        |new: &Option<BTreeSet<String>>, old: &BTreeSet<String>| texts(new.as_ref().unwrap_or(old));
    let kinds = patch.kinds.as_ref().unwrap_or(&filter.kinds);
    let enabling = patch.enabled == Some(true);
    let mut conn = db.conn().await?;
    let row: SubscriptionRow = db
        .timed(
            diesel::update(subscriptions::table.find(id))
                .set((
                    subscriptions::name.eq(patch.name.as_ref().unwrap_or(&current.name)),
                    subscriptions::url.eq(patch.url.as_ref().unwrap_or(&current.url)),
                    subscriptions::format.eq(patch.format.unwrap_or(current.format).as_str()),
                    subscriptions::min_level
                        .eq(patch.min_level.unwrap_or(filter.min_level).as_str()),
                    subscriptions::kinds.eq(kinds
                        .iter()
                        .map(|k| Some(k.as_str().to_owned()))
                        .collect::<Vec<_>>()),
                    subscriptions::services.eq(pick(&patch.services, &filter.services)),
                    subscriptions::providers.eq(pick(&patch.providers, &filter.providers)),
                    subscriptions::categories.eq(pick(&patch.categories, &filter.categories)),
                    subscriptions::enabled.eq(patch.enabled.unwrap_or(current.enabled)),
                    subscriptions::updated_at.eq(now),
                ))
                .returning(SubscriptionRow::as_returning())
                .get_result(&mut conn),
        )
        .await?;
    if enabling {
        db.timed(
            diesel::update(subscriptions::table.find(id))
                .set((
                    subscriptions::paused_reason.eq(None::<String>),
                    subscriptions::permanent_failures.eq(0),
                ))
                .execute(&mut conn),
        )
        .await?;
    }
    let (mut subscription, _) = row.into_domain()?;
    if enabling {
        subscription.paused_reason = None;
    }
    Ok(Some(subscription))
}

/// Deletes a subscription and its deliveries. False if there was none.
pub async fn delete(db: &Db, id: Uuid) -> Result<bool, StoreError> {
    let mut conn = db.conn().await?;
    let deleted = db
        .timed(diesel::delete(subscriptions::table.find(id)).execute(&mut conn))
        .await?;
    Ok(deleted == 1)
}

/// A service's slug, name, provider and category.
type ServiceFacts = (String, String, String, String);

/// A timeline entry not yet turned into deliveries, with its incident and service.
#[derive(Debug, Clone)]
pub struct Unsent {
    /// The entry's row id.
    pub update_id: i64,
    /// The entry.
    pub update: Update,
    /// The incident as it stands now.
    pub incident: Incident,
    /// The service's slug, name, provider and category.
    pub service: ServiceFacts,
}

/// Up to `limit` entries not yet fanned out, oldest first.
pub async fn unsent(db: &Db, limit: i64) -> Result<Vec<Unsent>, StoreError> {
    let mut conn = db.conn().await?;
    let rows: Vec<(i64, UpdateRow, IncidentRow, ServiceFacts)> = db
        .timed(
            incident_updates::table
                .inner_join(incidents::table.inner_join(services::table))
                .filter(incident_updates::fanned_out.eq(false))
                .order(incident_updates::id)
                .limit(limit)
                .select((
                    incident_updates::id,
                    UpdateRow::as_select(),
                    IncidentRow::as_select(),
                    (
                        services::slug,
                        services::name,
                        services::provider,
                        services::category,
                    ),
                ))
                .load(&mut conn),
        )
        .await?;
    rows.into_iter()
        .map(|(update_id, update, incident, service)| {
            Ok(Unsent {
                update_id,
                update: update.try_into()?,
                incident: incident.try_into()?,
                service,
            })
        })
        .collect()
}

/// A delivery to make.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// To whom.
    pub subscription_id: Uuid,
    /// For which entry (`None`: a test event).
    pub update_id: Option<i64>,
    /// Its idempotency key.
    pub webhook_id: Uuid,
    /// `incident.opened`, ..., `test`.
    pub event: String,
    /// The rendered body.
    pub body: String,
}

#[derive(Insertable)]
#[diesel(table_name = deliveries)]
struct DeliveryInsert<'a> {
    subscription_id: Uuid,
    update_id: Option<i64>,
    webhook_id: Uuid,
    event: &'a str,
    body: &'a str,
    state: &'static str,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// Queues `new` deliveries and marks `fanned` entries done, in one transaction. A delivery
/// already queued for the same subscription and entry is left as it is.
pub async fn queue(
    db: &Db,
    new: &[NewDelivery],
    fanned: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let rows: Vec<DeliveryInsert<'_>> = new
        .iter()
        .map(|d| DeliveryInsert {
            subscription_id: d.subscription_id,
            update_id: d.update_id,
            webhook_id: d.webhook_id,
            event: &d.event,
            body: &d.body,
            state: "pending",
            next_attempt_at: now,
            created_at: now,
        })
        .collect();
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let work = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        if !rows.is_empty() {
            diesel::insert_into(deliveries::table)
                .values(&rows)
                .on_conflict((deliveries::subscription_id, deliveries::update_id))
                .do_nothing()
                .execute(conn)
                .await?;
        }
        if !fanned.is_empty() {
            diesel::update(incident_updates::table.filter(incident_updates::id.eq_any(fanned)))
                .set(incident_updates::fanned_out.eq(true))
                .execute(conn)
                .await?;
        }
        Ok(())
    });
    db.timed(work).await
}

/// A delivery taken for sending, with what sending needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    /// Its id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// Its subscription.
    #[diesel(sql_type = SqlUuid)]
    pub subscription_id: Uuid,
    /// The idempotency key.
    #[diesel(sql_type = SqlUuid)]
    pub webhook_id: Uuid,
    /// The body, as rendered at fan-out.
    #[diesel(sql_type = Text)]
    pub body: String,
    /// Attempts made before this one.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// When it was queued.
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// The target.
    #[diesel(sql_type = Text)]
    pub url: String,
    /// The signing secret.
    #[diesel(sql_type = Text)]
    pub secret: String,
    /// The subscription's format (for the metrics).
    #[diesel(sql_type = Text)]
    pub format: String,
    /// Until when this claim holds; recording the attempt checks it still does.
    #[diesel(sql_type = Timestamptz)]
    pub claimed_until: DateTime<Utc>,
}

/// Claims, until `now + hold`, the deliveries due now: for each enabled subscription its
/// oldest pending one, if its retry time has come and nobody holds it. Concurrent claimers
/// never get the same delivery (the update re-checks the claim under the row lock).
pub async fn claim(
    db: &Db,
    now: DateTime<Utc>,
    hold: TimeDelta,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let mut conn = db.conn().await?;
    let query = diesel::sql_query(
        "WITH heads AS (
             SELECT DISTINCT ON (d.subscription_id) d.id, d.next_attempt_at, d.claimed_until
             FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
             WHERE d.state = 'pending' AND s.enabled
             ORDER BY d.subscription_id, d.id
         ), due AS (
             SELECT id FROM heads
             WHERE next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
             ORDER BY next_attempt_at
             LIMIT $3
         )
         UPDATE deliveries d SET claimed_until = $2
         FROM subscriptions s
         WHERE d.id IN (SELECT id FROM due)
           AND s.id = d.subscription_id
           AND d.state = 'pending'
           AND d.next_attempt_at <= $1
           AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
         RETURNING d.id, d.subscription_id, d.webhook_id, d.body, d.attempts, d.created_at,
                   s.url, s.secret, s.format, d.claimed_until",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + hold)
    .bind::<BigInt, _>(limit);
    db.timed(query.load(&mut conn)).await
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The receiver's status, if it answered.
    pub status: Option<i32>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// How long it took.
    pub latency_ms: i32,
    /// The start of the receiver's answer.
    pub response: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The receiver took it.
    Delivered,
    /// Try again then; `permanent` counts towards pausing the subscription.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// The target refused in a way retrying will not fix.
        permanent: bool,
    },
    /// Given up (a day of retries).
    Failed {
        /// As for `Retry`.
        permanent: bool,
    },
}

/// Records an attempt and its outcome; after `pause_after` permanent failures in a row the
/// subscription is paused with `reason`. The attempt is always logged, but the outcome only
/// while the claim is still this one's: an instance that overran its claim (and whose delivery
/// another instance took over) changes nothing.
pub async fn record(
    db: &Db,
    claimed: &Claimed,
    attempt: &Attempt,
    outcome: Outcome,
    pause_after: i32,
) -> Result<(), StoreError> {
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let reason = attempt
        .error
        .clone()
        .unwrap_or_else(|| format!("the target answered {}", attempt.status.unwrap_or_default()));
    let work = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        diesel::insert_into(delivery_attempts::table)
            .values((
                delivery_attempts::delivery_id.eq(claimed.id),
                delivery_attempts::at.eq(attempt.at),
                delivery_attempts::status.eq(attempt.status),
                delivery_attempts::error.eq(&attempt.error),
                delivery_attempts::latency_ms.eq(attempt.latency_ms),
                delivery_attempts::response.eq(&attempt.response),
            ))
            .execute(conn)
            .await?;
        let target = deliveries::table.find(claimed.id);
        let still_ours = diesel::update(
            target
                .filter(deliveries::state.eq("pending"))
                .filter(deliveries::claimed_until.eq(claimed.claimed_until)),
        )
        .set((
            deliveries::attempts.eq(deliveries::attempts + 1),
            deliveries::claimed_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?
            == 1;
        if !still_ours {
            return Ok(());
        }
        let permanent = match outcome {
            Outcome::Delivered => {
                diesel::update(target)
                    .set((
                        deliveries::state.eq("delivered"),
                        deliveries::finished_at.eq(attempt.at),
                    ))
                    .execute(conn)
                    .await?;
                diesel::update(subscriptions::table.find(claimed.subscription_id))
                    .set(subscriptions::permanent_failures.eq(0))
                    .execute(conn)
                    .await?;
                return Ok(());
            }
            Outcome::Retry { at, permanent } => {
                diesel::update(target)
                    .set(deliveries::next_attempt_at.eq(at))
                    .execute(conn)
                    .await?;
                permanent
            }
            Outcome::Failed { permanent } => {
                diesel::update(target)
                    .set((
                        deliveries::state.eq("failed"),
                        deliveries::finished_at.eq(attempt.at),
                    ))
                    .execute(conn)
                    .await?;
                permanent
            }
        };
        if permanent {
            let failures: i32 = diesel::update(subscriptions::table.find(claimed.subscription_id))
                .set(subscriptions::permanent_failures.eq(subscriptions::permanent_failures + 1))
                .returning(subscriptions::permanent_failures)
                .get_result(conn)
                .await?;
            if failures >= pause_after {
                diesel::update(subscriptions::table.find(claimed.subscription_id))
                    .set((
                        subscriptions::enabled.eq(false),
                        subscriptions::paused_reason.eq(format!(
                            "paused after {failures} permanent failures in a row; last: {reason}"
                        )),
                    ))
                    .execute(conn)
                    .await?;
            }
        }
        Ok(())
    });
    db.timed(work).await
}

/// One delivery with its attempts, as the delivery log shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryLog {
    /// Its id.
    pub id: i64,
    /// The `webhook-id` the receiver saw.
    pub webhook_id: Uuid,
    /// `incident.opened`, ..., `test`.
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// The next try, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptLog>,
}

/// One attempt in the log.
#[derive(Debug, Clone, Serialize, Queryable, utoipa::ToSchema)]
pub struct AttemptLog {
    /// When.
    pub at: DateTime<Utc>,
    /// The receiver's status, if it answered.
    pub status: Option<i32>,
    /// What went wrong.
    pub error: Option<String>,
    /// How long it took.
    pub latency_ms: i32,
    /// The start of the receiver's answer (at most 256 bytes).
    pub response: Option<String>,
}

#[derive(Queryable)]
struct DeliveryHead {
    id: i64,
    webhook_id: Uuid,
    event: String,
    state: String,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    next_attempt_at: DateTime<Utc>,
}

/// The latest `limit` deliveries of a subscription, newest first, with their attempts.
pub async fn log(
    db: &Db,
    subscription_id: Uuid,
    limit: i64,
) -> Result<Vec<DeliveryLog>, StoreError> {
    let mut conn = db.conn().await?;
    let heads: Vec<DeliveryHead> = db
        .timed(
            deliveries::table
                .filter(deliveries::subscription_id.eq(subscription_id))
                .order(deliveries::id.desc())
                .limit(limit)
                .select((
                    deliveries::id,
                    deliveries::webhook_id,
                    deliveries::event,
                    deliveries::state,
                    deliveries::created_at,
                    deliveries::finished_at,
                    deliveries::next_attempt_at,
                ))
                .load(&mut conn),
        )
        .await?;
    let ids: Vec<i64> = heads.iter().map(|h| h.id).collect();
    let attempts: Vec<(i64, AttemptLog)> = db
        .timed(
            delivery_attempts::table
                .filter(delivery_attempts::delivery_id.eq_any(&ids))
                .order(delivery_attempts::id)
                .select((
                    delivery_attempts::delivery_id,
                    (
                        delivery_attempts::at,
                        delivery_attempts::status,
                        delivery_attempts::error,
                        delivery_attempts::latency_ms,
                        delivery_attempts::response,
                    ),
                ))
                .load(&mut conn),
        )
        .await?;
    Ok(heads
        .into_iter()
        .map(|h| DeliveryLog {
            attempts: attempts
                .iter()
                .filter(|(id, _)| *id == h.id)
                .map(|(_, a)| a.clone())
                .collect(),
            id: h.id,
            webhook_id: h.webhook_id,
            event: h.event,
            next_attempt_at: (h.state == "pending").then_some(h.next_attempt_at),
            state: h.state,
            created_at: h.created_at,
            finished_at: h.finished_at,
        })
        .collect())
}

/// Deliveries waiting, and the age of the oldest, for the metrics.
pub async fn backlog(db: &Db, now: DateTime<Utc>) -> Result<(i64, Option<TimeDelta>), StoreError> {
    let mut conn = db.conn().await?;
    let (count, oldest): (i64, Option<DateTime<Utc>>) = db
        .timed(
            deliveries::table
                .filter(deliveries::state.eq("pending"))
                .select((
                    diesel::dsl::count_star(),
                    diesel::dsl::min(deliveries::created_at),
                ))
                .first(&mut conn),
        )
        .await?;
    Ok((count, oldest.map(|t| now - t)))
}
