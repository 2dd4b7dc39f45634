//! The detector for one series: baseline, upper bound and level for each step.

use std::collections::VecDeque;

use super::level::{Hysteresis, Level, LevelMachine};
use super::noise::{Verdict, Window};
use super::params::Params;
use super::profile::{Position, Profile};
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

#[derive(Debug, Clone, Copy)]
struct Seen {
    t: i64,
    value: f64,
    expected: f64,
}

/// Streaming detector for one series at a fixed step. Feed steps in time order.
#[derive(Debug, Clone)]
pub struct Detector {
    params: Params,
    step_minutes: f64,
    step_seconds: i64,
    profile: Profile,
    /// Deseasonalized reports per minute over the last days.
    level: f64,
    /// How the last hour or two compares with `level` × profile (a ratio of decaying sums).
    recent: Ratio,
    /// The same ratio, learning during incidents too (for re-baselining after a long one).
    shadow: Ratio,
    steps_seen: f64,
    minutes_seen: f64,
    history: VecDeque<Seen>,
    windows: Vec<Window>,
    machine: LevelMachine,
    incident_minutes: f64,
    last_t: Option<i64>,
    /// Whether a report has been seen: steps before the first are not history (the service,
    /// or the data, is new).
    started: bool,
    /// When the last incident resolved, for the reopening rule.
    resolved_at: Option<i64>,
}

/// Weekday factors learn only after this much history (three days), once the daily shape holds.
const WEEKLY_AFTER_MINUTES: f64 = 3.0 * 1440.0;
/// Half-life of the recent-volume correction, in minutes.
const RECENT_HALF_LIFE_MINUTES: f64 = 90.0;
/// Pseudo-reports that keep the recent correction near 1 while data is sparse.
const RECENT_PRIOR_REPORTS: f64 = 5.0;

/// A ratio of decaying sums: seen over predicted, shrunk towards 1.
#[derive(Debug, Clone, Copy, Default)]
struct Ratio {
    seen: f64,
    predicted: f64,
}

impl Ratio {
    fn factor(&self) -> f64 {
        ((self.seen + RECENT_PRIOR_REPORTS) / (self.predicted + RECENT_PRIOR_REPORTS))
            .clamp(0.1, 10.0)
    }

    /// The plain ratio, for re-baselining after a lasting change of any size.
    fn raw_factor(&self) -> f64 {
        if self.predicted > 0.0 {
            (self.seen / self.predicted).max(0.01)
        } else {
            1.0
        }
    }

    fn learn(&mut self, keep: f64, seen: f64, predicted: f64) {
        self.seen = self.seen * keep + seen;
        self.predicted = self.predicted * keep + predicted;
    }
}

/// The chance that a standard normal variable exceeds `z` (Abramowitz and Stegun 7.1.26,
/// absolute error below 1.5e-7).
fn upper_tail(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        erfc / 2.0
    } else {
        1.0 - erfc / 2.0
    }
}

fn steps_for(minutes: f64, step_minutes: f64) -> u32 {
    (minutes / step_minutes).ceil().max(1.0) as u32
}

