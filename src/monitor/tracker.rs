//! One service under watch: its detector, its running 15-minute bin, and its open incident.
//!
//! Pure bookkeeping: it turns closed minutes into timeline changes and keeps the incident's
//! statistics; the monitor writes them to PostgreSQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::detect::{Detector, Level, Memory, Params, Point};
use crate::domain::{Counts, Incident, Update, UpdateKind};
use crate::time::{BIN_MINUTES, align_down, minute_of, minute_start};
use crate::windows::MinuteBucket;

/// A service's status as the monitor last saw it; what dashboards show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    /// Current level.
    pub level: Level,
    /// When the current level began, if it is not `normal`.
    pub since: Option<DateTime<Utc>>,
    /// Reports in the last 15 closed minutes.
    pub reports_15m: u64,
    /// Reports the baseline expected in those minutes.
    pub baseline_15m: f64,
    /// The open incident, if any.
    pub incident_id: Option<Uuid>,
    /// The first minute not evaluated yet (status is as of its start).
    pub evaluated_at: DateTime<Utc>,
}

/// What a minute did to the incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new incident opened with this first timeline entry.
    Opened(Update),
    /// The level went up or down while open.
    Changed(Update),
    /// The incident that had just resolved came back: it continues.
    Reopened(Update),
    /// The incident resolved.
    Resolved(Update),
}

impl Change {
    /// The timeline entry the change writes.
    pub fn update(&self) -> &Update {
        match self {
            Self::Opened(u) | Self::Changed(u) | Self::Reopened(u) | Self::Resolved(u) => u,
        }
    }
}

/// A change not yet written, with the incident as it stood right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The timeline change.
    pub change: Change,
    /// The incident after the change (resolved ones carry their end).
    pub incident: Incident,
}

/// The watch over one service.
#[derive(Debug, Clone)]
pub struct Tracker {
    service_id: Uuid,
    detector: Detector,
    /// The next minute (number) to observe.
    pub next_minute: i64,
    bin_start: i64,
    /// The open incident, if any.
    pub incident: Option<Incident>,
    /// The last hour of minutes with their baselines: the status's last 15, the peak bin's
    /// minutes, and the reports an incident counts from its onset.
    recent: std::collections::VecDeque<Seen>,
    /// The minute the current level began.
    level_since: i64,
    /// Changes observed but not yet written, oldest first: they wait while PostgreSQL is away.
    pub pending: std::collections::VecDeque<Pending>,
    /// The incident and peak bin count last written, to announce a new peak once.
    pub written_peak: Option<(Uuid, i32)>,
    /// The last incident that resolved, which a rise soon after continues.
    last_resolved: Option<Incident>,
    /// The minute up to which its detector's memory was last saved, if it was.
    pub memory_saved: Option<i64>,
}

/// One observed minute.
#[derive(Debug, Clone)]
struct Seen {
    minute: i64,
    bucket: MinuteBucket,
    baseline: f64,
}

/// How far back from its alarm an incident's onset may lie, in minutes (and as a length).
const LOOKBACK_MINUTES: i64 = 60;
const LOOKBACK: usize = 60;
/// Minutes of the status's recent window: one bin (`BIN_MINUTES`).
const STATUS_MINUTES: usize = 15;

impl Tracker {
    /// A tracker for `service_id` that will observe minutes from `first_minute` on.
    pub fn new(service_id: Uuid, params: Params, first_minute: i64) -> Self {
        Self {
            service_id,
            detector: Detector::new(params, 1.0),
            next_minute: first_minute,
            bin_start: align_down(first_minute, BIN_MINUTES),
            incident: None,
            recent: std::collections::VecDeque::with_capacity(LOOKBACK),
            level_since: first_minute,
            pending: std::collections::VecDeque::new(),
            written_peak: None,
            last_resolved: None,
            memory_saved: None,
        }
    }

