//! The monitor: on one leader at a time, every tick turns newly closed minutes into levels and
//! incidents, and rolls minutes up into PostgreSQL.
//!
//! Each service gets a [`Tracker`] when the leader first sees it: the detector learns from the
//! PostgreSQL bins of the last weeks, then replays the last hours of Redis minutes (what a
//! Redis restart lost put back from the bins), and the result is reconciled with any open
//! incident in PostgreSQL, so a restart or a new leader resumes an incident instead of opening
//! a second one (`warm_up`, a batch of services at a time). What a detector learned that bins
//! cannot teach (its noise, its tail of normal excursions, the incidents it remembers) is saved
//! again once its last save is a bin old, the stalest first, and the next monitor recalls it at
//! the minute it was saved (`detect::memory`). The services may be split into
//! shards, each led by one instance at a time (`shards`), which also rolls up and records the
//! readings of that shard's services from the shard's own progress (`rollup`, `readings`).
//! Timeline changes are queued on their
//! tracker and written in order, each with the incident's state in one transaction: while
//! PostgreSQL is away they wait (detection goes on), and the first tick it answers writes them
//! all, as they happened. Any other failed write drops the tracker; the next tick rebuilds it
//! from storage and catches up.

pub mod readings;
pub mod rollup;
mod shards;
mod tracker;
mod warm_up;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::Mutex;
use uuid::Uuid;

pub use shards::shard_of;
pub use tracker::{Change, Pending, Status, Tracker};

use crate::catalog::CatalogCache;
use crate::clock::SharedClock;
use crate::db::shard_progress::Scope;
use crate::db::{Db, bins, incidents, memories};
use crate::detect::readings::model_id;
use crate::detect::{Memory, Params};
use crate::domain::{
    Incident, IncidentEvent, LevelEvent, LiveEvent, PeakEvent, PeakKind, ServiceSlug, Update,
};
use crate::events::Events;
use crate::store::StoreError;
use crate::time::{BIN_MINUTES, minute_of, minute_start};
use crate::windows::Windows;

/// Days of PostgreSQL history a tracker learns from before replaying Redis minutes.
const HISTORY_DAYS: i64 = 28;
/// Minutes of Redis history a tracker replays (at most the retention).
const REPLAY_MINUTES: i64 = 180;
/// Longest a tick spends building trackers (wall time): a leader with many services spreads its
/// warm-up over ticks, so one tick never outlasts the lease, yet warms as many as fit (a fixed
/// count per tick would leave a new leader of 10,000 services half blind for many minutes).
const MOST_WARM_UP_PER_TICK: Duration = Duration::from_secs(5);
/// A tracker's detector memory is saved again once its last save is this old (minutes).
const MEMORY_EVERY_MINUTES: i64 = BIN_MINUTES;
/// Detector memories saved in one tick at most (a couple of kilobytes each): a leader of many
/// services spreads the saves over its ticks, the stalest first.
const MEMORIES_PER_TICK: usize = 1_000;
/// Detector memories written by one statement.
const MEMORIES_PER_STATEMENT: usize = 200;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Whether this instance held the lease (of at least one shard).
    pub leader: bool,
    /// The shards it held, in order (`[0]` for the leader when there is one lease).
    pub shards: Vec<u32>,
    /// Services evaluated.
    pub services: usize,
    /// Minutes observed across services.
    pub minutes: usize,
    /// Timeline entries written.
    pub changes: usize,
    /// Bins written by the rollup.
    pub bins: usize,
    /// Services with a tracker after the tick (the rest are still warming up).
    pub watched: usize,
}

struct State {
    trackers: HashMap<Uuid, Tracker>,
    /// The shards held at the last tick.
    held: Vec<u32>,
    /// Per shard held: the runs that store the model's readings with its bins.
    recorders: HashMap<u32, readings::Recorder>,
    /// Per shard held: the minute its rollup last reached.
    rolled_until: HashMap<u32, i64>,
    /// The hour (minute number) history partitions were last seen to.
    partitions_checked: Option<i64>,
}

/// Monthly history partitions are kept this far ahead of now.
const PARTITIONS_AHEAD_DAYS: i64 = 62;

/// What the monitor reads and writes.
pub struct Deps {
    /// PostgreSQL.
    pub db: Db,
    /// Redis minute buckets (and statuses).
    pub windows: Windows,
    /// The catalog snapshot.
    pub catalog: Arc<CatalogCache>,
    /// Time source.
    pub clock: SharedClock,
    /// Where live events go.
    pub events: Arc<Events>,
}

