//! Incidents and their timelines.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::pool::Db;
use super::schema::{incident_updates, incidents};
use crate::store::StoreError;

/// An incident as stored.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Queryable,
    Selectable,
    Insertable,
    AsChangeset,
    utoipa::ToSchema,
)]
#[diesel(table_name = incidents)]
pub struct Incident {
    /// Stable id (UUIDv7 of the start time).
    pub id: Uuid,
    /// The service.
    pub service_id: Uuid,
    /// First minute of the incident.
    pub started_at: DateTime<Utc>,
    /// First minute back at normal; `None` while open.
    pub ended_at: Option<DateTime<Utc>>,
    /// Current level (`normal` once resolved).
    pub level: String,
    /// Highest level reached.
    pub highest_level: String,
    /// The minute with the most reports.
    pub peak_at: DateTime<Utc>,
    /// Reports in that minute.
    pub peak_minute_count: i32,
    /// The 15-minute bin with the most reports.
    pub peak_bin_at: DateTime<Utc>,
    /// Reports in that bin.
    pub peak_bin_count: i32,
    /// Reports the baseline expected in that bin.
    pub baseline_at_peak: f64,
    /// Reports during the incident.
    pub total_reports: i64,
    /// Reports per problem kind during the incident.
    #[schema(value_type = Object)]
    pub problem_counts: serde_json::Value,
    /// Reports per country during the incident.
    #[schema(value_type = Object)]
    pub country_counts: serde_json::Value,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = incident_updates)]
pub struct Update {
    /// When the level changed (start of the minute).
    pub at: DateTime<Utc>,
    /// `opened`, `escalated`, `deescalated` or `resolved`.
    pub kind: String,
    /// The level from then on.
    pub level: String,
    /// Reports in that minute.
    pub reports: i32,
    /// Reports the baseline expected in that minute.
    pub baseline: f64,
}

/// Opens `incident`, or returns the service's incident that is already open (after a restart
/// or when another instance got there first). The flag says whether this call opened it.
pub async fn open_or_resume(db: &Db, incident: &Incident) -> Result<(Incident, bool), StoreError> {
    let mut conn = db.conn().await?;
    let inserted = db
        .timed(
            diesel::insert_into(incidents::table)
                .values(incident)
                .on_conflict_do_nothing()
                .execute(&mut conn),
        )
        .await?;
    if inserted == 1 {
        return Ok((incident.clone(), true));
    }
    let open = open_for_conn(db, &mut conn, incident.service_id).await?;
    open.map(|i| (i, false)).ok_or_else(|| {
        StoreError::Internal(anyhow::anyhow!(
            "incident insert conflicted but none is open"
        ))
    })
}

/// Opens `incident` with its first timeline entry in one transaction, so neither is ever
/// stored without the other. When the service already has an open incident (another leader got
/// there first, or this call is a retry whose commit went through unanswered), the entry goes to
/// that one instead. The flag says whether this call opened it.
pub async fn open_with_update(
    db: &Db,
    incident: &Incident,
    update: &Update,
) -> Result<(Incident, bool), StoreError> {
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let work = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let inserted = diesel::insert_into(incidents::table)
            .values(incident)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        let stored = if inserted == 1 {
            incident.clone()
        } else {
            incidents::table
                .filter(incidents::service_id.eq(incident.service_id))
                .filter(incidents::ended_at.is_null())
                .select(Incident::as_select())
                .first(conn)
                .await?
        };
        insert_update(conn, stored.id, update).await?;
        Ok((stored, inserted == 1))
    });
    db.timed(work).await
}

/// Records a change of an incident: the timeline entry and the incident's new state (level,
/// peaks, totals, end) in one transaction.
pub async fn record_change(db: &Db, incident: &Incident, update: &Update) -> Result<(), StoreError> {
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let work = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        insert_update(conn, incident.id, update).await?;
        diesel::update(incidents::table.find(incident.id))
            .set(incident)
            .execute(conn)
            .await?;
        Ok(())
    });
    db.timed(work).await
}

/// The open incident of a service, if any.
pub async fn open_for(db: &Db, service_id: Uuid) -> Result<Option<Incident>, StoreError> {
    let mut conn = db.conn().await?;
    open_for_conn(db, &mut conn, service_id).await
}

async fn open_for_conn(
    db: &Db,
    conn: &mut diesel_async::AsyncPgConnection,
    service_id: Uuid,
) -> Result<Option<Incident>, StoreError> {
    let query = incidents::table
        .filter(incidents::service_id.eq(service_id))
        .filter(incidents::ended_at.is_null())
        .select(Incident::as_select());
    db.timed(async { query.first(conn).await.optional() }).await
}

/// Saves an incident's mutable fields (level, peaks, totals, end).
pub async fn save(db: &Db, incident: &Incident) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    db.timed(
        diesel::update(incidents::table.find(incident.id))
            .set(incident)
            .execute(&mut conn),
    )
    .await
    .map(drop)
}

/// Appends a timeline entry; the same entry twice is stored once.
pub async fn add_update(db: &Db, incident_id: Uuid, update: &Update) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    db.timed(insert_update(&mut conn, incident_id, update))
        .await
}

