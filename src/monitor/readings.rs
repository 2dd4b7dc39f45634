//! Readings of closed bins, recorded by the leader as the rollup closes them; older history is
//! read a day at a time, newest first, in the time a tick has left.
//!
//! A bin is read once it is final: the rollup rolls the last complete bin again on its next
//! pass (a report in flight at the boundary lands late), so readings stop one bin short of the
//! rollup. Each service with a report since the current day's anchor keeps two runs (15-minute
//! and hourly, see `detect::readings`) positioned where the readings end; a missing one (a new
//! leader, a new day, a first report) is rebuilt from the stored totals since the anchor.
//! Readings are written for every stored bin and for every empty bin whose reading is not the
//! idle one, so that within the span a missing row means "no report since the anchor".
//!
//! Readings belong to the model that read them ([`model_id`]): when its parameters change, a
//! new span starts at today and history is read again, newest first, while curves run the
//! model over what is not read yet. A change in the model's code that changes readings bumps
//! `detect::readings::REVISION` to the same effect.
//!
//! A recorder reads the services of one scope (see `db::shard_progress`): every service for
//! one leader, or one shard's services, with that shard's own span, so several instances read
//! at once and a shard taken over resumes from its span. Building the runs of every service (a
//! new leader, a new day) is the costly part (84 s at 100,000 services in one tick): it goes a
//! chunk of services at a time until the tick's budget is spent, and the next tick resumes with
//! the runs already built and the services already known to be idle, as the tracker warm-up
//! does; the readings move on once every service is looked up.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::readings::{self as stored, NewReadings};
use crate::db::shard_progress::{self, Scope};
use crate::db::{Db, bins};
use crate::detect::Params;
use crate::detect::readings::{Reading, Run, anchor, idle, model_id, next_day};
use crate::store::StoreError;
use crate::time::{BIN_MINUTES, align_down, minute_of, minute_start};

const HOUR: i64 = 60;
const DAY: i64 = 1440;

/// Stored totals of one service, `(bin start minute, total)`, oldest first.
type Totals = Vec<(i64, i32)>;

/// One service's runs, both from the same anchor: the 15-minute one at the end of the readings,
/// the hourly one at the start of that hour, with the reports of the hour so far.
struct Cursor {
    quarter: Run,
    hour: Run,
    hour_reports: f64,
}

impl Cursor {
    /// Runs from `anchor` fed the stored `totals` (all before `at`) up to `at`, a bin boundary.
    fn warmed(params: Params, anchor: i64, at: i64, totals: &[(i64, i32)]) -> Self {
        let index = |bin: i64| usize::try_from((bin - anchor) / BIN_MINUTES).ok();
        let mut per_bin = vec![0.0; index(at).unwrap_or(0)];
        for (bin, total) in totals {
            if let Some(slot) = index(*bin).and_then(|i| per_bin.get_mut(i)) {
                *slot = f64::from(*total);
            }
        }
        let reports = |from: i64, to: i64| -> f64 {
            let (from, to) = (index(from).unwrap_or(0), index(to).unwrap_or(0));
            per_bin
                .get(from..to.min(per_bin.len()))
                .map_or(0.0, |s| s.iter().sum())
        };
        let mut quarter = Run::new(params, BIN_MINUTES, anchor);
        quarter.advance_to(at, |bin| reports(bin, bin + BIN_MINUTES));
        let mut hour = Run::new(params, HOUR, anchor);
        hour.advance_to(align_down(at, HOUR), |h| reports(h, h + HOUR));
        Self {
            quarter,
            hour,
            hour_reports: reports(align_down(at, HOUR), at),
        }
    }

    /// Reads the bins in `[from, to)` (from where the cursor stands), with their stored
    /// `totals`, and adds the readings to store to `out`.
    fn read(
        &mut self,
        params: Params,
        service_id: Uuid,
        (from, to): (i64, i64),
        totals: &[(i64, i32)],
        out: &mut Vec<NewReadings>,
    ) {
        let mut stored = totals.iter().peekable();
        let mut bin = from;
        while bin < to {
            while stored.next_if(|(start, _)| *start < bin).is_some() {}
            let row = stored.next_if(|(start, _)| *start == bin);
            let reports = row.map_or(0.0, |(_, total)| f64::from(*total));
            let quarter = self.quarter.step(reports);
            self.hour_reports += reports;
            let hour = (bin % HOUR == HOUR - BIN_MINUTES).then(|| {
                let reading = self.hour.step(self.hour_reports);
                self.hour_reports = 0.0;
                reading
            });
            let idle_hour = |h: &Reading| *h == idle(params, HOUR, bin + BIN_MINUTES - HOUR);
            if row.is_some()
                || quarter != idle(params, BIN_MINUTES, bin)
                || hour.as_ref().is_some_and(|h| !idle_hour(h))
            {
                out.push(NewReadings {
                    service_id,
                    start: minute_start(bin),
                    quarter,
                    hour,
                });
            }
            bin += BIN_MINUTES;
        }
    }
}

