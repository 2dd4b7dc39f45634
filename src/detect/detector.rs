//! The detector for one series: baseline, upper bound and level for each step.
//!
//! Each step is judged on five windows (1 to 60 minutes) by the negative-binomial chance of
//! its count (`noise`), corrected for testing several windows, and by its magnitude against the
//! service's own tail of normal excursions (`tail`). Short windows catch sudden outages within
//! minutes; the 30- and 60-minute windows let a moderate rise accumulate evidence (+67 % for an
//! hour on a busy service, one report a minute on a quiet one). A young service's tail has seen
//! days, not weeks: a prior floor stands under it for its first week. Only steps that stay normal
//! teach the baseline and the noise; the tail learns normal excursions in full and, up to a cap,
//! the excursions during which an incident opened (in full for the day after one: news comes in
//! cycles).

use std::collections::VecDeque;

use super::baseline::{Baseline, ewma_rate};
use super::level::{Hysteresis, Level, LevelMachine};
use super::memory::{Memory, WindowMemory};
use super::nb::upper_tail;
use super::noise::{Verdict, Window};
use super::onset::{Step, change_point};
use super::params::{Params, WINDOWS};
use super::profile::Position;
use super::tail::{FIRM_TAIL_Z, TAIL_Z, Tail, beyond};
use crate::domain::Evidence;

/// The detector's reading of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix time of the step's start, in seconds.
    pub t: i64,
    /// Reports in the step.
    pub value: f64,
    /// Reports expected for the step.
    pub baseline: f64,
    /// Reports above which the step alone would be significant.
    pub upper: f64,
    /// The level after this step.
    pub level: Level,
    /// True on the step where the level leaves `normal`: an incident opens.
    pub alarm: bool,
    /// On an alarm: the estimated start of the rise (Unix seconds), looking back from the alarm.
    pub onset: Option<i64>,
    /// On an alarm: the window that gave the evidence, and how unlikely it was.
    pub evidence: Option<Evidence>,
    /// On an alarm: the rise came back soon after the last incident resolved, so that incident
    /// continues rather than a new one opening.
    pub reopen: bool,
}

impl Point {
    /// Whether a new incident opens at this step: an alarm that does not continue the last one.
    pub fn opens_incident(&self) -> bool {
        self.alarm && !self.reopen
    }
}

/// A remembered step, with running totals for O(1) window sums.
#[derive(Debug, Clone, Copy)]
struct Seen {
    t: i64,
    value: f64,
    expected: f64,
    /// Totals of value and expected over every step up to and including this one.
    total_value: f64,
    total_expected: f64,
}

/// An excursion beyond the service's usual tail, held back until it proves normal.
#[derive(Debug, Clone, Copy)]
struct Excursion {
    /// When it began.
    t: i64,
    /// Each window's largest log-ratio during it.
    peak: [f64; WINDOWS],
    /// Whether an incident was open at any time during it: then it teaches as an incident.
    incident: bool,
    /// Whether it was taken for the new normal: its ratios were to a baseline now known to be
    /// wrong (and the windows hold that baseline's expectations for an hour after), so it
    /// teaches nothing.
    new_normal: bool,
    /// Steps since the excursion was last under way.
    calm_steps: usize,
}

