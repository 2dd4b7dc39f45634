//! Where the rollup and the readings stand, for one leader or for one monitor shard.
//!
//! With one leader (`Scope::All`) the single `rollup_progress` row is the watermark, as it has
//! always been. With the services in shards each shard holder rolls up and reads only its own
//! services, so a shard keeps its own watermark and readings span in `shard_progress`, keyed by
//! the shard count and the shard number. Readers still read `rollup_progress` alone: after
//! every change to a shard's row it is recomputed, in one transaction under an advisory lock
//! (so two holders writing at once cannot leave an older answer last), as what holds for every
//! service: the earliest watermark and the intersection of the readings spans (none when the
//! shards' models differ or the spans do not meet). Its generation grows whenever its
//! `readings_before` moves back, as with one leader.
//!
//! A shard's missing row (a first start with shards, a new shard count) is seeded from
//! `rollup_progress`, which holds for every service whatever shard it now falls in; until every
//! shard of the current count has a row, the old row counts in the minimum too (and without
//! one, `rollup_progress` is not written: nothing holds for every service yet). Once they all
//! have one, rows of other shard counts go, and one leader's rollup drops them all, so rows
//! left from an older configuration never come back stale.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamptz};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::bins;
use super::pool::Db;
use super::readings::{self, Progress, Span};
use super::schema::shard_progress;
use crate::store::StoreError;

/// Whose progress: one leader's over every service, or one shard's over its own services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One leader, every service (`rollup_progress`).
    All,
    /// Shard `shard` of `shards`.
    Shard {
        /// How many shards the services are split into.
        shards: u32,
        /// This shard.
        shard: u32,
    },
}

type Row = (
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<i64>,
);

/// The rollup's progress and the readings span of `scope` (a shard's own generation is
/// always 0: only readers use generations, and they read `rollup_progress`).
pub async fn progress(db: &Db, scope: Scope) -> Result<Progress, StoreError> {
    let Scope::Shard { shards, shard } = scope else {
        return readings::progress(db).await;
    };
    let (shards, shard) = (int(shards), int(shard));
    let mut row = own_row(db, shards, shard).await?;
    if row.is_none() {
        let mut conn = db.conn().await?;
        let seed = diesel::sql_query(
            "INSERT INTO shard_progress \
             (shards, shard, complete_before, readings_from, readings_before, readings_model) \
             SELECT $1, $2, complete_before, readings_from, readings_before, readings_model \
             FROM rollup_progress ON CONFLICT DO NOTHING",
        )
        .bind::<Integer, _>(shards)
        .bind::<Integer, _>(shard);
        db.timed(seed.execute(&mut conn)).await?;
        row = own_row(db, shards, shard).await?;
    }
    let Some((complete_before, from, before, model)) = row else {
        return Ok(Progress::default());
    };
    Ok(Progress {
        complete_before: Some(complete_before),
        readings: Span::of_row(from, before, model, 0),
    })
}

/// Every bin of `scope`'s services before this is complete, if a rollup has run.
pub async fn complete_before(db: &Db, scope: Scope) -> Result<Option<DateTime<Utc>>, StoreError> {
    match scope {
        Scope::All => bins::complete_before(db).await,
        Scope::Shard { .. } => Ok(progress(db, scope).await?.complete_before),
    }
}

/// Every bin of `scope`'s services before `at` is complete.
pub async fn set_complete_before(
    db: &Db,
    scope: Scope,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Scope::Shard { shards, shard } = scope else {
        bins::set_complete_before(db, at).await?;
        // One leader now: rows of shards would be stale the day shards come back.
        let mut conn = db.conn().await?;
        let forget = diesel::sql_query("DELETE FROM shard_progress");
        return db.timed(forget.execute(&mut conn)).await.map(drop);
    };
    let (shards, shard) = (int(shards), int(shard));
    let mut conn = db.conn().await?;
    let query = diesel::insert_into(shard_progress::table)
        .values((
            shard_progress::shards.eq(shards),
            shard_progress::shard.eq(shard),
            shard_progress::complete_before.eq(at),
        ))
        .on_conflict((shard_progress::shards, shard_progress::shard))
        .do_update()
        .set(shard_progress::complete_before.eq(at));
    db.timed(query.execute(&mut conn)).await?;
    drop(conn);
    aggregate(db, shards).await
}

/// Bins in `[from, before)` of `scope`'s services hold the readings of `model`.
pub async fn set_span(
    db: &Db,
    scope: Scope,
    from: DateTime<Utc>,
    before: DateTime<Utc>,
    model: i64,
) -> Result<(), StoreError> {
    let Scope::Shard { shards, shard } = scope else {
        return readings::set_span(db, from, before, model).await;
    };
    let (shards, shard) = (int(shards), int(shard));
    let mut conn = db.conn().await?;
    let query = diesel::update(shard_progress::table.find((shards, shard))).set((
        shard_progress::readings_from.eq(from),
        shard_progress::readings_before.eq(before),
        shard_progress::readings_model.eq(model),
    ));
    db.timed(query.execute(&mut conn)).await?;
    drop(conn);
    aggregate(db, shards).await
}