/// The evaluator loop's state and dependencies.
pub struct Monitor {
    events: Arc<Events>,
    db: Db,
    windows: Windows,
    catalog: Arc<CatalogCache>,
    clock: SharedClock,
    params: Params,
    leadership: shards::Leadership,
    lease_length: Duration,
    retention_minutes: i64,
    /// Months of bins kept; `None`: all.
    history_months: Option<u32>,
    /// Wall time a tick may spend building trackers.
    warm_up_budget: Duration,
    state: Mutex<State>,
}

impl Monitor {
    /// A monitor over the catalog's services with the given lease length.
    pub fn new(deps: Deps, params: Params, lease_length: Duration, retention: Duration) -> Self {
        let leadership = shards::Leadership::new(&deps.windows, lease_length, 1);
        let warm_up_budget = (lease_length / 6).min(MOST_WARM_UP_PER_TICK);
        Self {
            db: deps.db,
            windows: deps.windows,
            catalog: deps.catalog,
            clock: deps.clock,
            events: deps.events,
            params,
            leadership,
            lease_length,
            warm_up_budget,
            retention_minutes: i64::try_from(retention.as_secs() / 60).unwrap_or(i64::MAX),
            state: Mutex::new(State {
                trackers: HashMap::new(),
                held: Vec::new(),
                recorders: HashMap::new(),
                rolled_until: HashMap::new(),
                partitions_checked: None,
            }),
            history_months: None,
        }
    }

    /// Splits the services into `shards` shards, each with a lease of its own, so several
    /// instances evaluate at once (1: one leader evaluates every service). Every instance of a
    /// deployment must use the same count.
    pub fn with_shards(mut self, shards: u32) -> Self {
        self.leadership = shards::Leadership::new(&self.windows, self.lease_length, shards);
        self
    }

    /// Keeps only this many months of bins (whole months dropped as the leader passes them);
    /// without it history is kept for ever.
    pub fn with_history_months(mut self, months: Option<u32>) -> Self {
        self.history_months = months;
        self
    }