/// Streaming detector for one series at a fixed step. Feed steps in time order.
#[derive(Debug, Clone)]
pub struct Detector {
    params: Params,
    step_minutes: f64,
    step_seconds: i64,
    baseline: Baseline,
    history: VecDeque<Seen>,
    windows: Vec<Window>,
    /// Index of the window nearest 15 minutes: resolution and step-down read it.
    reference: usize,
    /// Standard-normal tail beyond `z_elevated` and `z_outage`.
    p_elevated: f64,
    p_sustained: f64,
    p_outage: f64,
    /// The noise's memory per step (a constant of the step).
    noise_keep: f64,
    /// The last (log-ratio, exp of it times the elevated margin) of the upper bound by the
    /// tail: the usual it reads changes rarely.
    upper_by_tail: (f64, f64),
    machine: LevelMachine,
    confirm_steps: usize,
    incident_minutes: f64,
    /// The open incident's largest excess in the reference window.
    peak_excess: f64,
    /// Normal steps waiting to teach the baseline: each teaches once it has left the longest
    /// window without an alarm, so a rise that alarms late has not taught it its first hour.
    pending: VecDeque<(Position, f64)>,
    /// The excursion under way, taught to the tail only if it ends without an incident.
    excursion: Option<Excursion>,
    last_t: Option<i64>,
    /// Whether a report has been seen: steps before the first are not history.
    started: bool,
    /// When the last incident resolved, for the reopening rule.
    resolved_at: Option<i64>,
}

/// History before the noise and the tail start learning (until then they are the priors): the
/// first day's residuals measure an unfinished baseline, not the stream.
const NOISE_AFTER_MINUTES: f64 = 1440.0;

/// Windows this long (minutes) or longer judge sustained rises (`Params::z_sustained`).
const SUSTAINED_MINUTES: f64 = 30.0;

/// A window this significant (normal quantile) keeps an excursion under way.
const EXCURSION_Z: f64 = 2.0;

/// Windows shorter than this (minutes) keep the tail of normal excursions only, but for
/// incidents' aftermaths.
const INCIDENT_TAIL_MIN_MINUTES: f64 = 5.0;

/// The usual largest excursion assumed on a service's first day (ratio of reports to expected).
const NEW_SERVICE_TAIL_RATIO: f64 = 4.0;

/// History (minutes) through which that first-day usual stays a floor under the learned tail
/// (four days), and by which it has faded out (eight days): see `young_floor`.
const YOUNG_FULL_MINUTES: f64 = 4.0 * 1440.0;
const YOUNG_GONE_MINUTES: f64 = 8.0 * 1440.0;

fn steps_for(minutes: f64, step_minutes: f64) -> u32 {
    u32::try_from(crate::domain::whole_count(
        (minutes / step_minutes).ceil().max(1.0),
    ))
    .unwrap_or(u32::MAX)
}

/// The index of the first of `history`'s steps at or after `oldest`, for a window of `steps`
/// steps. Without a gap in the data that is the window's length back from the newest step;
/// only after a gap does it take a search.
fn first_since(history: &VecDeque<Seen>, steps: usize, oldest: i64) -> usize {
    let guess = history.len().saturating_sub(steps);
    let at_guess = history.get(guess).is_some_and(|s| s.t >= oldest);
    let before_guess = guess == 0 || history.get(guess - 1).is_some_and(|s| s.t < oldest);
    if at_guess && before_guess {
        guess
    } else {
        history.partition_point(|s| s.t < oldest)
    }
}