/// `scope`'s bins from `at` on were rolled up again: its readings span ends there at the latest.
pub async fn invalidate_from(db: &Db, scope: Scope, at: DateTime<Utc>) -> Result<(), StoreError> {
    let Scope::Shard { shards, shard } = scope else {
        return readings::invalidate_from(db, at).await;
    };
    let (shards, shard) = (int(shards), int(shard));
    let mut conn = db.conn().await?;
    let query = diesel::sql_query(
        "UPDATE shard_progress SET readings_before = $3, \
         readings_from = LEAST(readings_from, $3) \
         WHERE shards = $1 AND shard = $2 AND readings_before > $3",
    )
    .bind::<Integer, _>(shards)
    .bind::<Integer, _>(shard)
    .bind::<Timestamptz, _>(at);
    let moved = db.timed(query.execute(&mut conn)).await?;
    drop(conn);
    if moved == 0 {
        return Ok(());
    }
    aggregate(db, shards).await
}

async fn own_row(db: &Db, shards: i32, shard: i32) -> Result<Option<Row>, StoreError> {
    let mut conn = db.conn().await?;
    let query = shard_progress::table.find((shards, shard)).select((
        shard_progress::complete_before,
        shard_progress::readings_from,
        shard_progress::readings_before,
        shard_progress::readings_model,
    ));
    db.timed(async { query.first(&mut conn).await.optional() })
        .await
}

/// Recomputes `rollup_progress` from the rows of `shards` shards (see the module docs).
async fn aggregate(db: &Db, shards: i32) -> Result<(), StoreError> {
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let work = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(PROGRESS_LOCK)
            .execute(conn)
            .await?;
        diesel::sql_query(AGGREGATE)
            .bind::<Integer, _>(shards)
            .execute(conn)
            .await?;
        diesel::sql_query(
            "DELETE FROM shard_progress WHERE shards <> $1 \
             AND (SELECT count(*) FROM shard_progress WHERE shards = $1) = $1",
        )
        .bind::<Integer, _>(shards)
        .execute(conn)
        .await?;
        Ok(())
    });
    db.timed(work).await
}

/// The advisory lock that serialises recomputing `rollup_progress` ("rollup" in ASCII).
const PROGRESS_LOCK: i64 = 0x726f_6c6c_7570;

/// `rollup_progress` from the shards' rows (and from itself while some shard has none).
const AGGREGATE: &str = "\
WITH own AS (
    SELECT complete_before, readings_from, readings_before, readings_model
    FROM shard_progress WHERE shards = $1
), counted AS (
    SELECT * FROM own
    UNION ALL
    SELECT complete_before, readings_from, readings_before, readings_model
    FROM rollup_progress WHERE (SELECT count(*) FROM own) < $1
), least_of AS (
    SELECT min(complete_before) AS complete_before,
           max(readings_from) AS readings_from,
           min(readings_before) AS readings_before,
           CASE WHEN count(readings_model) = count(*)
                 AND count(readings_from) = count(*)
                 AND count(readings_before) = count(*)
                 AND min(readings_model) = max(readings_model)
                THEN min(readings_model) END AS readings_model
    FROM counted
), span AS (
    SELECT complete_before,
           readings_from <= readings_before AND readings_model IS NOT NULL AS held,
           readings_from, readings_before, readings_model
    FROM least_of WHERE complete_before IS NOT NULL
      -- A shard without a row and no row for everyone: nothing holds for every service yet.
      AND ((SELECT count(*) FROM own) = $1 OR EXISTS (SELECT 1 FROM rollup_progress))
)
INSERT INTO rollup_progress (id, complete_before, readings_from, readings_before, readings_model)
SELECT true, complete_before,
       CASE WHEN held THEN readings_from END,
       CASE WHEN held THEN readings_before END,
       CASE WHEN held THEN readings_model END
FROM span
ON CONFLICT (id) DO UPDATE SET
    complete_before = excluded.complete_before,
    readings_from = excluded.readings_from,
    readings_before = excluded.readings_before,
    readings_model = excluded.readings_model,
    readings_generation = rollup_progress.readings_generation
        + CASE WHEN rollup_progress.readings_before IS NOT NULL
                AND (excluded.readings_before IS NULL
                     OR excluded.readings_before < rollup_progress.readings_before)
               THEN 1 ELSE 0 END";

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
