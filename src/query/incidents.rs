//! Incidents: lists with filters, one incident with its timeline and the related incidents of
//! its provider, and a service's recent history.

use uuid::Uuid;

use super::{QueryError, Reads};
use crate::db::incidents::{self as stored, ListFilter, ServiceRef};
use crate::domain::{Incident, Update};

/// One incident with everything its page and its API answer show.
#[derive(Debug, Clone)]
pub struct IncidentDetail {
    /// The incident.
    pub incident: Incident,
    /// Its service.
    pub service: ServiceRef,
    /// Its timeline, oldest first.
    pub timeline: Vec<Update>,
    /// Incidents of other services of the same provider that overlap it.
    pub related: Vec<(Incident, ServiceRef)>,
}

/// A page of incidents, newest first, and whether more follow.
pub async fn list(
    reads: &Reads,
    mut filter: ListFilter,
) -> Result<(Vec<(Incident, ServiceRef)>, bool), QueryError> {
    let limit = usize::try_from(filter.limit).unwrap_or(0);
    filter.limit += 1;
    let mut rows = stored::list(&reads.db, &filter).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, more))
}

/// The incident with `id` and its service.
pub async fn find(reads: &Reads, id: Uuid) -> Result<(Incident, ServiceRef), QueryError> {
    stored::find(&reads.db, id).await?.ok_or_else(|| {
        QueryError::NotFound(format!("No incident {id}; GET /v1/incidents lists them."))
    })
}

/// The incident with `id`, its timeline and related incidents.
pub async fn detail(reads: &Reads, id: Uuid) -> Result<IncidentDetail, QueryError> {
    let (incident, service) = find(reads, id).await?;
    let timeline = stored::timeline(&reads.db, id).await?;
    let related = stored::overlapping(
        &reads.db,
        &service.provider,
        incident.service_id,
        incident.began_at,
        incident.ended_at,
    )
    .await?;
    Ok(IncidentDetail {
        incident,
        service,
        timeline,
        related,
    })
}

/// The latest `limit` incidents of a service, each with its timeline.
pub async fn history(
    reads: &Reads,
    slug: &str,
    limit: i64,
) -> Result<Vec<(Incident, Vec<Update>)>, QueryError> {
    let filter = ListFilter {
        service: Some(slug.to_owned()),
        limit,
        ..ListFilter::default()
    };
    let mut history = Vec::new();
    for (incident, _) in stored::list(&reads.db, &filter).await? {
        let timeline = stored::timeline(&reads.db, incident.id).await?;
        history.push((incident, timeline));
    }
    Ok(history)
}

/// The spans of a service's incidents that overlap `[from, to)` (end `None`: still open).
pub async fn spans(
    reads: &Reads,
    service_id: Uuid,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<
    Vec<(
        chrono::DateTime<chrono::Utc>,
        Option<chrono::DateTime<chrono::Utc>>,
    )>,
    QueryError,
> {
    Ok(stored::for_service_between(&reads.db, service_id, from, to)
        .await?
        .into_iter()
        .map(|i| (i.began_at, i.ended_at))
        .collect())
}