    /// The service's status after the last observed minute.
    pub fn status(&self) -> Status {
        let (reports, baseline) = self.last_minutes(STATUS_MINUTES);
        Status {
            level: self.level(),
            since: (self.level() != Level::Normal).then(|| minute_start(self.level_since)),
            reports_15m: reports,
            baseline_15m: (baseline * 10.0).round() / 10.0,
            incident_id: self
                .incident
                .as_ref()
                .filter(|i| i.ended_at.is_none())
                .map(|i| i.id),
            evaluated_at: minute_start(self.next_minute),
        }
    }

    /// The service watched.
    pub fn service_id(&self) -> Uuid {
        self.service_id
    }

    /// The detector's current level.
    pub fn level(&self) -> Level {
        self.detector.level()
    }

    /// What its detector learned besides the baseline (see `detect::memory`).
    pub fn memory(&self) -> Memory {
        self.detector.memory()
    }

    /// Knows what another monitor's detector learned besides the baseline; false (nothing
    /// changed) when the memory does not fit.
    pub fn recall(&mut self, memory: &Memory) -> bool {
        self.detector.recall(memory)
    }

    /// Learns the baseline from stored history (a bin's reports spread over its minutes).
    pub fn learn_history(&mut self, minute: i64, reports: f64) {
        self.detector.learn_history(minute * 60, reports);
    }

    /// Drops the replay's incident and level: storage says it is over.
    pub fn assume_normal(&mut self) {
        self.detector.assume_level(Level::Normal);
        self.incident = None;
    }

    /// Continues an incident already open in storage: the level starts there and ends by the
    /// usual rules.
    pub fn resume(&mut self, incident: Incident) {
        let level = incident.level;
        self.detector.assume_level(level);
        self.written_peak = Some((incident.id, incident.peak_bin_count));
        self.incident = Some(incident);
    }

    /// Observes one closed minute; returns the timeline change it causes, if any.
    pub fn observe(&mut self, minute: i64, bucket: &MinuteBucket) -> Option<Change> {
        let total = bucket.total as f64;
        self.next_minute = minute + 1;
        let before = self.detector.level();
        let point = self.detector.step(minute * 60, total);
        let previous_change = self.level_since;
        if point.level != before {
            self.level_since = minute;
        }
        if self.recent.len() == LOOKBACK {
            self.recent.pop_front();
        }
        self.recent.push_back(Seen {
            minute,
            bucket: bucket.clone(),
            baseline: point.baseline,
        });
        self.bin_start = align_down(minute, BIN_MINUTES);
        let update = |kind: UpdateKind, level: Level| Update {
            at: minute_start(minute),
            kind,
            level,
            reports: saturating_i32(bucket.total),
            baseline: point.baseline,
        };
        if point.alarm {
            Some(self.alarm(minute, bucket, &point, update))
        } else {
            self.follow(minute, bucket, point.level, previous_change, update)
        }
    }

    /// Reports and baseline over the last `minutes` observed minutes.
    fn last_minutes(&self, minutes: usize) -> (u64, f64) {
        self.recent
            .iter()
            .rev()
            .take(minutes)
            .fold((0, 0.0), |(r, b), seen| {
                (r + seen.bucket.total, b + seen.baseline)
            })
    }

    /// An alarm: the last incident continues if it resolved moments ago, otherwise a new one
    /// opens, counting its reports from the onset the detector estimated.
    fn alarm(
        &mut self,
        minute: i64,
        bucket: &MinuteBucket,
        point: &Point,
        update: impl Fn(UpdateKind, Level) -> Update,
    ) -> Change {
        if point.reopen
            && let Some(mut incident) = self.last_resolved.take()
        {
            incident.ended_at = None;
            incident.level = point.level;
            incident.highest_level = incident.highest_level.max(point.level);
            self.incident = Some(incident);
            self.record(minute, bucket);
            return Change::Reopened(update(UpdateKind::Reopened, point.level));
        }
        // Never further back than the lookback, nor into the incident that ended before it
        // (the two would overlap and share reports).
        let previous_end = self
            .last_resolved
            .take()
            .and_then(|i| i.ended_at)
            .map_or(i64::MIN, minute_of);
        let onset = point
            .onset
            .map_or(minute, |t| t.div_euclid(60))
            .clamp(minute - LOOKBACK_MINUTES, minute)
            .max(previous_end.min(minute));
        let mut incident = self.new_incident(minute, point.level);
        incident.began_at = minute_start(onset);
        incident.evidence = point.evidence;
        self.incident = Some(incident);
        let before: Vec<Seen> = self
            .recent
            .iter()
            .filter(|seen| (onset..minute).contains(&seen.minute))
            .cloned()
            .collect();
        for seen in &before {
            self.count(seen.minute, &seen.bucket);
        }
        self.record(minute, bucket);
        Change::Opened(update(UpdateKind::Opened, point.level))
    }