/// Per-step weight of an exponential average with the given half-life.
fn ewma_rate(half_life_minutes: f64, step_minutes: f64) -> f64 {
    1.0 - 0.5f64.powf(step_minutes / half_life_minutes)
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
        let windows = spans
            .into_iter()
            .map(|steps| Window::new(steps, params.prior_overdispersion, prior_weight))
            .collect();
        let machine = LevelMachine::new(Hysteresis {
            confirm_steps: steps_for(params.confirm_minutes, step_minutes),
            deescalate_steps: steps_for(params.deescalate_minutes, step_minutes),
            resolve_steps: steps_for(params.resolve_minutes, step_minutes),
        });
        Self {
            params,
            step_minutes,
            step_seconds: (step_minutes * 60.0).round() as i64,
            profile: Profile::new(params.daily_profile_rate, params.weekly_profile_rate),
            level: 0.0,
            recent: Ratio::default(),
            shadow: Ratio::default(),
            steps_seen: 0.0,
            minutes_seen: 0.0,
            history: VecDeque::new(),
            windows,
            machine,
            incident_minutes: 0.0,
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
        self.seasonal(&self.position(t)) * self.recent.factor().max(1.0)
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
            upper: self.upper(expected),
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
    }

    /// Reports the level and the seasonal profile expect for one step at `pos`.
    fn seasonal(&self, pos: &Position) -> f64 {
        self.level * self.profile.factor(pos) * self.step_minutes
    }

    /// Learns the baseline from history without judging it (no levels, no noise learning);
    /// for warming up from coarser stored history. `value` covers one step at `t`.
    pub fn learn_history(&mut self, t: i64, value: f64) {
        self.started |= value > 0.0;
        if !self.started || !value.is_finite() {
            return;
        }
        let pos = self.position(t);
        self.learn_baseline(&pos, value.max(0.0));
        self.last_t = Some(t);
        self.steps_seen += 1.0;
        self.minutes_seen += self.step_minutes;
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
        let seasonal = self.seasonal(&pos);
        // A busier recent hour raises the baseline; a quieter one (a holiday, a lull) does not
        // lower it, so a return to the usual volume is never mistaken for a surge.
        let expected = seasonal * self.recent.factor().max(1.0);
        self.remember(t, value, expected);
        let mut judged = [Verdict::default(); 3];
        for (slot, window) in judged.iter_mut().zip(&self.windows) {
            *slot = self.window_verdict(window, t);
        }
        let verdicts = &judged[..self.windows.len()];
        let warm = self.minutes_seen >= self.params.warmup_minutes;
        // Window evidence must be refreshed by this step: a burst that has stopped still sits
        // in the longer windows for a while, but it is no longer happening.
        let fresh = verdicts
            .first()
            .is_some_and(|v| v.z >= 1.0 && v.excess() >= 1.0);
        let evidence = if warm && fresh {
            self.evidence(verdicts)
        } else {
            Level::Normal
        };
        let longest = verdicts.last().copied().unwrap_or_default();
        let quiet = longest.z < 2.0 || longest.excess() < self.params.min_excess_elevated / 2.0;
        let before = self.machine.level();
        let mut level = self.machine.advance(evidence, quiet);
        let upper = self.upper(expected);

        let recent_keep = 1.0 - ewma_rate(RECENT_HALF_LIFE_MINUTES, self.step_minutes);
        if level == Level::Normal && evidence == Level::Normal {
            // Once warm, a surge that did not quite alarm is capped so it cannot drag the
            // baseline up; while cold, the model must follow the data to find its level.
            let learned = if warm { value.min(upper) } else { value };
            self.recent.learn(recent_keep, learned, seasonal);
            self.learn(&pos, learned, verdicts);
        }
        self.shadow.learn(recent_keep, value, seasonal);
        if level == Level::Normal {
            self.incident_minutes = 0.0;
        } else {
            self.incident_minutes += self.step_minutes;
            if self.incident_minutes > self.params.max_incident_hours * 60.0 {
                // Volume has stayed high for a day: that is the new normal.
                self.level *= self.shadow.raw_factor();
                self.recent = Ratio::default();
                self.shadow = Ratio::default();
                self.machine.reset();
                self.incident_minutes = 0.0;
                level = Level::Normal;
            }
        }
        self.steps_seen += 1.0;
        self.minutes_seen += self.step_minutes;
        let alarm = before == Level::Normal && level != Level::Normal;
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
            evidence: alarm.then(|| self.strongest(verdicts)).flatten(),
            reopen,
        }
    }

    /// Where the rise that alarmed at `now` began: the first step of the run of steps above
    /// their expectation that ends at `now`, within the remembered history.
    fn onset(&self, now: i64) -> i64 {
        self.history
            .iter()
            .rev()
            .take_while(|s| s.value > s.expected)
            .last()
            .map_or(now, |s| s.t)
    }

    /// The window with the strongest evidence, as an incident records it.
    fn strongest(&self, verdicts: &[Verdict]) -> Option<Evidence> {
        let (window, verdict) = self
            .windows
            .iter()
            .zip(verdicts)
            .max_by(|a, b| a.1.z.total_cmp(&b.1.z))?;
        Some(Evidence {
            window_minutes: (window.steps as f64 * self.step_minutes).round() as u32,
            observed: verdict.seen,
            expected: verdict.expected,
            probability: upper_tail(verdict.z),
        })
    }

    fn remember(&mut self, t: i64, value: f64, expected: f64) {
        if let Some(last) = self.last_t {
            // Gaps count in minutes of history; steps are what the data says they are.
            let gap_minutes = ((t - last) as f64 / 60.0).max(0.0);
            self.minutes_seen += (gap_minutes - self.step_minutes).max(0.0);
        }
        self.last_t = Some(t);
        let longest = self.windows.last().map_or(1, |w| w.steps);
        self.history.push_back(Seen { t, value, expected });
        while self.history.len() > longest {
            self.history.pop_front();
        }
    }

    fn window_verdict(&self, window: &Window, now: i64) -> Verdict {
        let oldest = now - (window.steps as i64 - 1) * self.step_seconds;
        let (seen, expected) = self
            .history
            .iter()
            .rev()
            .take(window.steps)
            .filter(|s| s.t >= oldest)
            .fold((0.0, 0.0), |(s, e), x| (s + x.value, e + x.expected));
        window.judge(seen, expected)
    }

    fn evidence(&self, verdicts: &[Verdict]) -> Level {
        let p = &self.params;
        let passes = |v: &Verdict, z: f64, excess: f64, ratio: f64| {
            v.z >= z && v.excess() >= excess && v.ratio() >= ratio
        };
        if verdicts
            .iter()
            .any(|v| passes(v, p.z_outage, p.min_excess_outage, p.min_ratio_outage))
        {
            Level::Outage
        } else if verdicts
            .iter()
            .any(|v| passes(v, p.z_elevated, p.min_excess_elevated, p.min_ratio_elevated))
        {
            Level::Elevated
        } else {
            Level::Normal
        }
    }

    fn upper(&self, expected: f64) -> f64 {
        let p = &self.params;
        let by_noise = self
            .windows
            .first()
            .map_or(expected, |w| w.threshold(expected, p.z_elevated));
        by_noise
            .max(expected + p.min_excess_elevated)
            .max(expected * p.min_ratio_elevated)
    }

    /// Learns baseline and noise from a normal step.
    fn learn(&mut self, pos: &Position, value: f64, verdicts: &[Verdict]) {
        self.learn_baseline(pos, value);
        let keep = 1.0
            - ewma_rate(
                self.params
                    .noise_half_life_minutes
                    .max(100.0 * self.step_minutes),
                self.step_minutes,
            );
        for (window, verdict) in self.windows.iter_mut().zip(verdicts) {
            window.learn(verdict, keep);
        }
    }

    fn learn_baseline(&mut self, pos: &Position, value: f64) {
        let factor = self.profile.factor(pos);
        let rate = value / (factor * self.step_minutes);
        // Cold start: a running mean until the average has seen a half-life's worth of steps.
        let alpha = ewma_rate(self.params.level_half_life_minutes, self.step_minutes)
            .max(1.0 / (self.steps_seen + 1.0));
        let level_expected = self.level * self.step_minutes;
        if self.steps_seen > 0.0 {
            let weekly = self.minutes_seen >= WEEKLY_AFTER_MINUTES;
            self.profile
                .learn(pos, self.step_minutes, value, level_expected, weekly);
        }
        self.level += alpha * (rate - self.level);
    }
}