    /// Once an hour: the history partitions for the coming months exist, and months past the
    /// retention are dropped. Runs only when the rollup could reach PostgreSQL; PostgreSQL
    /// unavailable stops the round (one deadline per tick, as for every other step), anything
    /// else is logged and retried next hour. It never stops detection: a write to a month
    /// without a partition lands in the default one.
    async fn tend_history(
        &self,
        state: &mut State,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<StoreError> {
        let hour = crate::time::align_down(minute_of(now), 60);
        if state.partitions_checked == Some(hour) {
            return None;
        }
        let ahead = now + TimeDelta::days(PARTITIONS_AHEAD_DAYS);
        let tended = match bins::ensure_partitions(&self.db, now, ahead).await {
            Ok(created) => {
                if created > 0 {
                    tracing::info!(months = created, "history partitions created");
                }
                match self.history_months {
                    None => Ok(0),
                    Some(months) => {
                        let cutoff = now
                            .checked_sub_months(chrono::Months::new(months))
                            .unwrap_or(now);
                        bins::drop_history_before(&self.db, cutoff).await
                    }
                }
            }
            Err(e) => Err(e),
        };
        match tended {
            Ok(dropped) => {
                if dropped > 0 {
                    tracing::info!(months = dropped, "history past its retention dropped");
                }
                state.partitions_checked = Some(hour);
                None
            }
            Err(e @ StoreError::Unavailable(_)) => Some(e),
            Err(e) => {
                tracing::warn!(error = %e, "history partitions not tended; retrying next hour");
                state.partitions_checked = Some(hour);
                None
            }
        }
    }

    /// One evaluation round: take the lease (or this instance's shards), roll up, observe
    /// every closed minute not seen yet.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now = self.clock.now();
        let mut state = self.state.lock().await;
        let held = self.leadership.acquire(now).await?;
        self.follow_shards(&mut state, &held);
        if held.is_empty() {
            return Ok(TickReport::default());
        }
        let closed_until = minute_of(now);
        // Archived services are watched too, so an incident open when one was archived ends.
        let all: Vec<(Uuid, ServiceSlug)> = self
            .catalog
            .entries()
            .into_iter()
            .map(|e| (e.id, e.slug.clone()))
            .collect();
        let count = self.leadership.count();
        let services: Vec<(Uuid, ServiceSlug)> = all
            .iter()
            .filter(|(id, _)| held.contains(&shard_of(*id, count)))
            .cloned()
            .collect();
        let mut report = TickReport {
            leader: true,
            services: services.len(),
            ..Default::default()
        };
        // Once PostgreSQL fails to answer, this tick stops asking it (every try could cost a
        // whole deadline, and a tick must not outlast the lease) and only observes.
        let mut failure = self
            .held_jobs(&mut state, &services, now, &mut report)
            .await;
        if failure.is_none() {
            failure = self
                .warm_up_missing(&mut state, &services, closed_until)
                .await;
        }
        self.observe(
            &mut state,
            &services,
            closed_until,
            &mut report,
            &mut failure,
        )
        .await?;
        if failure.is_none() {
            failure = self.save_memories(&mut state, closed_until).await;
        }
        report.shards = held;
        report.watched = state.trackers.len();
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Forgets what belongs to shards this instance no longer holds: their trackers would go
    /// stale while another instance evaluates them (they are rebuilt if they come back), their
    /// rollup and readings go on from the shard's stored progress wherever it is held next,
    /// and the history partitions go with shard 0.
    fn follow_shards(&self, state: &mut State, held: &[u32]) {
        if state.held == held {
            return;
        }
        let count = self.leadership.count();
        state
            .trackers
            .retain(|id, _| held.contains(&shard_of(*id, count)));
        state.recorders.retain(|shard, _| held.contains(shard));
        state.rolled_until.retain(|shard, _| held.contains(shard));
        if !held.contains(&shards::FIRST) {
            state.partitions_checked = None;
        }
        state.held = held.to_vec();
    }

    /// The jobs done per shard held, each over its own services (`services` are those of every
    /// shard held): roll up, then record the model's readings in the tick's budget; and, with
    /// shard 0, tend the history partitions. Returns the failure when PostgreSQL is unavailable.
    async fn held_jobs(
        &self,
        state: &mut State,
        services: &[(Uuid, ServiceSlug)],
        now: chrono::DateTime<chrono::Utc>,
        report: &mut TickReport,
    ) -> Option<StoreError> {
        let closed_until = minute_of(now);
        let count = self.leadership.count();
        let held = state.held.clone();
        let per_shard: Vec<(u32, Vec<(Uuid, ServiceSlug)>)> = if count <= 1 {
            held.iter().map(|s| (*s, services.to_vec())).collect()
        } else {
            held.iter()
                .map(|s| {
                    let own = services.iter().filter(|(id, _)| shard_of(*id, count) == *s);
                    (*s, own.cloned().collect())
                })
                .collect()
        };
        for (shard, own) in &per_shard {
            let failure = self.roll_up(state, *shard, own, closed_until, report).await;
            if failure.is_some() {
                return failure;
            }
        }
        let started = std::time::Instant::now();
        for (shard, own) in &per_shard {
            let budget = self.warm_up_budget.saturating_sub(started.elapsed());
            let failure = self.record_readings(state, *shard, own, budget).await;
            if failure.is_some() {
                return failure;
            }
        }
        if held.contains(&shards::FIRST) {
            return self.tend_history(state, now).await;
        }
        None
    }

    /// Rolls closed minutes up into bins. A failed rollup is retried next tick and must not stop
    /// detection; a backlog (a new leader, PostgreSQL back after hours) goes a few hours per
    /// tick until done. Returns the failure when PostgreSQL is unavailable.
    async fn roll_up(
        &self,
        state: &mut State,
        shard: u32,
        services: &[(Uuid, ServiceSlug)],
        closed_until: i64,
        report: &mut TickReport,
    ) -> Option<StoreError> {
        if state.rolled_until.get(&shard) == Some(&closed_until) {
            return None;
        }
        match rollup::roll_up(
            &self.db,
            &self.windows,
            self.scope(shard),
            services,
            closed_until,
            self.retention_minutes,
        )
        .await
        {
            Ok((bins, rolled_until)) => {
                report.bins += bins;
                state.rolled_until.insert(shard, rolled_until);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "rollup failed; retrying next tick");
                matches!(e, StoreError::Unavailable(_)).then_some(e)
            }
        }
    }

    /// Stores the model's readings of the bins that became final, then of older history in the
    /// time a tick may spend on it (see `readings`). PostgreSQL unavailable stops the round;
    /// anything else is logged, and the next tick starts again from what was stored.
    async fn record_readings(
        &self,
        state: &mut State,
        shard: u32,
        services: &[(Uuid, ServiceSlug)],
        budget: Duration,
    ) -> Option<StoreError> {
        let ids: Vec<Uuid> = services.iter().map(|(id, _)| *id).collect();
        let scope = self.scope(shard);
        let recorder = state
            .recorders
            .entry(shard)
            .or_insert_with(|| readings::Recorder::new(self.params, scope));
        match recorder.record(&self.db, &ids, budget).await {
            Ok(_) => None,
            Err(e @ StoreError::Unavailable(_)) => Some(e),
            Err(e) => {
                tracing::warn!(error = %e, shard, "readings not recorded; retrying next tick");
                state.recorders.remove(&shard);
                None
            }
        }
    }

