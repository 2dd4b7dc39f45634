//! A service's history: rolled-up 15-minute bins in PostgreSQL before a seam, Redis minutes
//! from it on. Every read that spans both stores goes through here, so the seam has one rule.
//!
//! The rule: the seam is a bin boundary, the first bin the rollup has not completed (bins
//! before it are final in PostgreSQL), but never earlier than the caller's `floor` (the oldest
//! minute it will read from Redis: what Redis still holds, or less to bound a read) and never
//! after the bin under way. A read that must show whole minutes from some point on moves the
//! seam back to there. Nothing is counted twice and nothing falls between.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::Reads;
use super::points::Counts;
use crate::db::bins;
use crate::domain::ServiceSlug;
use crate::store::StoreResult;
use crate::time::{BIN_MINUTES, align_down, align_up, minute_of, minute_start};

/// What a breakdown counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Problem kinds.
    Problem,
    /// Countries.
    Country,
}

impl Dimension {
    /// The singular name (`problem`), as stored and as the JSON key of each entry.
    pub fn name(self) -> &'static str {
        match self {
            Self::Problem => "problem",
            Self::Country => "country",
        }
    }

    /// The plural name (`problems`), as the JSON key of the list.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Problem => "problems",
            Self::Country => "countries",
        }
    }
}

/// Counts of one dimension per minute, oldest first; minutes without reports are left out.
pub type PerMinute = Vec<(i64, BTreeMap<String, u64>)>;

impl Reads {
    /// The oldest minute Redis still holds, as a bin boundary.
    pub fn redis_floor(&self) -> i64 {
        align_up(self.now_minute() - self.retention_minutes(), BIN_MINUTES)
    }

    /// The seam for a read (see the module doc): bins before it, minutes from it on.
    pub async fn seam(&self, floor: i64, whole_minutes_from: Option<i64>) -> StoreResult<i64> {
        let complete = bins::complete_before(&self.db).await?.map(minute_of);
        Ok(self.seam_after(complete, floor, whole_minutes_from))
    }

    /// The seam when the rollup has completed every bin before `complete` (a minute number).
    pub fn seam_after(&self, complete: Option<i64>, floor: i64, whole_from: Option<i64>) -> i64 {
        let now = self.now_minute();
        let seam = complete
            .map_or(floor, |c| align_down(c, BIN_MINUTES))
            .clamp(floor, align_up(now, BIN_MINUTES).max(floor));
        whole_from.map_or(seam, |from| seam.min(from))
    }

    /// Total reports of one service in `[from, to)`: bins before `seam`, minutes after.
    pub async fn totals(
        &self,
        service_id: Uuid,
        slug: &ServiceSlug,
        from: i64,
        to: i64,
        seam: i64,
    ) -> StoreResult<Counts> {
        let stored = if seam > from {
            // A range that ended long ago needs no bins after its end.
            bins::totals(
                &self.db,
                service_id,
                minute_start(from),
                minute_start(seam.min(to)),
            )
            .await?
        } else {
            Vec::new()
        };
        let start = seam.max(from);
        let minutes = self.windows.totals(slug, start, to).await?;
        Ok(Counts {
            bins: stored
                .into_iter()
                .map(|(t, total)| (minute_of(t), f64::from(total)))
                .collect(),
            minutes: minutes.iter().map(|m| count(*m)).collect(),
            seam: start,
        })
    }

    /// Total reports of many services in `[from, to)`, with one seam for all: one PostgreSQL
    /// query and pipelined Redis reads.
    pub async fn totals_many(
        &self,
        services: &[(Uuid, ServiceSlug)],
        from: i64,
        to: i64,
        seam: i64,
    ) -> StoreResult<HashMap<Uuid, Counts>> {
        let ids: Vec<Uuid> = services.iter().map(|(id, _)| *id).collect();
        let mut stored: HashMap<Uuid, Vec<(i64, f64)>> = HashMap::new();
        for (id, start, total) in
            bins::totals_many(&self.db, &ids, minute_start(from), minute_start(seam)).await?
        {
            stored
                .entry(id)
                .or_default()
                .push((minute_of(start), f64::from(total)));
        }
        let ranges: Vec<(ServiceSlug, i64, i64)> = services
            .iter()
            .map(|(_, slug)| (slug.clone(), seam, to))
            .collect();
        let minutes = self.windows.totals_many(&ranges).await?;
        Ok(services
            .iter()
            .zip(minutes)
            .map(|((id, _), totals)| {
                let counts = Counts {
                    bins: stored.remove(id).unwrap_or_default(),
                    minutes: totals.iter().map(|t| count(*t)).collect(),
                    seam,
                };
                (*id, counts)
            })
            .collect())
    }

    /// Counts of one dimension per minute in `[from, to)`: bins (at their start minute) before
    /// the seam, Redis minutes from it on. A window Redis still holds whole is read from Redis
    /// alone, minute by minute.
    pub async fn per_minute(
        &self,
        slug: &ServiceSlug,
        service_id: Uuid,
        from: i64,
        to: i64,
        dimension: Dimension,
    ) -> StoreResult<PerMinute> {
        let floor = self.now_minute() - self.retention_minutes();
        let seam = if from >= floor {
            from
        } else {
            self.seam(align_up(floor, BIN_MINUTES), None).await?
        };
        let mut per_minute: PerMinute = Vec::new();
        if seam > from {
            let stored = bins::breakdowns(
                &self.db,
                service_id,
                dimension.name(),
                minute_start(from),
                minute_start(seam),
            )
            .await?;
            for (bin, key, count) in stored {
                let minute = minute_of(bin);
                let count = u64::try_from(count).unwrap_or(0);
                match per_minute.last_mut() {
                    Some((m, counts)) if *m == minute => *counts.entry(key).or_default() += count,
                    _ => per_minute.push((minute, BTreeMap::from([(key, count)]))),
                }
            }
        }
        for bucket in self.windows.minutes(slug, seam, to).await? {
            let counts = match dimension {
                Dimension::Problem => bucket.problems,
                Dimension::Country => bucket.countries,
            };
            if !counts.is_empty() {
                per_minute.push((minute_of(bucket.t), counts));
            }
        }
        Ok(per_minute)
    }
}

/// Sums per-minute counts over the whole window.
pub fn totals(per_minute: &[(i64, BTreeMap<String, u64>)]) -> BTreeMap<String, u64> {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (_, counts) in per_minute {
        for (key, count) in counts {
            *totals.entry(key.clone()).or_default() += count;
        }
    }
    totals
}

/// A minute's count as the model's number.
pub(super) fn count(total: u64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "a minute's reports stay far below 2^52"
    )]
    let value = total as f64;
    value
}
