//! Stored bins with their readings, kept in the process once read.
//!
//! Bins inside the readings' span are final: the rollup does not write them again and the
//! monitor has read them, so a copy never goes stale while the span's model and generation stay
//! the same (a change drops it). Curves then cost no PostgreSQL query for history: each
//! service's bins are kept as one stretch that grows at either end as curves ask for more. The
//! rollup's progress, and the bins after the span (the last one or two, still being rolled up
//! and read), are kept for `ttl`: a moment-old progress only moves the seam back (Redis still
//! holds those minutes), and a moment-old last bin is what a read cache would serve. Bins
//! before the span (not read yet) are read from PostgreSQL every time. A zero `ttl` keeps
//! nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::db::Db;
use crate::db::readings::{self as db_readings, Progress, StoredBin};
use crate::store::StoreResult;
use crate::time::{minute_of, minute_start};

/// Most bins kept at once, over all services (a 90-day curve reads 8,640).
pub const MAX_BINS: usize = 500_000;

/// One service's kept bins: every stored bin in `[from, to)`.
struct Stretch {
    from: i64,
    to: i64,
    model: i64,
    generation: i64,
    bins: Arc<Vec<StoredBin>>,
}

/// Bins after the span, and when they were read.
type Recent = (DateTime<Utc>, Arc<Vec<StoredBin>>);

/// Kept progress and bins.
pub struct StoredCache {
    ttl: TimeDelta,
    clock: SharedClock,
    progress: Mutex<Option<(DateTime<Utc>, Progress)>>,
    stretches: Mutex<HashMap<Uuid, Stretch>>,
    /// The bins after the span, by service and range, with when they were read.
    recent: Mutex<HashMap<(Uuid, i64, i64), Recent>>,
}

impl StoredCache {
    /// Keeps the progress for `ttl` on `clock` (and bins while it is not zero).
    pub fn new(ttl: Duration, clock: SharedClock) -> Self {
        Self {
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::zero()),
            clock,
            progress: Mutex::new(None),
            stretches: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The rollup's progress and the readings' span, at most `ttl` old.
    pub async fn progress(&self, db: &Db) -> StoreResult<Progress> {
        let now = self.clock.now();
        if !self.ttl.is_zero() {
            let kept = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, progress)) = *kept
                && at <= now
                && now - at < self.ttl
            {
                return Ok(progress);
            }
        }
        let progress = db_readings::progress(db).await?;
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, progress));
        Ok(progress)
    }

    /// A service's stored bins in `[from, to)` with their readings, oldest first.
    pub async fn bins(
        &self,
        db: &Db,
        service_id: Uuid,
        (from, to): (i64, i64),
        progress: &Progress,
    ) -> StoreResult<Vec<StoredBin>> {
        let read = |from: i64, to: i64| async move {
            if from >= to {
                return Ok(Vec::new());
            }
            db_readings::read(db, service_id, minute_start(from), minute_start(to)).await
        };
        let Some(span) = progress.readings.filter(|_| !self.ttl.is_zero()) else {
            return read(from, to).await;
        };
        let (lo, hi) = (minute_of(span.from), minute_of(span.before));
        // Inside the span from `kept_from` to `kept_to`; before and after it, read each time.
        let kept_from = from.clamp(lo, hi);
        let kept_to = to.clamp(kept_from, hi);
        let mut bins = read(from, kept_from.min(to)).await?;
        if kept_from < kept_to {
            let kept = self
                .kept(
                    db,
                    service_id,
                    (kept_from, kept_to),
                    span.model,
                    span.generation,
                )
                .await?;
            let start = kept.partition_point(|b| minute_of(b.start) < kept_from);
            let end = kept.partition_point(|b| minute_of(b.start) < kept_to);
            bins.extend_from_slice(&kept[start..end]);
        }
        bins.extend_from_slice(&self.recent(db, service_id, (kept_to.max(from), to)).await?);
        Ok(bins)
    }

    /// A service's bins in `[from, to)` after the span, at most `ttl` old.
    async fn recent(
        &self,
        db: &Db,
        service_id: Uuid,
        (from, to): (i64, i64),
    ) -> StoreResult<Arc<Vec<StoredBin>>> {
        if from >= to {
            return Ok(Arc::default());
        }
        let now = self.clock.now();
        let key = (service_id, from, to);
        let fresh = |at: DateTime<Utc>| at <= now && now - at < self.ttl;
        {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, bins)) = recent.get(&key)
                && fresh(*at)
            {
                return Ok(bins.clone());
            }
        }
        let bins = Arc::new(
            db_readings::read(db, service_id, minute_start(from), minute_start(to)).await?,
        );
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|_, (at, _)| fresh(*at));
        recent.insert(key, (now, bins.clone()));
        Ok(bins)
    }

    /// The kept stretch of a service, grown to cover `[from, to)`.
    async fn kept(
        &self,
        db: &Db,
        service_id: Uuid,
        (from, to): (i64, i64),
        model: i64,
        generation: i64,
    ) -> StoreResult<Arc<Vec<StoredBin>>> {
        let current = {
            let stretches = self.stretches.lock().unwrap_or_else(|e| e.into_inner());
            stretches
                .get(&service_id)
                .filter(|s| s.model == model && s.generation == generation)
                .filter(|s| s.from <= to && from <= s.to)
                .map(|s| (s.from, s.to, s.bins.clone()))
        };
        let read = |from: i64, to: i64| async move {
            if from >= to {
                return Ok(Vec::new());
            }
            db_readings::read(db, service_id, minute_start(from), minute_start(to)).await
        };
        let (new_from, new_to, bins) = match current {
            Some((lo, hi, bins)) if lo <= from && to <= hi => return Ok(bins),
            Some((lo, hi, bins)) => {
                let mut grown = read(from.min(lo), lo).await?;
                grown.extend_from_slice(&bins);
                grown.extend(read(hi, to.max(hi)).await?);
                (from.min(lo), to.max(hi), grown)
            }
            None => (from, to, read(from, to).await?),
        };
        let bins = Arc::new(bins);
        let mut stretches = self.stretches.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = stretches.values().map(|s| s.bins.len()).sum();
        if held + bins.len() > MAX_BINS {
            stretches.clear();
        }
        stretches.insert(
            service_id,
            Stretch {
                from: new_from,
                to: new_to,
                model,
                generation,
                bins: bins.clone(),
            },
        );
        Ok(bins)
    }
}
