//! The monitor: on one leader at a time, every tick turns newly closed minutes into levels and
//! incidents, and rolls minutes up into PostgreSQL.
//!
//! Each service gets a [`Tracker`] when the leader first sees it: the detector learns from the
//! PostgreSQL bins of the last weeks, then replays the last hours of Redis minutes, and the
//! result is reconciled with any open incident in PostgreSQL, so a restart or a new leader
//! resumes an incident instead of opening a second one. A failed write drops the tracker; the
//! next tick rebuilds it and catches up.

mod lease;
pub mod rollup;
mod tracker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::Mutex;
use uuid::Uuid;

pub use lease::Lease;
pub use tracker::{Change, Status, Tracker};

use crate::catalog::CatalogCache;
use crate::clock::SharedClock;
use crate::db::incidents::{self, Update};
use crate::db::{Db, bins};
use crate::detect::{Level, Params};
use crate::domain::ServiceSlug;
use crate::error::ApiError;
use crate::windows::Windows;
use crate::windows::keys::{minute_of, minute_start};

/// Days of PostgreSQL history a tracker learns from before replaying Redis minutes.
const HISTORY_DAYS: i64 = 28;
/// Minutes of Redis history a tracker replays (at most the retention).
const REPLAY_MINUTES: i64 = 180;

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    /// Whether this instance held the lease.
    pub leader: bool,
    /// Services evaluated.
    pub services: usize,
    /// Minutes observed across services.
    pub minutes: usize,
    /// Timeline entries written.
    pub changes: usize,
    /// Bins written by the rollup.
    pub bins: usize,
}

struct State {
    trackers: HashMap<Uuid, Tracker>,
    rolled_until: i64,
}

/// The evaluator loop's state and dependencies.
pub struct Monitor {
    db: Db,
    windows: Windows,
    catalog: Arc<CatalogCache>,
    clock: SharedClock,
    params: Params,
    lease: Lease,
    retention_minutes: i64,
    state: Mutex<State>,
}

impl Monitor {
    /// A monitor over the catalog's services with the given lease length.
    pub fn new(
        db: Db,
        windows: Windows,
        catalog: Arc<CatalogCache>,
        clock: SharedClock,
        params: Params,
        lease_length: Duration,
        retention: Duration,
    ) -> Self {
        let lease = Lease::new(
            windows.redis().clone(),
            windows.keys().prefix(),
            lease_length,
        );
        Self {
            db,
            windows,
            catalog,
            clock,
            params,
            lease,
            retention_minutes: (retention.as_secs() / 60) as i64,
            state: Mutex::new(State {
                trackers: HashMap::new(),
                rolled_until: i64::MIN,
            }),
        }
    }

    /// One evaluation round: take the lease, roll up, observe every closed minute not seen yet.
    pub async fn tick(&self) -> Result<TickReport, ApiError> {
        let now = self.clock.now();
        let mut state = self.state.lock().await;
        if !self.lease.acquire(now).await? {
            // Someone else leads; our trackers would go stale, so rebuild them if we lead again.
            state.trackers.clear();
            state.rolled_until = i64::MIN;
            return Ok(TickReport::default());
        }
        let closed_until = minute_of(now);
        let services: Vec<(Uuid, ServiceSlug)> = self
            .catalog
            .entries()
            .into_iter()
            .filter(|e| !e.archived)
            .map(|e| (e.id, e.slug.clone()))
            .collect();
        let mut report = TickReport {
            leader: true,
            services: services.len(),
            ..Default::default()
        };
        if state.rolled_until != closed_until {
            report.bins = rollup::roll_up(
                &self.db,
                &self.windows,
                &services,
                closed_until,
                self.retention_minutes,
            )
            .await?;
            state.rolled_until = closed_until;
        }
        for (id, slug) in &services {
            if !state.trackers.contains_key(id) {
                let tracker = self.warm_up(*id, slug, closed_until).await?;
                state.trackers.insert(*id, tracker);
            }
        }
        let ranges: Vec<(ServiceSlug, i64, i64)> = services
            .iter()
            .map(|(id, slug)| (slug.clone(), state.trackers[id].next_minute, closed_until))
            .collect();
        let minutes = self.windows.minutes_many(&ranges).await?;
        let mut statuses = Vec::with_capacity(services.len());
        for ((id, slug), buckets) in services.iter().zip(minutes) {
            let tracker = state.trackers.get_mut(id).expect("warmed up above");
            let first = tracker.next_minute;
            let mut changes = Vec::new();
            for (offset, bucket) in buckets.iter().enumerate() {
                changes.extend(tracker.observe(first + offset as i64, bucket));
                report.minutes += 1;
            }
            let written = self.write(tracker, changes).await;
            if let Ok(json) = serde_json::to_string(&tracker.status()) {
                statuses.push((slug.clone(), json));
            }
            match written {
                Ok(n) => report.changes += n,
                Err(e) => {
                    // Forget what this tracker saw; the next tick replays and reconciles it.
                    state.trackers.remove(id);
                    return Err(e);
                }
            }
        }
        self.windows.write_statuses(&statuses).await?;
        Ok(report)
    }

