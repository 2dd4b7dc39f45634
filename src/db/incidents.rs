//! Incidents and their timelines.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{Counts, Level};
pub use crate::domain::{Incident, Update};

use super::pool::Db;
use super::schema::{incident_updates, incidents};
use crate::store::StoreError;

/// An incident row as stored: levels as text, counts as JSON objects.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = incidents)]
// A reopened incident writes its end back to NULL.
#[diesel(treat_none_as_null = true)]
pub(super) struct IncidentRow {
    id: Uuid,
    service_id: Uuid,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    level: String,
    highest_level: String,
    peak_at: DateTime<Utc>,
    peak_minute_count: i32,
    peak_bin_at: DateTime<Utc>,
    peak_bin_count: i32,
    baseline_at_peak: f64,
    total_reports: i64,
    problem_counts: serde_json::Value,
    country_counts: serde_json::Value,
    updated_at: DateTime<Utc>,
    began_at: DateTime<Utc>,
    evidence: Option<serde_json::Value>,
}

impl From<&Incident> for IncidentRow {
    fn from(i: &Incident) -> Self {
        Self {
            id: i.id,
            service_id: i.service_id,
            started_at: i.started_at,
            ended_at: i.ended_at,
            level: i.level.as_str().to_owned(),
            highest_level: i.highest_level.as_str().to_owned(),
            peak_at: i.peak_at,
            peak_minute_count: i.peak_minute_count,
            peak_bin_at: i.peak_bin_at,
            peak_bin_count: i.peak_bin_count,
            baseline_at_peak: i.baseline_at_peak,
            total_reports: i.total_reports,
            problem_counts: serde_json::json!(i.problem_counts),
            country_counts: serde_json::json!(i.country_counts),
            updated_at: i.updated_at,
            began_at: i.began_at,
            evidence: i.evidence.map(|e| serde_json::json!(e)),
        }
    }
}

fn corrupt(what: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { what, detail }
}

fn parse_counts(id: Uuid, field: &str, value: serde_json::Value) -> Result<Counts, StoreError> {
    serde_json::from_value(value)
        .map_err(|e| corrupt("incident row", format!("{id}: {field}: {e}")))
}

fn parse_level(id: Uuid, field: &str, raw: &str) -> Result<Level, StoreError> {
    raw.parse()
        .map_err(|e| corrupt("incident row", format!("{id}: {field}: {e}")))
}

impl TryFrom<IncidentRow> for Incident {
    type Error = StoreError;

    fn try_from(row: IncidentRow) -> Result<Self, StoreError> {
        Ok(Self {
            level: parse_level(row.id, "level", &row.level)?,
            highest_level: parse_level(row.id, "highest_level", &row.highest_level)?,
            problem_counts: parse_counts(row.id, "problem_counts", row.problem_counts)?,
            country_counts: parse_counts(row.id, "country_counts", row.country_counts)?,
            id: row.id,
            service_id: row.service_id,
            started_at: row.started_at,
            ended_at: row.ended_at,
            peak_at: row.peak_at,
            peak_minute_count: row.peak_minute_count,
            peak_bin_at: row.peak_bin_at,
            peak_bin_count: row.peak_bin_count,
            baseline_at_peak: row.baseline_at_peak,
            total_reports: row.total_reports,
            updated_at: row.updated_at,
            began_at: row.began_at,
            evidence: row
                .evidence
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| corrupt("incident row", format!("{}: evidence: {e}", row.id)))?,
        })
    }
}

/// A timeline row as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = incident_updates)]
pub(super) struct UpdateRow {
    at: DateTime<Utc>,
    kind: String,
    level: String,
    reports: i32,
    baseline: f64,
}

impl TryFrom<UpdateRow> for Update {
    type Error = StoreError;

    fn try_from(row: UpdateRow) -> Result<Self, StoreError> {
        let bad = |e: String| corrupt("timeline row", format!("at {}: {e}", row.at));
        Ok(Self {
            at: row.at,
            kind: row.kind.parse().map_err(bad)?,
            level: row.level.parse().map_err(bad)?,
            reports: row.reports,
            baseline: row.baseline,
        })
    }
}

/// Converts loaded rows, failing on the first corrupt one.
fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// Converts rows joined with their service.
fn convert_pairs(
    rows: Vec<(IncidentRow, ServiceRef)>,
) -> Result<Vec<(Incident, ServiceRef)>, StoreError> {
    rows.into_iter()
        .map(|(row, service)| Ok((Incident::try_from(row)?, service)))
        .collect()
}