    /// A step with no alarm: an open incident changes level, resolves, or goes on.
    fn follow(
        &mut self,
        minute: i64,
        bucket: &MinuteBucket,
        level: Level,
        previous_change: i64,
        update: impl Fn(UpdateKind, Level) -> Update,
    ) -> Option<Change> {
        let incident = self.incident.as_mut()?;
        let before = incident.level;
        if level == Level::Normal {
            // It ended when the quiet that resolved it began (not when the quiet was confirmed),
            // though never before its last change of level, so the timeline stays in order.
            let quiet_minutes = i64::from(self.detector.quiet_steps().max(1)) - 1;
            let ended = minute_start((minute - quiet_minutes).max(previous_change))
                .max(incident.started_at);
            let mut resolved = self.incident.take()?;
            resolved.ended_at = Some(ended);
            resolved.level = Level::Normal;
            resolved.updated_at = minute_start(minute);
            self.incident = Some(resolved);
            let mut entry = update(UpdateKind::Resolved, Level::Normal);
            entry.at = ended;
            return Some(Change::Resolved(entry));
        }
        self.record(minute, bucket);
        if level == before {
            return None;
        }
        let incident = self.incident.as_mut()?;
        incident.level = level;
        incident.highest_level = incident.highest_level.max(level);
        let kind = if level > before {
            UpdateKind::Escalated
        } else {
            UpdateKind::Deescalated
        };
        Some(Change::Changed(update(kind, level)))
    }

    /// Observes consecutive minutes from `next_minute` on, queueing each change as it happens
    /// (so a resolution and a new opening in one batch each land on their own incident).
    pub fn observe_all(&mut self, buckets: &[MinuteBucket]) {
        for (minute, bucket) in (self.next_minute..).zip(buckets) {
            if let Some(change) = self.observe(minute, bucket) {
                self.queue(change);
            }
            self.forget_resolved();
        }
    }

    /// Queues `change` for writing with the incident as it stands now.
    pub fn queue(&mut self, change: Change) {
        if let Some(incident) = self.incident.clone() {
            self.pending.push_back(Pending { change, incident });
        }
    }

    /// Follows an incident that storage already had open when ours (`ours`) was written: queued
    /// changes and the current incident carry its id and its earlier start from now on.
    pub fn adopt(&mut self, ours: Uuid, stored: &Incident) {
        let follow = |incident: &mut Incident| {
            if incident.id == ours {
                incident.id = stored.id;
                incident.started_at = incident.started_at.min(stored.started_at);
            }
        };
        self.pending
            .iter_mut()
            .for_each(|p| follow(&mut p.incident));
        if let Some(incident) = self.incident.as_mut() {
            follow(incident);
        }
    }

    /// Sets a resolved incident aside (its resolution is queued or written): only a rise soon
    /// after can bring it back.
    pub fn forget_resolved(&mut self) {
        if self.incident.as_ref().is_some_and(|i| i.ended_at.is_some()) {
            self.last_resolved = self.incident.take();
        }
    }