impl Detector {
    /// A detector with `params` for a series with steps of `step_minutes` (1 to 60).
    pub fn new(params: Params, step_minutes: f64) -> Self {
        let mut spans: Vec<usize> = params
            .windows_minutes
            .iter()
            .map(|w| steps_for(*w, step_minutes) as usize)
            .collect();
        spans.sort_unstable();
        spans.dedup();
        // The prior is worth about a day of observations, but never less than 30 steps.
        let prior_weight = (1440.0 / step_minutes).clamp(30.0, 1440.0);
        let reference = spans
            .iter()
            .position(|s| *s as f64 * step_minutes >= 15.0)
            .unwrap_or(spans.len() - 1);
        let windows = spans
            .into_iter()
            .map(|steps| {
                // The shortest windows catch sudden outages first: incidents raise their bar only
                // in their aftermath.
                let cap = if steps as f64 * step_minutes >= INCIDENT_TAIL_MIN_MINUTES {
                    params.incident_tail_cap
                } else {
                    1.0
                };
                let tail = Tail::new(
                    params.prior_tail_ratio,
                    crate::domain::whole(params.incident_tail_hours * 3600.0),
                    cap,
                )
                .with_aftermath(
                    crate::domain::whole(params.reopen_minutes * 60.0),
                    crate::domain::whole(params.incident_aftermath_hours * 3600.0),
                );
                Window::new(steps, params.prior_overdispersion, prior_weight, tail)
            })
            .collect();
        // Two steps at least, whatever the step: one lonely burst in one step is not an outage.
        let confirm_steps = steps_for(params.confirm_minutes, step_minutes).max(2);
        let machine = LevelMachine::new(Hysteresis {
            confirm_steps,
            deescalate_steps: steps_for(params.deescalate_minutes, step_minutes),
            resolve_steps: steps_for(params.resolve_minutes, step_minutes),
        });
        Self {
            params,
            step_minutes,
            step_seconds: crate::domain::whole(step_minutes * 60.0),
            baseline: Baseline::new(
                step_minutes,
                params.level_half_life_minutes,
                params.daily_profile_rate,
                params.weekly_profile_rate,
            ),
            history: VecDeque::new(),
            windows,
            reference,
            p_elevated: upper_tail(params.z_elevated),
            p_sustained: upper_tail(params.z_sustained),
            p_outage: upper_tail(params.z_outage),
            noise_keep: 1.0
                - ewma_rate(
                    params.noise_half_life_minutes.max(100.0 * step_minutes),
                    step_minutes,
                ),
            upper_by_tail: (f64::NAN, f64::NAN),
            machine,
            confirm_steps: confirm_steps as usize,
            incident_minutes: 0.0,
            peak_excess: 0.0,
            pending: VecDeque::new(),
            excursion: None,
            last_t: None,
            started: false,
            resolved_at: None,
        }
    }

    /// The current level.
    pub fn level(&self) -> Level {
        self.machine.level()
    }

    /// Reports expected for a step starting at `t` (no state change).
    pub fn expected_at(&self, t: i64) -> f64 {
        self.baseline.expected(&self.position(t))
    }

    /// Where a step falls in the day and week: at its middle, so an hourly step is filed
    /// under the hour it covers.
    fn position(&self, t: i64) -> Position {
        Position::of(t + self.step_seconds / 2)
    }

    /// The reading of a step that teaches nothing: no data, or before the first report.
    fn idle(&self, t: i64, value: f64) -> Point {
        let expected = if self.started {
            self.expected_at(t)
        } else {
            0.0
        };
        Point {
            t,
            value,
            baseline: expected,
            upper: self.upper(t, expected),
            level: self.machine.level(),
            alarm: false,
            onset: None,
            evidence: None,
            reopen: false,
        }
    }

    /// Steps the volume has been back near baseline (what a resolution waited for).
    pub fn quiet_steps(&self) -> u32 {
        self.machine.quiet_steps()
    }

    /// Starts from a level known from elsewhere (an incident already open in storage), so
    /// that it ends by the usual rules rather than by the replay's opinion.
    pub fn assume_level(&mut self, level: Level) {
        self.machine.assume(level);
        self.excursion = None;
    }

    /// What it has learned besides its baseline, for the monitor that takes over (see
    /// `memory`).
    pub fn memory(&self) -> Memory {
        Memory {
            step_seconds: self.step_seconds,
            windows: self
                .windows
                .iter()
                .map(|w| WindowMemory {
                    steps: w.steps,
                    noise: w.noise_memory(),
                    tail: w.tail.memory(),
                })
                .collect(),
        }
    }

    /// Knows `memory` (another detector's, of the same step and windows) instead of what it
    /// learned of the noise and the tail; the baseline stays its own.
    /// Returns false, changing nothing, when the memory does not fit.
    pub fn recall(&mut self, memory: &Memory) -> bool {
        if !memory.fits(self.step_seconds, self.windows.iter().map(|w| w.steps)) {
            return false;
        }
        for (window, learned) in self.windows.iter_mut().zip(&memory.windows) {
            window.recall_noise(&learned.noise);
            window.tail.recall(&learned.tail);
        }
        true
    }

