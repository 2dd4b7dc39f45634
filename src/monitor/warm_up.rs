//! Building trackers for the services a leader does not watch yet, a batch at a time.
//!
//! A tracker learns from four weeks of PostgreSQL bins, recalls what the last monitor's
//! detector learned besides the baseline (its saved memory), replays the last hours of Redis
//! minutes (what a Redis restart lost put back from the bins) and is reconciled with the
//! incidents in PostgreSQL. A new leader must do this for every service before it watches them
//! all, so a batch's history comes in one query per table and one pipelined Redis read, not
//! five round trips per service; the learning itself, CPU alone, runs on a blocking thread,
//! off the runtime that serves requests. Only a service whose replay sees an incident that
//! PostgreSQL has not opened costs queries of its own.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{HISTORY_DAYS, Monitor, Tracker, rollup};
use crate::db::{bins, incidents, memories};
use crate::detect::readings::model_id;
use crate::detect::{Memory, Params};
use crate::domain::{Incident, ServiceSlug, Update};
use crate::store::StoreError;
use crate::time::{minute_of, minute_start};
use crate::windows::MinuteBucket;

/// Services warmed up together: enough that the queries' round trips do not count, few enough
/// that a batch (learning four weeks costs some 8-11 ms a service: 4-5 s) keeps the tick well
/// inside the lease when it starts just before the warm-up budget runs out.
pub(super) const BATCH: usize = 500;

/// One service's history, as loaded for its batch.
struct Loaded {
    id: Uuid,
    slug: ServiceSlug,
    /// Stored bin totals from the start of the history up to now, oldest first.
    bins: Vec<(DateTime<Utc>, i32)>,
    /// Incidents open at some time in the history, newest first.
    incidents: Vec<Incident>,
    /// Redis minutes from the replay's start up to now.
    minutes: Vec<MinuteBucket>,
    /// What the last monitor's detector learned besides the baseline, if it was saved, and the
    /// first minute it had not seen.
    memory: Option<(i64, Memory)>,
}

/// A tracker fresh from its history, before it is reconciled with PostgreSQL.
struct Built {
    tracker: Tracker,
    slug: ServiceSlug,
    /// The replay's own opening, when PostgreSQL had nothing open.
    opened: Option<Update>,
    /// Whether the replay holds an incident PostgreSQL has not seen open.
    reconcile: bool,
}

