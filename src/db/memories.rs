//! Each service's detector memory (see `detect::memory`): saved by the monitor that watches
//! the service, recalled by the next one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::pool::Db;
use super::schema::detector_memories;
use crate::detect::Memory;
use crate::store::StoreError;

/// Saves the memories of `services` (learned by the model `model`, up to the minute before
/// `saved_at`), each replacing the service's last one, in one statement: a caller saving many
/// sends them a few hundred at a time.
pub async fn save(
    db: &Db,
    model: i64,
    saved_at: DateTime<Utc>,
    services: &[(Uuid, Memory)],
) -> Result<(), StoreError> {
    let rows: Vec<_> = services
        .iter()
        .map(|(id, memory)| {
            let json = serde_json::to_value(memory)
                .map_err(|e| StoreError::Internal(anyhow::anyhow!("memory to JSON: {e}")))?;
            Ok((
                detector_memories::service_id.eq(*id),
                detector_memories::model.eq(model),
                detector_memories::saved_at.eq(saved_at),
                detector_memories::memory.eq(json),
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    let mut conn = db.conn().await?;
    let query = diesel::insert_into(detector_memories::table)
        .values(rows)
        .on_conflict(detector_memories::service_id)
        .do_update()
        .set((
            detector_memories::model.eq(excluded(detector_memories::model)),
            detector_memories::saved_at.eq(excluded(detector_memories::saved_at)),
            detector_memories::memory.eq(excluded(detector_memories::memory)),
        ));
    db.timed(query.execute(&mut conn)).await.map(drop)
}

/// The memories of `services` learned by the model `model`, with when each was saved (up to
/// the minute before). A memory another model learned is not returned, nor one that no longer
/// reads as a memory (it is logged): either way the service's detector learns afresh.
pub async fn recall(
    db: &Db,
    model: i64,
    services: &[Uuid],
) -> Result<HashMap<Uuid, (DateTime<Utc>, Memory)>, StoreError> {
    let mut conn = db.conn().await?;
    let query = detector_memories::table
        .filter(detector_memories::service_id.eq_any(services))
        .filter(detector_memories::model.eq(model))
        .select((
            detector_memories::service_id,
            detector_memories::saved_at,
            detector_memories::memory,
        ));
    let rows: Vec<(Uuid, DateTime<Utc>, serde_json::Value)> =
        db.timed(query.load(&mut conn)).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, saved_at, json)| match serde_json::from_value(json) {
            Ok(memory) => Some((id, (saved_at, memory))),
            Err(e) => {
                tracing::warn!(service = %id, error = %e, "stored detector memory unreadable; learning afresh");
                None
            }
        })
        .collect())
}