    /// Learns the baseline from history without judging it (no levels, no noise or tail
    /// learning); for warming up from coarser stored history. `value` covers one step at `t`.
    /// The same caps as for live steps apply, so a burst in the history teaches little.
    pub fn learn_history(&mut self, t: i64, value: f64) {
        self.started |= value > 0.0;
        if !self.started || !value.is_finite() {
            return;
        }
        self.note_gap(t);
        let pos = self.position(t);
        let expected = self.baseline.expected(&pos);
        let learned = self.cap(value.max(0.0), expected);
        self.baseline.learn(&pos, learned);
        self.baseline.count_step();
    }

    /// Judges and learns one step of `value` reports starting at Unix time `t`.
    pub fn step(&mut self, t: i64, value: f64) -> Point {
        if !value.is_finite() || (!self.started && value <= 0.0) {
            // A missing value, or a step before the series' first report: not history.
            return self.idle(t, value);
        }
        self.started = true;
        let value = value.max(0.0);
        let pos = self.position(t);
        let expected = self.baseline.expected(&pos);
        self.note_gap(t);
        self.remember(t, value, expected);
        let verdicts = self.judge_windows(t);
        let verdicts = &verdicts[..self.windows.len()];
        let warm = self.baseline.minutes_seen() >= self.params.warmup_minutes;
        // Evidence must be refreshed by this step: a burst that has stopped still sits in the
        // longer windows for a while, but it is no longer happening. The step must bring a whole
        // report more than the whole part of its expectation: on a sparse step (0.02 expected)
        // one report is the least rise there is. Asking for the expectation plus one would ask
        // such a step for two reports in a minute, rare even when one a minute more is coming.
        let shortest = &verdicts[0];
        let fresh = shortest.seen >= shortest.expected.floor() + 1.0 && shortest.z() >= 1.0;
        let mut evidence = if warm && fresh {
            self.evidence(verdicts)
        } else {
            Level::Normal
        };
        let reference = &verdicts[self.reference];
        let before = self.machine.level();
        if before != Level::Normal {
            self.peak_excess = self.peak_excess.max(reference.excess());
            // The tail of an outage reads `elevated`: well below its own worst, it is recovering.
            if evidence == Level::Outage
                && reference.excess() < self.params.step_down_share * self.peak_excess
            {
                evidence = Level::Elevated;
            }
        }
        let quiet =
            reference.excess() < self.params.min_excess_elevated || !reference.z_reaches(2.0);
        let mut level = self.machine.advance(evidence, quiet);
        let upper = self.upper_judged(expected, &verdicts[0]);
        if level == Level::Normal && evidence == Level::Normal {
            let learned = self.cap(value, expected);
            self.learn_later(pos, learned);
            if self.baseline.minutes_seen() >= NOISE_AFTER_MINUTES {
                self.learn_noise(verdicts);
            }
        }
        self.baseline.shadow(&pos, value);
        if level == Level::Normal {
            self.incident_minutes = 0.0;
        } else {
            self.incident_minutes += self.step_minutes;
            if self.incident_minutes > self.params.max_incident_hours * 60.0 {
                // Volume has stayed high for a day: that is the new normal.
                self.baseline.rebase();
                if let Some(excursion) = self.excursion.as_mut() {
                    excursion.new_normal = true;
                }
                self.machine.reset();
                self.incident_minutes = 0.0;
                level = Level::Normal;
            }
        }
        let settled = self.baseline.minutes_seen() >= NOISE_AFTER_MINUTES;
        self.learn_tail(t, verdicts, level, settled);
        self.baseline.count_step();
        let alarm = before == Level::Normal && level != Level::Normal;
        if alarm {
            self.peak_excess = reference.excess();
            // The steps that led up to the alarm were the rise itself: they teach nothing.
            self.pending.clear();
        }
        let reopen = alarm
            && self
                .resolved_at
                .is_some_and(|at| (t - at) as f64 <= self.params.reopen_minutes * 60.0);
        if before != Level::Normal && level == Level::Normal {
            self.resolved_at = Some(t);
        }
        Point {
            t,
            value,
            baseline: expected,
            upper,
            level,
            alarm,
            onset: alarm.then(|| self.onset(t)),
            evidence: alarm.then(|| self.decisive(verdicts, level)),
            reopen,
        }
    }