    fn new_incident(&self, minute: i64, level: Level) -> Incident {
        let at = minute_start(minute);
        let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
        Incident {
            id: Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, seconds, 0)),
            service_id: self.service_id,
            began_at: at,
            started_at: at,
            ended_at: None,
            level,
            highest_level: level,
            peak_at: at,
            peak_minute_count: 0,
            peak_bin_at: minute_start(self.bin_start),
            peak_bin_count: 0,
            baseline_at_peak: 0.0,
            total_reports: 0,
            problem_counts: Counts::new(),
            country_counts: Counts::new(),
            updated_at: at,
            evidence: None,
        }
    }

    /// Adds a minute of an open incident to its statistics.
    fn record(&mut self, minute: i64, bucket: &MinuteBucket) {
        let Some(began_at) = self.incident.as_ref().map(|i| i.began_at) else {
            return;
        };
        // The busiest 15 minutes count only the incident's own minutes: a bin that began before
        // the onset counts from the onset, so the peak is never before the start nor above the
        // total.
        let from = self.bin_start.max(minute_of(began_at));
        let own = usize::try_from(minute - from + 1).unwrap_or(0);
        let (total, baseline) = self.last_minutes(own);
        let total = saturating_i32(total);
        let Some(incident) = self.incident.as_mut() else {
            return;
        };
        if total >= incident.peak_bin_count {
            incident.peak_bin_count = total;
            incident.peak_bin_at = minute_start(from);
            incident.baseline_at_peak = baseline;
        }
        incident.updated_at = minute_start(minute).max(incident.updated_at);
        self.count(minute, bucket);
    }

    /// Adds a minute's reports to the open incident's totals and minute peak.
    fn count(&mut self, minute: i64, bucket: &MinuteBucket) {
        let Some(incident) = self.incident.as_mut() else {
            return;
        };
        let count = saturating_i32(bucket.total);
        incident.total_reports += i64::from(count);
        if count > incident.peak_minute_count {
            incident.peak_minute_count = count;
            incident.peak_at = minute_start(minute);
        }
        add_counts(&mut incident.problem_counts, &bucket.problems);
        add_counts(&mut incident.country_counts, &bucket.countries);
    }
}