async fn insert_update(
    conn: &mut diesel_async::AsyncPgConnection,
    incident_id: Uuid,
    update: &Update,
) -> diesel::QueryResult<()> {
    diesel::insert_into(incident_updates::table)
        .values((
            incident_updates::incident_id.eq(incident_id),
            incident_updates::at.eq(update.at),
            incident_updates::kind.eq(&update.kind),
            incident_updates::level.eq(&update.level),
            incident_updates::reports.eq(update.reports),
            incident_updates::baseline.eq(update.baseline),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// Incidents of a service, newest first.
pub async fn for_service(db: &Db, service_id: Uuid) -> Result<Vec<Incident>, StoreError> {
    let mut conn = db.conn().await?;
    let query = incidents::table
        .filter(incidents::service_id.eq(service_id))
        .order(incidents::started_at.desc())
        .select(Incident::as_select());
    db.timed(query.load(&mut conn)).await
}

/// Incidents of a service that overlap `[from, to)`, oldest first.
pub async fn for_service_between(
    db: &Db,
    service_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Incident>, StoreError> {
    let mut conn = db.conn().await?;
    let query = incidents::table
        .filter(incidents::service_id.eq(service_id))
        .filter(incidents::started_at.lt(to))
        .filter(
            incidents::ended_at
                .is_null()
                .or(incidents::ended_at.gt(from)),
        )
        .order(incidents::started_at)
        .select(Incident::as_select());
    db.timed(query.load(&mut conn)).await
}

/// An incident's timeline, oldest first.
pub async fn timeline(db: &Db, incident_id: Uuid) -> Result<Vec<Update>, StoreError> {
    let mut conn = db.conn().await?;
    let query = incident_updates::table
        .filter(incident_updates::incident_id.eq(incident_id))
        .order((incident_updates::at, incident_updates::id))
        .select(Update::as_select());
    db.timed(query.load(&mut conn)).await
}

/// The service fields an incident listing shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, utoipa::ToSchema)]
pub struct ServiceRef {
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Provider.
    pub provider: String,
}

/// Filters for listing incidents. Times bound `started_at`.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// `Some(true)`: open only; `Some(false)`: resolved only.
    pub open: Option<bool>,
    /// Only this service (slug).
    pub service: Option<String>,
    /// Only services of this provider.
    pub provider: Option<String>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Started before.
    pub until: Option<DateTime<Utc>>,
    /// Continue after this (started_at, id), newest first.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// Most rows to return.
    pub limit: i64,
}

/// Incidents matching `filter`, newest first, with their services.
pub async fn list(db: &Db, filter: &ListFilter) -> Result<Vec<(Incident, ServiceRef)>, StoreError> {
    use super::schema::services;
    let mut query = incidents::table
        .inner_join(services::table)
        .select((
            Incident::as_select(),
            (services::slug, services::name, services::provider),
        ))
        .order((incidents::started_at.desc(), incidents::id.desc()))
        .limit(filter.limit)
        .into_boxed();
    match filter.open {
        Some(true) => query = query.filter(incidents::ended_at.is_null()),
        Some(false) => query = query.filter(incidents::ended_at.is_not_null()),
        None => {}
    }
    if let Some(slug) = &filter.service {
        query = query.filter(services::slug.eq(slug.clone()));
    }
    if let Some(provider) = &filter.provider {
        query = query.filter(services::provider.eq(provider.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(incidents::started_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(incidents::started_at.lt(until));
    }
    if let Some((at, id)) = filter.after {
        query = query.filter(
            incidents::started_at
                .lt(at)
                .or(incidents::started_at.eq(at).and(incidents::id.lt(id))),
        );
    }
    let mut conn = db.conn().await?;
    db.timed(query.load(&mut conn)).await
}

/// One incident with its service.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<(Incident, ServiceRef)>, StoreError> {
    use super::schema::services;
    let query = incidents::table
        .inner_join(services::table)
        .filter(incidents::id.eq(id))
        .select((
            Incident::as_select(),
            (services::slug, services::name, services::provider),
        ));
    let mut conn = db.conn().await?;
    db.timed(async { query.first(&mut conn).await.optional() })
        .await
}

/// Incidents of other services of `provider` that overlap `[from, to]` (`to` open: still going).
pub async fn overlapping(
    db: &Db,
    provider: &str,
    except: Uuid,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<(Incident, ServiceRef)>, StoreError> {
    use super::schema::services;
    let mut query = incidents::table
        .inner_join(services::table)
        .filter(services::provider.eq(provider.to_owned()))
        .filter(incidents::service_id.ne(except))
        .filter(
            incidents::ended_at
                .is_null()
                .or(incidents::ended_at.ge(from)),
        )
        .select((
            Incident::as_select(),
            (services::slug, services::name, services::provider),
        ))
        .order(incidents::started_at)
        .into_boxed();
    if let Some(to) = to {
        query = query.filter(incidents::started_at.le(to));
    }
    let mut conn = db.conn().await?;
    db.timed(query.load(&mut conn)).await
}