    /// The level of every tracked service (empty on a follower).
    pub async fn levels(&self) -> HashMap<Uuid, Level> {
        let state = self.state.lock().await;
        state
            .trackers
            .iter()
            .map(|(id, t)| (*id, t.level()))
            .collect()
    }

    /// Writes a tracker's timeline changes and its open incident's progress.
    async fn write(&self, tracker: &mut Tracker, changes: Vec<Change>) -> Result<usize, ApiError> {
        let count = changes.len();
        for change in changes {
            match change {
                Change::Opened(update) => {
                    let incident = tracker
                        .incident
                        .as_ref()
                        .expect("an opened incident is open")
                        .clone();
                    let (stored, created) = incidents::open_or_resume(&self.db, &incident).await?;
                    if !created {
                        tracker.incident = Some(stored.clone());
                    }
                    incidents::add_update(&self.db, stored.id, &update).await?;
                    tracing::info!(incident.id = %stored.id, level = %update.level, "incident opened");
                }
                Change::Changed(update) | Change::Resolved(update) => {
                    let Some(incident) = tracker.incident.as_ref() else {
                        continue;
                    };
                    incidents::add_update(&self.db, incident.id, &update).await?;
                    incidents::save(&self.db, incident).await?;
                    tracing::info!(incident.id = %incident.id, kind = %update.kind, level = %update.level, "incident update");
                }
            }
        }
        if let Some(incident) = tracker.incident.as_ref() {
            incidents::save(&self.db, incident).await?;
        }
        tracker.forget_resolved();
        Ok(count)
    }

    /// Builds a tracker from history and reconciles it with PostgreSQL.
    async fn warm_up(
        &self,
        id: Uuid,
        slug: &ServiceSlug,
        closed_until: i64,
    ) -> Result<Tracker, ApiError> {
        let replay_from = closed_until - REPLAY_MINUTES.min(self.retention_minutes);
        let mut tracker = Tracker::new(id, self.params, replay_from);
        let history_from = minute_start(replay_from) - TimeDelta::days(HISTORY_DAYS);
        let history = bins::totals(&self.db, id, history_from, minute_start(replay_from)).await?;
        if let Some((first, _)) = history.first() {
            let mut totals = history.iter().peekable();
            for minute in minute_of(*first)..replay_from {
                let bin = rollup::align(minute);
                while totals
                    .peek()
                    .is_some_and(|(start, _)| minute_of(*start) < bin)
                {
                    totals.next();
                }
                let reports = match totals.peek() {
                    Some((start, total)) if minute_of(*start) == bin => {
                        f64::from(*total) / tracker::BIN_MINUTES as f64
                    }
                    _ => 0.0,
                };
                tracker.learn_history(minute, reports);
            }
        }
        let replay = self
            .windows
            .minutes(slug, replay_from, closed_until)
            .await?;
        for (offset, bucket) in replay.iter().enumerate() {
            tracker.observe(replay_from + offset as i64, bucket);
            tracker.forget_resolved();
        }
        self.reconcile(&mut tracker, closed_until).await?;
        Ok(tracker)
    }

    /// Makes PostgreSQL and the replayed tracker agree on whether an incident is open.
    async fn reconcile(&self, tracker: &mut Tracker, closed_until: i64) -> Result<(), ApiError> {
        let stored = incidents::open_for(&self.db, tracker.service_id()).await?;
        match (tracker.incident.take(), stored) {
            // Still going: carry on with the stored incident and its history.
            (Some(_), Some(stored)) => tracker.incident = Some(stored),
            // It began while nobody was watching: record it from when the replay saw it begin.
            (Some(replayed), None) => {
                let (stored, _) = incidents::open_or_resume(&self.db, &replayed).await?;
                let opened = Update {
                    at: replayed.started_at,
                    kind: "opened".to_owned(),
                    level: replayed.highest_level.clone(),
                    reports: replayed.peak_minute_count,
                    baseline: 0.0,
                };
                incidents::add_update(&self.db, stored.id, &opened).await?;
                tracker.incident = Some(stored);
            }
            // It ended while nobody was watching.
            (None, Some(mut stored)) => {
                let at = minute_start(closed_until);
                stored.ended_at = Some(at.max(stored.started_at));
                stored.level = Level::Normal.as_str().to_owned();
                stored.updated_at = at;
                let resolved = Update {
                    at,
                    kind: "resolved".to_owned(),
                    level: Level::Normal.as_str().to_owned(),
                    reports: 0,
                    baseline: 0.0,
                };
                incidents::add_update(&self.db, stored.id, &resolved).await?;
                incidents::save(&self.db, &stored).await?;
            }
            (None, None) => {}
        }
        Ok(())
    }
}