    /// What a normal step may teach the baseline: near the running median while the service is
    /// new, at most two standard deviations above the expectation afterwards (so a rise too slow
    /// to alarm cannot drag the baseline up with it faster than the noise allows).
    fn cap(&mut self, value: f64, expected: f64) -> f64 {
        if self.baseline.is_cold() {
            self.baseline.cold_cap(value)
        } else {
            let sd = (expected * (1.0 + self.windows[0].phi() * expected)).sqrt();
            value.min(expected + 2.0 * sd + 1.0)
        }
    }

    /// Queues a normal step for the baseline (at once on the first day: the caps guard it then,
    /// and the baseline must find its level and rhythm).
    fn learn_later(&mut self, pos: Position, value: f64) {
        if self.baseline.minutes_seen() < NOISE_AFTER_MINUTES {
            // The first day: the daily rhythm is still being learned and must be followed.
            self.baseline.learn(&pos, value);
            return;
        }
        self.pending.push_back((pos, value));
        let delay = self.windows.last().map_or(1, |w| w.steps);
        while self.pending.len() > delay {
            if let Some((pos, value)) = self.pending.pop_front() {
                self.baseline.learn(&pos, value);
            }
        }
    }

    /// Counts a gap since the last step as history (in minutes).
    fn note_gap(&mut self, t: i64) {
        if let Some(last) = self.last_t {
            let gap_minutes = ((t - last) as f64 / 60.0).max(0.0);
            self.baseline.skip(gap_minutes - self.step_minutes);
        }
        self.last_t = Some(t);
    }

    /// Where the rise that alarmed at `now` began (see `onset`).
    fn onset(&self, now: i64) -> i64 {
        let steps = self.history.iter().map(|s| Step {
            t: s.t,
            value: s.value,
            expected: s.expected,
        });
        let phi = |n: usize| {
            // The noise of the longest window no longer than the run: each scale by its own.
            self.windows
                .iter()
                .take_while(|w| w.steps <= n)
                .last()
                .map_or(self.windows[0].phi(), Window::phi)
        };
        change_point(steps, phi).unwrap_or(now)
    }

    /// The window that carried the alarm: the least likely among those that met `level`, as an
    /// incident records it.
    fn decisive(&self, verdicts: &[Verdict], level: Level) -> Evidence {
        let n = verdicts.len() as f64;
        let meets = |v: &Verdict| self.meets(v, level, n);
        let candidates = verdicts.iter().zip(&self.windows);
        let (verdict, window) = candidates
            .clone()
            .filter(|(v, _)| meets(v))
            .chain(candidates)
            .min_by(|a, b| a.0.p().total_cmp(&b.0.p()))
            .expect("at least one window");
        Evidence {
            window_minutes: u32::try_from(crate::domain::whole_count(
                window.steps as f64 * self.step_minutes,
            ))
            .unwrap_or(u32::MAX),
            observed: verdict.seen,
            expected: verdict.expected,
            probability: (verdict.p() * n).min(1.0),
        }
    }

    fn remember(&mut self, t: i64, value: f64, expected: f64) {
        let (total_value, total_expected) = self
            .history
            .back()
            .map_or((0.0, 0.0), |s| (s.total_value, s.total_expected));
        self.history.push_back(Seen {
            t,
            value,
            expected,
            total_value: total_value + value,
            total_expected: total_expected + expected,
        });
        let longest = self.windows.last().map_or(1, |w| w.steps);
        while self.history.len() > longest {
            self.history.pop_front();
        }
    }

