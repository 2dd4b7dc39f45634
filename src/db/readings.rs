//! The model's readings stored with the bins, and how far they reach.
//!
//! Every bin row may carry the reading of its 15-minute step and, on the last bin of an hour,
//! the reading of that hour (see `detect::readings` for what a reading is). The monitor writes
//! them as bins close and fills in older history; `rollup_progress` says which span of time
//! holds them for every service, so a missing row there means "no report since the anchor"
//! rather than "not read yet". A row written only for its readings has a total of 0; totals
//! are never touched here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::pool::Db;
use super::schema::{report_bins, rollup_progress};
use crate::detect::Level;
use crate::detect::readings::Reading;
use crate::store::StoreError;

/// The rollup's progress and the span that holds readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Every bin before this is complete in PostgreSQL, if a rollup has run.
    pub complete_before: Option<DateTime<Utc>>,
    /// The span of bins holding readings, if any.
    pub readings: Option<Span>,
}

/// Bins in `[from, before)` hold the readings of the model identified by `model`, for every
/// service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First bin with readings.
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub before: DateTime<Utc>,
    /// The model (`detect::readings::model_id`) that read them.
    pub model: i64,
    /// Grows whenever `before` moves back (bins already read were rolled up again).
    pub generation: i64,
}

impl Span {
    /// The span a progress row holds, if it holds one (its columns are set together).
    pub fn of_row(
        from: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
        model: Option<i64>,
        generation: i64,
    ) -> Option<Self> {
        Some(Self {
            from: from?,
            before: before?,
            model: model?,
            generation,
        })
    }
}

/// A stored bin with its readings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBin {
    /// Start of the bin.
    pub start: DateTime<Utc>,
    /// Reports in it.
    pub total: i32,
    /// The reading of its 15-minute step, once read.
    pub quarter: Option<Reading>,
    /// On the last bin of an hour: the reading of that hour, once read.
    pub hour: Option<Reading>,
}

/// Readings to store for one service's bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewReadings {
    /// The service.
    pub service_id: Uuid,
    /// Start of the bin.
    pub start: DateTime<Utc>,
    /// The reading of the bin's 15-minute step.
    pub quarter: Reading,
    /// On the last bin of an hour: the hour's reading.
    pub hour: Option<Reading>,
}

type ProgressRow = (
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<i64>,
    i64,
);

/// The rollup's progress and the span holding readings, in one query.
pub async fn progress(db: &Db) -> Result<Progress, StoreError> {
    let mut conn = db.conn().await?;
    let query = rollup_progress::table.select((
        rollup_progress::complete_before,
        rollup_progress::readings_from,
        rollup_progress::readings_before,
        rollup_progress::readings_model,
        rollup_progress::readings_generation,
    ));
    let row: Option<ProgressRow> = db
        .timed(async { query.first(&mut conn).await.optional() })
        .await?;
    let Some((complete_before, from, before, model, generation)) = row else {
        return Ok(Progress::default());
    };
    Ok(Progress {
        complete_before: Some(complete_before),
        readings: Span::of_row(from, before, model, generation),
    })
}

/// Records the span holding readings (the rollup must have run: its row holds the span).
pub async fn set_span(
    db: &Db,
    from: DateTime<Utc>,
    before: DateTime<Utc>,
    model: i64,
) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    let query = diesel::update(rollup_progress::table).set((
        rollup_progress::readings_from.eq(from),
        rollup_progress::readings_before.eq(before),
        rollup_progress::readings_model.eq(model),
    ));
    db.timed(query.execute(&mut conn)).await.map(drop)
}

/// Bins from `at` on were rolled up again (their totals may have grown): the span ends there at
/// the latest, and readers drop what they derived from the bins after it.
pub async fn invalidate_from(db: &Db, at: DateTime<Utc>) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    let query = diesel::sql_query(
        "UPDATE rollup_progress SET readings_before = $1, \
         readings_from = LEAST(readings_from, $1), \
         readings_generation = readings_generation + 1 \
         WHERE readings_before > $1",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(at);
    db.timed(query.execute(&mut conn)).await.map(drop)
}