impl Monitor {
    /// Builds and adds the trackers of `batch`; on a failure, those built before it stay.
    pub(super) async fn warm_up_batch(
        &self,
        trackers: &mut HashMap<Uuid, Tracker>,
        batch: &[(Uuid, ServiceSlug)],
        closed_until: i64,
    ) -> Result<(), StoreError> {
        // Start the replay on a bin boundary: history bins end where the replay begins.
        let replay_from = rollup::align(closed_until - self.replay_minutes());
        let history_from = minute_start(replay_from) - TimeDelta::days(HISTORY_DAYS);
        let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        let stored =
            bins::totals_many(&self.db, &ids, history_from, minute_start(closed_until)).await?;
        let past = incidents::for_services_since(&self.db, &ids, history_from).await?;
        let ranges: Vec<(ServiceSlug, i64, i64)> = batch
            .iter()
            .map(|(_, slug)| (slug.clone(), replay_from, closed_until))
            .collect();
        let minutes = self.windows.minutes_many(&ranges).await?;
        let mut memories = memories::recall(&self.db, model_id(&self.params), &ids).await?;
        let mut bins_of: HashMap<Uuid, Vec<(DateTime<Utc>, i32)>> = HashMap::new();
        for (id, start, total) in stored {
            bins_of.entry(id).or_default().push((start, total));
        }
        let mut incidents_of: HashMap<Uuid, Vec<Incident>> = HashMap::new();
        for incident in past {
            incidents_of
                .entry(incident.service_id)
                .or_default()
                .push(incident);
        }
        let loaded: Vec<Loaded> = batch
            .iter()
            .zip(minutes)
            .map(|((id, slug), minutes)| Loaded {
                id: *id,
                slug: slug.clone(),
                bins: bins_of.remove(id).unwrap_or_default(),
                incidents: incidents_of.remove(id).unwrap_or_default(),
                minutes,
                memory: memories
                    .remove(id)
                    .map(|(saved_at, memory)| (minute_of(saved_at), memory)),
            })
            .collect();
        let params = self.params;
        let built = tokio::task::spawn_blocking(move || {
            loaded
                .into_iter()
                .map(|l| build(params, replay_from, l))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Internal(anyhow::anyhow!("tracker warm-up failed: {e}")))?;
        for mut built in built {
            if built.reconcile {
                self.reconcile(&mut built.tracker, built.opened, &built.slug)
                    .await?;
            }
            trackers.insert(built.tracker.service_id(), built.tracker);
        }
        Ok(())
    }

    /// Makes PostgreSQL and the replayed tracker agree when PostgreSQL had no incident open:
    /// what the previous leader recorded is not second-guessed by a replay that saw less
    /// history.
    async fn reconcile(
        &self,
        tracker: &mut Tracker,
        opened: Option<Update>,
        slug: &ServiceSlug,
    ) -> Result<(), StoreError> {
        let service = tracker.service_id();
        let stored = incidents::open_for(&self.db, service).await?;
        match (tracker.incident.take(), stored) {
            // An incident is open in PostgreSQL: carry on with it, whatever the replay thinks;
            // the usual quiet rule ends it.
            (_, Some(stored)) => tracker.resume(stored),
            // The replay sees one that PostgreSQL has not: record it, unless the previous
            // leader already resolved an incident covering that start.
            (Some(replayed), None) => {
                let recorded = incidents::for_service(&self.db, service)
                    .await?
                    .iter()
                    .any(|i| i.ended_at.is_some_and(|end| end >= replayed.started_at));
                if recorded {
                    tracker.assume_normal();
                } else {
                    let (stored, created) = match &opened {
                        Some(update) => {
                            incidents::open_with_update(&self.db, &replayed, update).await?
                        }
                        None => incidents::open_or_resume(&self.db, &replayed).await?,
                    };
                    if let (true, Some(update)) = (created, &opened) {
                        self.announce(&stored, update, slug).await;
                    }
                    tracker.written_peak = Some((stored.id, stored.peak_bin_count));
                    tracker.incident = Some(stored);
                }
            }
            (None, None) => {}
        }
        Ok(())
    }
}

/// Builds one tracker from its loaded history (no I/O): learn the bins before the replay,
/// replay the minutes, recalling what the last monitor's detector learned besides the
/// baseline at the minute it was saved, and pick up the incident PostgreSQL has open.
///
/// A memory knows the minutes before it was saved (usually within the replay): recalled
/// earlier, it would judge those minutes with hindsight (an incident's excursion raising the
/// bar before it began) and teach the tail the ones it already holds again. Recalled at its own
/// minute, the replay before it is judged as without a memory and then forgotten, and the
/// minutes after it are learned once, as the last detector would have learned them.
fn build(params: Params, replay_from: i64, loaded: Loaded) -> Built {
    let Loaded {
        id,
        slug,
        bins,
        incidents,
        minutes: mut replay,
        memory,
    } = loaded;
    let mut tracker = Tracker::new(id, params, replay_from);
    let split = bins.partition_point(|(start, _)| minute_of(*start) < replay_from);
    let (history, stored) = bins.split_at(split);
    learn(&mut tracker, history, &incidents, replay_from);
    let mut memory = memory.map(|(saved, memory)| (saved.max(replay_from), memory));
    let mut recall_at = |tracker: &mut Tracker, minute: i64| {
        if let Some((_, memory)) = memory.take_if(|(saved, _)| *saved <= minute)
            && !tracker.recall(&memory)
        {
            tracing::warn!(service = %id, "stored detector memory does not fit the detector; learning afresh");
        }
    };
    // Minutes a Redis restart lost are still in the bins: replayed as empty, they would
    // teach the model a collapse, and it would take the refill for a spike.
    rollup::restore_lost(&mut replay, replay_from, stored);
    // An incident open in PostgreSQL is as the last leader wrote it, up to the last minute
    // it saw. From the minute after, nobody watched (the leader died, its lease ran out):
    // those minutes are followed as they come, so what happened in them is counted, and
    // their changes are queued for writing.
    let mut open = incidents.into_iter().find(|i| i.ended_at.is_none());
    let resume_at = open
        .as_ref()
        .map(|i| (minute_of(i.updated_at) + 1).max(replay_from));
    let mut opened = None;
    for (minute, bucket) in (replay_from..).zip(&replay) {
        recall_at(&mut tracker, minute);
        if Some(minute) == resume_at
            && let Some(incident) = open.take()
        {
            tracker.resume(incident);
        }
        match tracker.observe(minute, bucket) {
            Some(change) if resume_at.is_some_and(|at| minute >= at) => tracker.queue(change),
            Some(super::Change::Opened(update)) => opened = Some(update),
            _ => {}
        }
        tracker.forget_resolved();
    }
    // It had seen every closed minute (a memory saved later than that, on a clock ahead of
    // this one, is recalled now).
    recall_at(&mut tracker, i64::MAX);
    if let Some(incident) = open {
        tracker.resume(incident);
    }
    let reconcile = resume_at.is_none() && tracker.incident.is_some();
    Built {
        tracker,
        slug,
        opened,
        reconcile,
    }
}

/// Teaches the tracker the stored bins before the replay, a bin's reports spread over its
/// minutes; the minutes of past incidents are left out, so they do not teach the baseline.
fn learn(
    tracker: &mut Tracker,
    history: &[(DateTime<Utc>, i32)],
    incidents: &[Incident],
    replay_from: i64,
) {
    let Some((first, _)) = history.first() else {
        return;
    };
    let past: Vec<(i64, i64)> = incidents
        .iter()
        .map(|i| {
            (
                minute_of(i.started_at),
                i.ended_at.map_or(i64::MAX, minute_of),
            )
        })
        .collect();
    let mut totals = history.iter().peekable();
    for minute in minute_of(*first)..replay_from {
        let bin = rollup::align(minute);
        while totals
            .peek()
            .is_some_and(|(start, _)| minute_of(*start) < bin)
        {
            totals.next();
        }
        if past
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&minute))
        {
            continue;
        }
        let reports = match totals.peek() {
            Some((start, total)) if minute_of(*start) == bin => {
                f64::from(*total) / crate::time::BIN_MINUTES as f64
            }
            _ => 0.0,
        };
        tracker.learn_history(minute, reports);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::detect::Detector;

