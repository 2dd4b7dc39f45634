//! 15-minute rollups of the minute buckets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use super::pool::Db;
use super::schema::{report_bin_breakdowns, report_bins, rollup_progress};
use crate::store::StoreError;

diesel::define_sql_function! {
    /// SQL `GREATEST` of two integers.
    fn greatest(a: Integer, b: Integer) -> Integer;
}

/// The counts of one service in one 15-minute bin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BinCounts {
    /// The service.
    pub service_id: Uuid,
    /// Start of the bin (a multiple of 15 minutes).
    pub bin_start: DateTime<Utc>,
    /// Reports in the bin.
    pub total: i32,
    /// Reports per problem kind.
    pub problems: BTreeMap<String, i32>,
    /// Reports per country.
    pub countries: BTreeMap<String, i32>,
}

#[derive(Insertable)]
#[diesel(table_name = report_bins)]
struct BinRow {
    service_id: Uuid,
    bin_start: DateTime<Utc>,
    total: i32,
}

#[derive(Insertable)]
#[diesel(table_name = report_bin_breakdowns)]
struct BreakdownRow<'a> {
    service_id: Uuid,
    bin_start: DateTime<Utc>,
    dimension: &'static str,
    key: &'a str,
    count: i32,
}

/// Writes bins, keeping the larger of the stored and the new count everywhere: minute counts
/// only grow, so a re-run, a second writer or a Redis that lost its data never lowers history.
pub async fn upsert(db: &Db, bins: &[BinCounts]) -> Result<(), StoreError> {
    if bins.is_empty() {
        return Ok(());
    }
    let rows: Vec<BinRow> = bins
        .iter()
        .map(|b| BinRow {
            service_id: b.service_id,
            bin_start: b.bin_start,
            total: b.total,
        })
        .collect();
    let breakdowns: Vec<BreakdownRow> = bins
        .iter()
        .flat_map(|b| {
            let problems = b.problems.iter().map(move |(k, c)| ("problem", k, *c, b));
            let countries = b.countries.iter().map(move |(k, c)| ("country", k, *c, b));
            problems.chain(countries)
        })
        .map(|(dimension, key, count, b)| BreakdownRow {
            service_id: b.service_id,
            bin_start: b.bin_start,
            dimension,
            key,
            count,
        })
        .collect();
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let work = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        for chunk in rows.chunks(1000) {
            diesel::insert_into(report_bins::table)
                .values(chunk)
                .on_conflict((report_bins::service_id, report_bins::bin_start))
                .do_update()
                .set(
                    report_bins::total
                        .eq(greatest(report_bins::total, excluded(report_bins::total))),
                )
                .execute(conn)
                .await?;
        }
        for chunk in breakdowns.chunks(1000) {
            diesel::insert_into(report_bin_breakdowns::table)
                .values(chunk)
                .on_conflict((
                    report_bin_breakdowns::service_id,
                    report_bin_breakdowns::bin_start,
                    report_bin_breakdowns::dimension,
                    report_bin_breakdowns::key,
                ))
                .do_update()
                .set(report_bin_breakdowns::count.eq(greatest(
                    report_bin_breakdowns::count,
                    excluded(report_bin_breakdowns::count),
                )))
                .execute(conn)
                .await?;
        }
        Ok(())
    });
    db.timed(work).await
}

/// Bin totals of a service in `[from, to)`, oldest first (bins without reports are absent).
pub async fn totals(
    db: &Db,
    service_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i32)>, StoreError> {
    let mut conn = db.conn().await?;
    let query = report_bins::table
        .filter(report_bins::service_id.eq(service_id))
        .filter(report_bins::bin_start.ge(from))
        .filter(report_bins::bin_start.lt(to))
        .order(report_bins::bin_start)
        .select((report_bins::bin_start, report_bins::total));
    db.timed(query.load(&mut conn)).await
}

/// Bin totals of several services in `[from, to)`: `(service, bin start, total)`, by service
/// and time (bins without reports are absent). One query for a whole board of sparklines; the
/// service list keeps it on the primary key.
pub async fn totals_many(
    db: &Db,
    services: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>, i32)>, StoreError> {
    let mut conn = db.conn().await?;
    let query = report_bins::table
        .filter(report_bins::service_id.eq_any(services))
        .filter(report_bins::bin_start.ge(from))
        .filter(report_bins::bin_start.lt(to))
        .order((report_bins::service_id, report_bins::bin_start))
        .select((
            report_bins::service_id,
            report_bins::bin_start,
            report_bins::total,
        ));
    db.timed(query.load(&mut conn)).await
}

/// Every bin before this time is complete in PostgreSQL, if a rollup has run.
pub async fn complete_before(db: &Db) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut conn = db.conn().await?;
    let query = rollup_progress::table.select(rollup_progress::complete_before);
    db.timed(async { query.first(&mut conn).await.optional() })
        .await
}

/// Records rollup progress (one leader writes it; after a clock jump back it moves back too).
pub async fn set_complete_before(db: &Db, at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    let query = diesel::insert_into(rollup_progress::table)
        .values((
            rollup_progress::id.eq(true),
            rollup_progress::complete_before.eq(at),
        ))
        .on_conflict(rollup_progress::id)
        .do_update()
        .set(rollup_progress::complete_before.eq(at));
    db.timed(query.execute(&mut conn)).await.map(drop)
}

/// Per-key counts of one dimension (`problem` or `country`) for a service's bins in
/// `[from, to)`: `(bin start, key, count)`, oldest first.
pub async fn breakdowns(
    db: &Db,
    service_id: Uuid,
    dimension: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, String, i32)>, StoreError> {
    let mut conn = db.conn().await?;
    let query = report_bin_breakdowns::table
        .filter(report_bin_breakdowns::service_id.eq(service_id))
        .filter(report_bin_breakdowns::dimension.eq(dimension))
        .filter(report_bin_breakdowns::bin_start.ge(from))
        .filter(report_bin_breakdowns::bin_start.lt(to))
        .order(report_bin_breakdowns::bin_start)
        .select((
            report_bin_breakdowns::bin_start,
            report_bin_breakdowns::key,
            report_bin_breakdowns::count,
        ));
    db.timed(query.load(&mut conn)).await
}

/// Creates the monthly partitions of the bin tables covering `from` to `to`, where missing.
/// Returns how many months were created.
pub async fn ensure_partitions(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i32, StoreError> {
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        created: i32,
    }
    let mut conn = db.conn().await?;
    let query = diesel::sql_query("SELECT downwatch_ensure_bin_partitions($1, $2) AS created")
        .bind::<diesel::sql_types::Date, _>(from.date_naive())
        .bind::<diesel::sql_types::Date, _>(to.date_naive());
    let rows: Vec<Created> = db.timed(query.load(&mut conn)).await?;
    Ok(rows.into_iter().next().map_or(0, |r| r.created))
}

/// Drops the history of every month that ended by `cutoff` (whole partitions, and older rows
/// of the default one). Returns how many months were dropped.
pub async fn drop_history_before(db: &Db, cutoff: DateTime<Utc>) -> Result<i32, StoreError> {
    #[derive(QueryableByName)]
    struct Dropped {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        dropped: i32,
    }
    let mut conn = db.conn().await?;
    let query = diesel::sql_query("SELECT downwatch_drop_bin_partitions_before($1) AS dropped")
        .bind::<diesel::sql_types::Date, _>(cutoff.date_naive());
    let rows: Vec<Dropped> = db.timed(query.load(&mut conn)).await?;
    Ok(rows.into_iter().next().map_or(0, |r| r.dropped))
}