/// The start of the oldest stored bin, if any.
pub async fn oldest_bin(db: &Db) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut conn = db.conn().await?;
    let query = report_bins::table.select(diesel::dsl::min(report_bins::bin_start));
    db.timed(query.first(&mut conn)).await
}

type BinRow = (
    DateTime<Utc>,
    i32,
    Option<f64>,
    Option<f64>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
);

/// A service's bins in `[from, to)` with their readings, oldest first (bins absent from storage
/// are absent here).
pub async fn read(
    db: &Db,
    service_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StoredBin>, StoreError> {
    let mut conn = db.conn().await?;
    let query = report_bins::table
        .filter(report_bins::service_id.eq(service_id))
        .filter(report_bins::bin_start.ge(from))
        .filter(report_bins::bin_start.lt(to))
        .order(report_bins::bin_start)
        .select((
            report_bins::bin_start,
            report_bins::total,
            report_bins::baseline,
            report_bins::upper,
            report_bins::level,
            report_bins::hour_baseline,
            report_bins::hour_upper,
            report_bins::hour_level,
        ));
    let rows: Vec<BinRow> = db.timed(query.load(&mut conn)).await?;
    rows.into_iter()
        .map(|(start, total, b, u, l, hb, hu, hl)| {
            Ok(StoredBin {
                start,
                total,
                quarter: reading(b, u, l)?,
                hour: reading(hb, hu, hl)?,
            })
        })
        .collect()
}

/// A reading from its three nullable columns: all or none.
fn reading(
    baseline: Option<f64>,
    upper: Option<f64>,
    level: Option<String>,
) -> Result<Option<Reading>, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        what: "bin reading",
        detail,
    };
    match (baseline, upper, level) {
        (None, None, None) => Ok(None),
        (Some(baseline), Some(upper), Some(level)) => Ok(Some(Reading {
            baseline,
            upper,
            level: level.parse::<Level>().map_err(corrupt)?,
        })),
        partial => Err(corrupt(format!("partly missing: {partial:?}"))),
    }
}

#[derive(Insertable)]
#[diesel(table_name = report_bins)]
struct ReadingRow {
    service_id: Uuid,
    bin_start: DateTime<Utc>,
    total: i32,
    baseline: Option<f64>,
    upper: Option<f64>,
    level: Option<&'static str>,
    hour_baseline: Option<f64>,
    hour_upper: Option<f64>,
    hour_level: Option<&'static str>,
}

/// Stores readings (replacing any stored before); a bin without a row gets one with no
/// reports. Totals are left as they are.
pub async fn write(db: &Db, readings: &[NewReadings]) -> Result<(), StoreError> {
    if readings.is_empty() {
        return Ok(());
    }
    let rows: Vec<ReadingRow> = readings
        .iter()
        .map(|r| ReadingRow {
            service_id: r.service_id,
            bin_start: r.start,
            total: 0,
            baseline: Some(r.quarter.baseline),
            upper: Some(r.quarter.upper),
            level: Some(r.quarter.level.as_str()),
            hour_baseline: r.hour.map(|h| h.baseline),
            hour_upper: r.hour.map(|h| h.upper),
            hour_level: r.hour.map(|h| h.level.as_str()),
        })
        .collect();
    let mut conn = db.conn().await?;
    // Each chunk within the deadline, not all of them: a bin of 100,000 services is 100 chunks.
    for chunk in rows.chunks(1000) {
        let query = diesel::insert_into(report_bins::table)
            .values(chunk)
            .on_conflict((report_bins::service_id, report_bins::bin_start))
            .do_update()
            .set((
                report_bins::baseline.eq(excluded(report_bins::baseline)),
                report_bins::upper.eq(excluded(report_bins::upper)),
                report_bins::level.eq(excluded(report_bins::level)),
                report_bins::hour_baseline.eq(excluded(report_bins::hour_baseline)),
                report_bins::hour_upper.eq(excluded(report_bins::hour_upper)),
                report_bins::hour_level.eq(excluded(report_bins::hour_level)),
            ));
        db.timed(query.execute(&mut conn)).await?;
    }
    Ok(())
}