    /// Whose progress the rollup and the readings of `shard` keep: every service's with one
    /// leader, else the shard's own (see `db::shard_progress`).
    fn scope(&self, shard: u32) -> Scope {
        match self.leadership.count() {
            0 | 1 => Scope::All,
            shards => Scope::Shard { shards, shard },
        }
    }

    /// Drops trackers that fell far behind (or ahead, after a clock jump) and builds the missing
    /// ones from history, a batch at a time for as long as the tick's warm-up budget lasts. A
    /// service that cannot warm up waits for a later tick; the first failure stops the round.
    async fn warm_up_missing(
        &self,
        state: &mut State,
        services: &[(Uuid, ServiceSlug)],
        closed_until: i64,
    ) -> Option<StoreError> {
        let oldest_useful = closed_until - self.replay_minutes();
        state
            .trackers
            .retain(|_, t| (oldest_useful..=closed_until).contains(&t.next_minute));
        let missing: Vec<&(Uuid, ServiceSlug)> = services
            .iter()
            .filter(|(id, _)| !state.trackers.contains_key(id))
            .collect();
        let started = std::time::Instant::now();
        for batch in missing.chunks(warm_up::BATCH) {
            if started.elapsed() >= self.warm_up_budget {
                break;
            }
            let batch: Vec<(Uuid, ServiceSlug)> = batch.iter().map(|s| (*s).clone()).collect();
            if let Err(e) = self
                .warm_up_batch(&mut state.trackers, &batch, closed_until)
                .await
            {
                return Some(e);
            }
        }
        None
    }

    /// Feeds every tracker its new minutes, writes their changes (unless PostgreSQL is known to
    /// be away) and publishes every status.
    async fn observe(
        &self,
        state: &mut State,
        services: &[(Uuid, ServiceSlug)],
        closed_until: i64,
        report: &mut TickReport,
        failure: &mut Option<StoreError>,
    ) -> Result<(), StoreError> {
        let tracked: Vec<&(Uuid, ServiceSlug)> = services
            .iter()
            .filter(|(id, _)| state.trackers.contains_key(id))
            .collect();
        let ranges: Vec<(ServiceSlug, i64, i64)> = tracked
            .iter()
            .map(|(id, slug)| (slug.clone(), state.trackers[id].next_minute, closed_until))
            .collect();
        let minutes = self.windows.minutes_many(&ranges).await?;
        let mut statuses = Vec::with_capacity(tracked.len());
        for ((id, slug), buckets) in tracked.into_iter().zip(minutes) {
            let tracker = state.trackers.get_mut(id).expect("tracked above");
            report.minutes += buckets.len();
            tracker.observe_all(&buckets);
            let written = match &failure {
                Some(StoreError::Unavailable(_)) => Ok(0),
                _ => self.flush(tracker, slug).await,
            };
            if let Ok(json) = serde_json::to_string(&tracker.status()) {
                statuses.push((slug.clone(), json));
            }
            match written {
                Ok(changes) => report.changes += changes,
                // PostgreSQL is away: the changes wait on the tracker for the next tick.
                Err(e @ StoreError::Unavailable(_)) => *failure = Some(e),
                Err(e) => {
                    // Anything else: forget what this tracker saw; the next tick rebuilds and
                    // reconciles it from storage.
                    state.trackers.remove(id);
                    *failure = Some(e);
                }
            }
        }
        self.windows.write_statuses(&statuses).await
    }