/// Opens `incident`, or returns the service's incident that is already open (after a restart
/// or when another instance got there first). The flag says whether this call opened it.
pub async fn open_or_resume(db: &Db, incident: &Incident) -> Result<(Incident, bool), StoreError> {
    let mut conn = db.conn().await?;
    let inserted = db
        .timed(
            diesel::insert_into(incidents::table)
                .values(IncidentRow::from(incident))
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
            .values(IncidentRow::from(incident))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        let other = if inserted == 1 {
            None
        } else {
            let row = incidents::table
                .filter(incidents::service_id.eq(incident.service_id))
                .filter(incidents::ended_at.is_null())
                .select(IncidentRow::as_select())
                .first(conn)
                .await?;
            Some(row)
        };
        insert_update(conn, other.as_ref().map_or(incident.id, |r| r.id), update).await?;
        Ok(other)
    });
    match db.timed(work).await? {
        None => Ok((incident.clone(), true)),
        Some(row) => Ok((row.try_into()?, false)),
    }
}

/// Records a change of an incident: the timeline entry and the incident's new state (level,
/// peaks, totals, end) in one transaction.
pub async fn record_change(
    db: &Db,
    incident: &Incident,
    update: &Update,
) -> Result<(), StoreError> {
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let work = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        insert_update(conn, incident.id, update).await?;
        diesel::update(incidents::table.find(incident.id))
            .set(IncidentRow::from(incident))
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
        .select(IncidentRow::as_select());
    db.timed(async { query.first(conn).await.optional() })
        .await?
        .map(Incident::try_from)
        .transpose()
}

/// Saves an incident's mutable fields (level, peaks, totals, end).
pub async fn save(db: &Db, incident: &Incident) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    db.timed(
        diesel::update(incidents::table.find(incident.id))
            .set(IncidentRow::from(incident))
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
            incident_updates::kind.eq(update.kind.as_str()),
            incident_updates::level.eq(update.level.as_str()),
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
        .select(IncidentRow::as_select());
    convert(db.timed(query.load(&mut conn)).await?)
}

/// Incidents of several services that were open at some time after `since` (a tracker's
/// history), newest first: one query for a batch of trackers warming up.
pub async fn for_services_since(
    db: &Db,
    services: &[Uuid],
    since: DateTime<Utc>,
) -> Result<Vec<Incident>, StoreError> {
    let mut conn = db.conn().await?;
    let query = incidents::table
        .filter(incidents::service_id.eq_any(services))
        .filter(
            incidents::ended_at
                .is_null()
                .or(incidents::ended_at.gt(since)),
        )
        .order(incidents::started_at.desc())
        .select(IncidentRow::as_select());
    convert(db.timed(query.load(&mut conn)).await?)
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
        .select(IncidentRow::as_select());
    convert(db.timed(query.load(&mut conn)).await?)
}

/// An incident's timeline, oldest first.
pub async fn timeline(db: &Db, incident_id: Uuid) -> Result<Vec<Update>, StoreError> {
    let mut conn = db.conn().await?;
    let query = incident_updates::table
        .filter(incident_updates::incident_id.eq(incident_id))
        .order((incident_updates::at, incident_updates::id))
        .select(UpdateRow::as_select());
    convert(db.timed(query.load(&mut conn)).await?)
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
            IncidentRow::as_select(),
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
    convert_pairs(db.timed(query.load(&mut conn)).await?)
}

/// One incident with its service.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<(Incident, ServiceRef)>, StoreError> {
    use super::schema::services;
    let query = incidents::table
        .inner_join(services::table)
        .filter(incidents::id.eq(id))
        .select((
            IncidentRow::as_select(),
            (services::slug, services::name, services::provider),
        ));
    let mut conn = db.conn().await?;
    let found = db
        .timed(async { query.first(&mut conn).await.optional() })
        .await?;
    found
        .map(|(row, service)| Ok((Incident::try_from(row)?, service)))
        .transpose()
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
            IncidentRow::as_select(),
            (services::slug, services::name, services::provider),
        ))
        .order(incidents::started_at)
        .into_boxed();
    if let Some(to) = to {
        query = query.filter(incidents::started_at.le(to));
    }
    let mut conn = db.conn().await?;
    convert_pairs(db.timed(query.load(&mut conn)).await?)
}