    /// Every window's verdict on the step just remembered (missing steps count as absent).
    fn judge_windows(&mut self, now: i64) -> [Verdict; WINDOWS] {
        let mut verdicts: [Verdict; WINDOWS] = Default::default();
        let last = self
            .history
            .back()
            .copied()
            .expect("a step was just remembered");
        for (slot, window) in verdicts.iter_mut().zip(&mut self.windows) {
            let oldest = now - (crate::domain::signed(window.steps) - 1) * self.step_seconds;
            let first = first_since(&self.history, window.steps, oldest);
            let s = self.history[first];
            let seen = last.total_value - s.total_value + s.value;
            let expected = last.total_expected - s.total_expected + s.expected;
            *slot = window.judge(now, seen, expected);
            slot.minutes = window.steps as f64 * self.step_minutes;
        }
        let floor = self.young_floor();
        if floor > 0.0 {
            let first_day = self.baseline.minutes_seen() < NOISE_AFTER_MINUTES;
            for v in &mut verdicts {
                // After the first day the 1-minute window is left out, as it is of incidents'
                // excursions: it catches sudden outages within minutes.
                if first_day || v.minutes >= INCIDENT_TAIL_MIN_MINUTES {
                    v.floor = floor;
                }
            }
        }
        verdicts
    }

    /// The least usual excursion (log-ratio) a young service is credited with. On its first day
    /// its daily rhythm is not learned yet (its rise into the busy hours would look like news)
    /// and its tail learns nothing, so only a 4x excursion counts. Over the next days its tail
    /// holds the largest excursions of a few days, not of four weeks, and a quiet service's
    /// first stray cluster of 9-16 reports beat it (6 of the 7 false incidents of the calm
    /// classes on the tuning seeds came in a stream's first 3.4 days): the 4x stays a floor
    /// under the learned tail through the fourth day and fades out by the eighth. It is a
    /// floor, not a lesson: the tail still learns every excursion beyond its own usual, so a
    /// bursty service's bursts of those days still teach it.
    fn young_floor(&self) -> f64 {
        let seen = self.baseline.minutes_seen();
        let share = if seen < YOUNG_FULL_MINUTES {
            1.0
        } else {
            ((YOUNG_GONE_MINUTES - seen) / (YOUNG_GONE_MINUTES - YOUNG_FULL_MINUTES)).max(0.0)
        };
        share * NEW_SERVICE_TAIL_RATIO.ln()
    }

    /// Whether `verdict` (one of `n` windows) supports `level`.
    fn meets(&self, v: &Verdict, level: Level, n: f64) -> bool {
        let p = &self.params;
        let (p_max, excess, margin) = match level {
            Level::Outage => (self.p_outage, p.min_excess_outage, p.tail_margin_outage),
            _ if v.minutes >= SUSTAINED_MINUTES => (
                self.p_sustained,
                p.min_excess_elevated,
                p.tail_margin_elevated,
            ),
            _ => (
                self.p_elevated,
                p.min_excess_elevated,
                p.tail_margin_elevated,
            ),
        };
        // An hour's count spans many clusters: its tail's bar is a firmer number than a short
        // window's; so is a new service's, which is a prior, not a learned draw of a few
        // reports. Either way the count must clear the bar by more than chance (see `beyond`).
        let firm =
            v.minutes >= SUSTAINED_MINUTES || self.baseline.minutes_seen() < NOISE_AFTER_MINUTES;
        let tail_z = if firm { FIRM_TAIL_Z } else { TAIL_Z };
        // The cheap tests first: the probability costs an exponential.
        v.excess() >= excess
            && beyond(v.seen, v.expected, margin * v.bar_usual(), tail_z)
            && v.p() * n <= p_max
    }