    /// Saves the detector memory of the trackers whose last save is a bin old (or that never
    /// saved), the stalest first and at most `MEMORIES_PER_TICK` of them, a few hundred a
    /// statement, so that a monitor that takes over recalls what they learned. Returns the
    /// failure when PostgreSQL is unavailable; a statement that fails otherwise is logged, and
    /// its trackers wait for the next tick.
    async fn save_memories(&self, state: &mut State, closed_until: i64) -> Option<StoreError> {
        let mut due: Vec<(i64, Uuid)> = state
            .trackers
            .iter()
            .map(|(id, t)| (t.memory_saved.unwrap_or(i64::MIN), *id))
            .filter(|(saved, _)| closed_until.saturating_sub(*saved) >= MEMORY_EVERY_MINUTES)
            .collect();
        if due.len() > MEMORIES_PER_TICK {
            due.select_nth_unstable(MEMORIES_PER_TICK);
            due.truncate(MEMORIES_PER_TICK);
        }
        let saved_at = minute_start(closed_until);
        let model = model_id(&self.params);
        for chunk in due.chunks(MEMORIES_PER_STATEMENT) {
            let memories: Vec<(Uuid, Memory)> = chunk
                .iter()
                .filter_map(|(_, id)| state.trackers.get(id).map(|t| (*id, t.memory())))
                .collect();
            match memories::save(&self.db, model, saved_at, &memories).await {
                Ok(()) => {
                    for (id, _) in &memories {
                        if let Some(tracker) = state.trackers.get_mut(id) {
                            tracker.memory_saved = Some(closed_until);
                        }
                    }
                }
                Err(e @ StoreError::Unavailable(_)) => return Some(e),
                Err(e) => {
                    tracing::warn!(error = %e, "detector memories not saved; retrying next tick");
                }
            }
        }
        None
    }

    fn replay_minutes(&self) -> i64 {
        REPLAY_MINUTES.min(self.retention_minutes)
    }

    /// Writes a tracker's queued changes in order, then the open incident's latest state;
    /// stops at the first failure, leaving the rest queued.
    async fn flush(&self, tracker: &mut Tracker, slug: &ServiceSlug) -> Result<usize, StoreError> {
        let mut written = 0;
        while let Some(pending) = tracker.pending.front().cloned() {
            self.write(tracker, pending, slug).await?;
            tracker.pending.pop_front();
            written += 1;
        }
        let Some(incident) = tracker.incident.as_ref() else {
            return Ok(written);
        };
        incidents::save(&self.db, incident).await?;
        // A new peak of an incident already open is news too.
        let peak = (incident.id, incident.peak_bin_count);
        if tracker
            .written_peak
            .is_some_and(|(id, before)| id == peak.0 && peak.1 > before)
        {
            let event = LiveEvent::Peak(PeakEvent {
                incident_id: incident.id,
                service: slug.to_string(),
                kind: PeakKind::Peak,
                level: incident.level,
                peak_bin_at: incident.peak_bin_at,
                peak_bin_count: incident.peak_bin_count,
            });
            if let Err(e) = self.events.publish(&event).await {
                tracing::warn!(error = %e, "event not published");
            }
        }
        tracker.written_peak = Some(peak);
        Ok(written)
    }

    /// Publishes an incident event and the service's new level. Events are best effort: the
    /// incident is in PostgreSQL whatever happens here.
    async fn announce(&self, incident: &Incident, update: &Update, slug: &ServiceSlug) {
        let incident_event = LiveEvent::Incident(IncidentEvent {
            incident_id: incident.id,
            service: slug.to_string(),
            kind: update.kind,
            level: update.level,
            at: update.at,
            began_at: incident.began_at,
            started_at: incident.started_at,
            ended_at: incident.ended_at,
            peak_bin_count: incident.peak_bin_count,
        });
        let level_event = LiveEvent::Level(LevelEvent {
            service: slug.to_string(),
            level: update.level,
            at: update.at,
        });
        for event in [incident_event, level_event] {
            if let Err(e) = self.events.publish(&event).await {
                tracing::warn!(error = %e, event = %event.kind(), "event not published");
            }
        }
    }

    /// Writes one queued change with the incident's state at that moment, and announces it.
    async fn write(
        &self,
        tracker: &mut Tracker,
        pending: Pending,
        slug: &ServiceSlug,
    ) -> Result<(), StoreError> {
        let Pending { change, incident } = pending;
        match change {
            Change::Opened(update) => {
                let (stored, created) =
                    incidents::open_with_update(&self.db, &incident, &update).await?;
                if stored.id != incident.id {
                    tracker.adopt(incident.id, &stored);
                }
                tracing::info!(incident.id = %stored.id, level = %update.level, "incident opened");
                // A retry whose first commit went through finds its own incident: still news.
                if created || stored.id == incident.id {
                    self.announce(&stored, &update, slug).await;
                }
            }
            Change::Changed(update) | Change::Reopened(update) | Change::Resolved(update) => {
                incidents::record_change(&self.db, &incident, &update).await?;
                tracing::info!(incident.id = %incident.id, kind = %update.kind, level = %update.level, "incident update");
                self.announce(&incident, &update, slug).await;
            }
        }
        Ok(())
    }
}