/// The recorder's memory between ticks: the leader's alone, dropped when it loses the lease.
pub struct Recorder {
    params: Params,
    model: i64,
    cursors: HashMap<Uuid, Cursor>,
    /// The anchor for which every service without a cursor is known to be idle.
    anchored: Option<i64>,
    /// While the services are being looked up for an anchor (a pass cut short by the budget):
    /// that anchor and the services looked up so far.
    looked_up: Option<(i64, HashSet<Uuid>)>,
    /// Whose bins it reads and whose span it keeps.
    scope: Scope,
    /// The oldest stored bin (minute) and the readings' end when it was looked up.
    oldest: Option<(Option<i64>, i64)>,
}

impl Recorder {
    /// A recorder reading with `params` the bins of `scope`.
    pub fn new(params: Params, scope: Scope) -> Self {
        Self {
            params,
            model: model_id(&params),
            cursors: HashMap::new(),
            anchored: None,
            looked_up: None,
            scope,
            oldest: None,
        }
    }

    /// Reads the bins that became final since the last call, then older history, until `budget`
    /// (wall time) is spent; at least a chunk of services is looked up each call, so a long
    /// first pass goes on over ticks. Returns how many bins got readings.
    pub async fn record(
        &mut self,
        db: &Db,
        services: &[Uuid],
        budget: Duration,
    ) -> Result<usize, StoreError> {
        let deadline = Instant::now() + budget;
        let progress = shard_progress::progress(db, self.scope).await?;
        let Some(complete) = progress.complete_before else {
            return Ok(0);
        };
        let final_before = minute_of(complete) - BIN_MINUTES;
        let (mut from, mut before) = match progress.readings {
            Some(span) if span.model == self.model && minute_of(span.before) <= final_before => {
                (minute_of(span.from), minute_of(span.before))
            }
            _ => {
                // No readings yet, or another model's: a new span from today on.
                let today = align_down(final_before, DAY);
                self.cursors.clear();
                self.anchored = None;
                self.looked_up = None;
                (today, today)
            }
        };
        let mut written = 0;
        while before < final_before {
            let end = final_before.min(next_day(before));
            let Some(read) = self.forward(db, services, (before, end), deadline).await? else {
                // Out of time looking services up: the rest next tick.
                return Ok(written);
            };
            written += read;
            before = end;
            self.save(db, from, before).await?;
            if Instant::now() >= deadline {
                return Ok(written);
            }
        }
        while Instant::now() < deadline {
            let Some(oldest) = self.oldest(db, before).await? else {
                break;
            };
            if from <= oldest {
                break;
            }
            let day = from - DAY;
            written += self.backfill(db, services, day).await?;
            from = day;
            self.save(db, from, before).await?;
        }
        Ok(written)
    }

    async fn save(&self, db: &Db, from: i64, before: i64) -> Result<(), StoreError> {
        shard_progress::set_span(
            db,
            self.scope,
            minute_start(from),
            minute_start(before),
            self.model,
        )
        .await
    }

    /// The oldest stored bin, looked up again once the readings reach a new day.
    async fn oldest(&mut self, db: &Db, before: i64) -> Result<Option<i64>, StoreError> {
        let day = align_down(before, DAY);
        if let Some((oldest, seen)) = self.oldest
            && seen == day
        {
            return Ok(oldest);
        }
        let oldest = stored::oldest_bin(db).await?.map(minute_of);
        self.oldest = Some((oldest, day));
        Ok(oldest)
    }