    const REPLAY_FROM: i64 = 29_158_560; // 2025-06-10 00:00 UTC, in minutes
    const RISE_FROM: i64 = REPLAY_FROM + 90;

    /// Three reports a minute, with twelve minutes of 20 to 108 a minute from `RISE_FROM`.
    fn replay() -> Vec<MinuteBucket> {
        (REPLAY_FROM..REPLAY_FROM + 180)
            .map(|minute| {
                let total = match minute - RISE_FROM {
                    step @ 0..12 => 20 + 8 * u64::try_from(step).unwrap(),
                    _ => 3,
                };
                MinuteBucket {
                    t: minute_start(minute),
                    total,
                    problems: BTreeMap::from([("login".to_owned(), total)]),
                    countries: BTreeMap::new(),
                }
            })
            .collect()
    }

    /// A memory of a service whose excursions reached fifty times its baseline.
    fn bursty() -> Memory {
        let mut memory = Detector::new(Params::default(), 1.0).memory();
        let week = (REPLAY_FROM * 60).div_euclid(7 * 86_400);
        for window in &mut memory.windows {
            window.tail.weeks = vec![(week, 50f64.ln())];
        }
        memory
    }

    fn built_with_memory_saved_at(saved: i64) -> Built {
        let loaded = Loaded {
            id: Uuid::nil(),
            slug: ServiceSlug::parse("chatgpt").unwrap(),
            bins: Vec::new(),
            incidents: Vec::new(),
            minutes: replay(),
            memory: Some((saved, bursty())),
        };
        build(Params::default(), REPLAY_FROM, loaded)
    }

    #[test]
    fn a_memory_judges_only_the_minutes_after_it_was_saved() {
        // Saved before the rise: the rise is within what the service has shown.
        assert!(built_with_memory_saved_at(REPLAY_FROM).opened.is_none());
        assert!(
            built_with_memory_saved_at(REPLAY_FROM - 600)
                .opened
                .is_none()
        );
        // Saved after it: the memory did not know of the rise then, and the replay judges it
        // as the last monitor did, without the memory.
        assert!(
            built_with_memory_saved_at(RISE_FROM + 60).opened.is_some(),
            "the replay opens the incident the rise was"
        );
    }
}