/// A count as the incident row stores it (reports per minute or per bin never come near the
/// limit; a count that did would read as the largest storable).
fn saturating_i32(count: u64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

fn add_counts(target: &mut Counts, counts: &BTreeMap<String, u64>) {
    for (key, count) in counts {
        *target.entry(key.clone()).or_default() += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::minute_of;
    use chrono::TimeZone;

    fn bucket(total: u64) -> MinuteBucket {
        MinuteBucket {
            t: Utc::now(),
            total,
            problems: BTreeMap::from([("login".to_owned(), total)]),
            countries: BTreeMap::new(),
        }
    }

    #[test]
    fn an_outage_opens_escalates_and_resolves_once() {
        let start = minute_of(Utc.with_ymd_and_hms(2025, 6, 10, 0, 0, 0).unwrap());
        let mut tracker = Tracker::new(Uuid::nil(), Params::default(), start);
        let mut changes = Vec::new();
        for m in 0..600 {
            let reports = match m {
                0..180 => 3,
                180..240 => 3 + (m - 180_i64).unsigned_abs() * 10,
                240..300 => 200,
                _ => 3,
            };
            if let Some(change) = tracker.observe(start + m, &bucket(reports)) {
                changes.push(change);
            }
            tracker.forget_resolved();
        }
        let kinds: Vec<&str> = changes.iter().map(|c| c.update().kind.as_str()).collect();
        assert_eq!(kinds.first(), Some(&"opened"));
        assert_eq!(kinds.last(), Some(&"resolved"));
        assert_eq!(
            kinds.iter().filter(|k| **k == "opened").count(),
            1,
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&"escalated")
                || matches!(&changes[0], Change::Opened(u) if u.level == Level::Outage)
        );
    }

    #[test]
    fn changes_queue_with_their_incident_and_follow_an_adopted_one() {
        let start = minute_of(Utc.with_ymd_and_hms(2025, 6, 10, 0, 0, 0).unwrap());
        let mut tracker = Tracker::new(Uuid::nil(), Params::default(), start);
        let quiet: Vec<MinuteBucket> = (0..180).map(|_| bucket(3)).collect();
        tracker.observe_all(&quiet);
        assert!(tracker.pending.is_empty());
        let surge: Vec<MinuteBucket> = (0..10).map(|m| bucket(40 + m * 20)).collect();
        tracker.observe_all(&surge);
        let kinds: Vec<&str> = tracker
            .pending
            .iter()
            .map(|p| p.change.update().kind.as_str())
            .collect();
        assert_eq!(kinds.first(), Some(&"opened"), "{kinds:?}");
        let ours = tracker.incident.as_ref().expect("open").id;
        assert!(tracker.pending.iter().all(|p| p.incident.id == ours));
        // The first entry's incident is as it stood then: one minute of reports.
        assert!(
            tracker.pending[0].incident.total_reports
                < tracker.incident.as_ref().unwrap().total_reports
        );

        let mut stored = tracker.incident.clone().unwrap();
        stored.id = Uuid::now_v7();
        stored.started_at -= chrono::TimeDelta::minutes(30);
        tracker.adopt(ours, &stored);
        assert!(tracker.pending.iter().all(|p| p.incident.id == stored.id));
        let current = tracker.incident.as_ref().unwrap();
        assert_eq!(
            (current.id, current.started_at),
            (stored.id, stored.started_at)
        );
    }

    #[test]
    fn an_incident_counts_from_its_onset_and_a_quick_return_reopens_it() {
        let start = minute_of(Utc.with_ymd_and_hms(2025, 6, 10, 0, 0, 0).unwrap());
        let mut tracker = Tracker::new(Uuid::nil(), Params::default(), start);
        // Quiet until the middle of a 15-minute bin (minute 247), so the bin holding the onset
        // began before it.
        let mut reports: Vec<u64> = vec![3; 247];
        // A rise that builds for a few minutes, holds, and stops.
        reports.extend([8, 14, 30, 60, 120, 200, 200, 200, 200, 200]);
        reports.extend(vec![3; 40]);
        // It comes back soon after resolving.
        reports.extend(vec![200; 10]);
        reports.extend(vec![3; 60]);
        let buckets: Vec<MinuteBucket> = reports.iter().map(|r| bucket(*r)).collect();
        let mut changes = Vec::new();
        for (minute, b) in (start..).zip(&buckets) {
            if let Some(change) = tracker.observe(minute, b) {
                changes.push((change, tracker.incident.clone().unwrap()));
            }
            tracker.forget_resolved();
        }
        let (opened, first) = &changes[0];
        assert!(matches!(opened, Change::Opened(_)));
        assert!(
            first.began_at < first.started_at,
            "onset before detection: {first:?}"
        );
        assert!(
            first.began_at >= minute_start(start + 247),
            "not before the rise"
        );
        assert!(first.evidence.is_some());
        // Every report since the onset counts, not just those after the alarm.
        let since_onset: u64 = (minute_of(first.began_at)..=minute_of(first.started_at))
            .map(|m| reports[usize::try_from(m - start).unwrap()])
            .sum();
        assert_eq!(u64::try_from(first.total_reports).unwrap(), since_onset);
        // The peak is never before the onset nor above the total (the bin's minutes before the
        // onset are not the incident's).
        for (_, incident) in &changes {
            assert!(incident.peak_at >= incident.began_at, "{incident:?}");
            assert!(incident.peak_bin_at >= incident.began_at, "{incident:?}");
            assert!(
                i64::from(incident.peak_bin_count) <= incident.total_reports,
                "{incident:?}"
            );
        }

        let kinds: Vec<&str> = changes
            .iter()
            .map(|(c, _)| c.update().kind.as_str())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "opened").count(),
            1,
            "{kinds:?}"
        );
        let reopened = kinds
            .iter()
            .position(|k| *k == "reopened")
            .expect("reopened");
        assert!(kinds[..reopened].contains(&"resolved"), "{kinds:?}");
        assert!(
            changes.iter().all(|(_, i)| i.id == first.id),
            "one incident"
        );
        assert!(changes[reopened].1.ended_at.is_none());
        assert_eq!(kinds.last(), Some(&"resolved"));
    }
}