    /// Reads `[from, to)`, within one day, for every service that has had a report since the
    /// day's anchor. `None`: `deadline` passed before every service was looked up (nothing
    /// read; the next call goes on from there).
    async fn forward(
        &mut self,
        db: &Db,
        services: &[Uuid],
        (from, to): (i64, i64),
        deadline: Instant,
    ) -> Result<Option<usize>, StoreError> {
        let anchor = anchor(from);
        let new = totals(db, services, from, to).await?;
        // A new day (or a new leader) does not know who is idle since the anchor: everyone is
        // looked up once; afterwards only services with new bins can stop being idle.
        let everyone = self.anchored != Some(anchor);
        if self.looked_up.as_ref().is_some_and(|(a, _)| *a != anchor) {
            self.looked_up = None;
        }
        let known = |id: &Uuid| self.looked_up.as_ref().is_some_and(|(_, k)| k.contains(id));
        let stale: Vec<Uuid> = services
            .iter()
            .filter(|id| match self.cursors.get(*id) {
                Some(c) => c.quarter.anchor() != anchor || c.quarter.next() != from,
                None => (everyone && !known(id)) || new.contains_key(*id),
            })
            .copied()
            .collect();
        for (i, chunk) in stale.chunks(SERVICES_PER_QUERY).enumerate() {
            if i > 0 && Instant::now() >= deadline {
                return Ok(None);
            }
            self.look_up(db, chunk, (anchor, from), &new).await?;
            if everyone {
                let (_, known) = self
                    .looked_up
                    .get_or_insert_with(|| (anchor, HashSet::new()));
                known.extend(chunk.iter().copied());
            }
        }
        self.looked_up = None;
        // Cursors of services no longer in the catalog stand elsewhere: they go.
        self.cursors
            .retain(|_, c| c.quarter.anchor() == anchor && c.quarter.next() == from);
        self.anchored = Some(anchor);
        let mut out = Vec::new();
        for (id, cursor) in &mut self.cursors {
            let totals = new.get(id).map_or(&[][..], Vec::as_slice);
            cursor.read(self.params, *id, (from, to), totals, &mut out);
        }
        let result = stored::write(db, &out).await;
        if result.is_err() {
            // What was stored is unknown: rebuild from storage next time.
            self.cursors.clear();
            self.anchored = None;
        }
        result.map(|()| Some(out.len()))
    }

    /// Builds the cursors of `services` from their stored totals in `[anchor, from)` (and
    /// forgets those idle since the anchor, unless they have `new` bins).
    async fn look_up(
        &mut self,
        db: &Db,
        services: &[Uuid],
        (anchor, from): (i64, i64),
        new: &HashMap<Uuid, Totals>,
    ) -> Result<(), StoreError> {
        let history = totals(db, services, anchor, from).await?;
        for id in services {
            match history.get(id) {
                None if !new.contains_key(id) => {
                    // Nothing since the anchor: idle, nothing to store.
                    self.cursors.remove(id);
                }
                totals => {
                    let totals = totals.map_or(&[][..], Vec::as_slice);
                    let cursor = Cursor::warmed(self.params, anchor, from, totals);
                    self.cursors.insert(*id, cursor);
                }
            }
        }
        Ok(())
    }

    /// Reads the day starting at `day` for every service with a stored bin since its anchor.
    async fn backfill(
        &mut self,
        db: &Db,
        services: &[Uuid],
        day: i64,
    ) -> Result<usize, StoreError> {
        let anchor = anchor(day);
        let end = day + DAY;
        let history = totals(db, services, anchor, end).await?;
        let mut out = Vec::new();
        for (id, totals) in &history {
            let split = totals.partition_point(|(bin, _)| *bin < day);
            let mut cursor = Cursor::warmed(self.params, anchor, day, &totals[..split]);
            cursor.read(self.params, *id, (day, end), &totals[split..], &mut out);
        }
        stored::write(db, &out).await?;
        Ok(out.len())
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    minute_start(minute)
}

/// Services whose stored totals one query reads: a week of bins of 100,000 services in one
/// query would outlast the PostgreSQL deadline, and the tick would fail every time.
const SERVICES_PER_QUERY: usize = 5_000;

/// The stored totals of `services` in `[from, to)`, grouped by service.
async fn totals(
    db: &Db,
    services: &[Uuid],
    from: i64,
    to: i64,
) -> Result<HashMap<Uuid, Totals>, StoreError> {
    let mut grouped: HashMap<Uuid, Totals> = HashMap::new();
    for chunk in services.chunks(SERVICES_PER_QUERY) {
        for (id, start, total) in bins::totals_many(db, chunk, at(from), at(to)).await? {
            grouped
                .entry(id)
                .or_default()
                .push((minute_of(start), total));
        }
    }
    Ok(grouped)
}