    fn evidence(&self, verdicts: &[Verdict]) -> Level {
        let n = verdicts.len() as f64;
        if verdicts.iter().any(|v| self.meets(v, Level::Outage, n)) {
            Level::Outage
        } else if verdicts.iter().any(|v| self.meets(v, Level::Elevated, n)) {
            Level::Elevated
        } else {
            Level::Normal
        }
    }

    fn upper(&self, t: i64, expected: f64) -> f64 {
        let p = &self.params;
        let window = &self.windows[0];
        let k = super::tail::PSEUDO_REPORTS;
        let by_tail = (expected + k) * (p.tail_margin_elevated * window.tail.usual(t)).exp() - k;
        window
            .threshold(expected, p.z_elevated)
            .max(expected + p.min_excess_elevated)
            .max(by_tail)
    }

    /// The same as [`Detector::upper`] on a judged step, from the shortest window's verdict (its
    /// usual and noise are the window's until the step learns), the exponential kept while
    /// the usual stays the same.
    fn upper_judged(&mut self, expected: f64, shortest: &Verdict) -> f64 {
        let p = &self.params;
        let k = super::tail::PSEUDO_REPORTS;
        if self.upper_by_tail.0.to_bits() != shortest.usual.to_bits() {
            let factor = (p.tail_margin_elevated * shortest.usual).exp();
            self.upper_by_tail = (shortest.usual, factor);
        }
        let by_tail = (expected + k) * self.upper_by_tail.1 - k;
        self.windows[0]
            .threshold(expected, p.z_elevated)
            .max(expected + p.min_excess_elevated)
            .max(by_tail)
    }

    /// Learns the noise from a normal step.
    fn learn_noise(&mut self, verdicts: &[Verdict]) {
        for (window, verdict) in self.windows.iter_mut().zip(verdicts) {
            window.learn_noise(verdict, self.noise_keep);
        }
    }

    /// Follows excursions beyond the usual tail. Only the steps beyond it can change the tail,
    /// and they are held back until the excursion has been calm for `confirm_steps` + 1 steps:
    /// if it ends without an incident, its peaks are taught as normal; if an incident opened
    /// during it (a real outage, or a burst too large to be usual) it is remembered as an
    /// incident's excursion, which raises the bar only up to the cap (see `tail`). Either way a
    /// slow rise cannot raise the bar ahead of itself.
    fn learn_tail(&mut self, t: i64, verdicts: &[Verdict], level: Level, settled: bool) {
        if !settled {
            return;
        }
        // Beyond the service's own usual, not a young service's floor: the excursions under the
        // floor are the ones its tail must learn before the floor fades.
        let past_usual = verdicts.iter().any(Verdict::beyond_usual);
        let incident = level != Level::Normal;
        // An excursion lasts until the service is back near its baseline, not only below its
        // records: a slow rise that dips under them for a few steps is still one rise, and must
        // not teach its own bar half-way (one more report a minute for two hours on a service of
        // 0.3 a minute did).
        let raised = || verdicts.iter().any(|v| v.z_reaches(EXCURSION_Z));
        if past_usual || incident || (self.excursion.is_some() && raised()) {
            let excursion = self.excursion.get_or_insert(Excursion {
                t,
                peak: [f64::NEG_INFINITY; WINDOWS],
                incident: false,
                new_normal: false,
                calm_steps: 0,
            });
            excursion.incident |= incident;
            excursion.calm_steps = 0;
            for (peak, v) in excursion.peak.iter_mut().zip(verdicts) {
                *peak = peak.max(v.log_ratio());
            }
            return;
        }
        let Some(excursion) = self.excursion.as_mut() else {
            return;
        };
        excursion.calm_steps += 1;
        if excursion.calm_steps <= self.confirm_steps {
            return;
        }
        let done = *excursion;
        self.excursion = None;
        if done.new_normal {
            return;
        }
        for (window, peak) in self.windows.iter_mut().zip(done.peak) {
            if done.incident {
                window.tail.learn_incident(t, peak);
            } else {
                window.tail.learn(done.t, peak);
            }
        }
    }
}
