//! Each service's tail of normal excursions, in magnitude.
//!
//! On a busy service every burst is hugely significant, so significance alone cannot tell a
//! service's usual bursts from news. Each evidence window therefore remembers how far above its
//! expectation the service has gone *while nothing was wrong*: the largest ratio of reports to
//! expected (with a few pseudo-reports on both sides, so that one report where 0.1 was expected
//! is not a ratio of ten) in each of the last weeks. An alarm needs an excursion beyond that,
//! so a service that bursts 3x twice a week needs more than 3x, and one that never bursts is
//! judged against the prior. Steps that stayed normal teach it in full.
//!
//! An excursion during which an incident opened may have been a real outage, or one of the
//! service's habitual bursts (count data alone cannot tell): if such excursions taught nothing,
//! a bursty service would alarm on every burst no larger than the last one that alarmed. So
//! it is remembered for four weeks too, but it can raise the usual only up to twice the normal
//! usual on the log scale (where `outage` already was): a service whose normal excursions are
//! small keeps a low bar after one outage, while one that bursts widely without alarming, and
//! whose alarms were bursts of the same kind, gets a bar above its bursts.
//!
//! For a day once a return would no longer continue the incident (its *aftermath*), an
//! incident's excursion raises the bar of every window, the shortest included, up to its peak:
//! news comes in cycles, a story and its follow-ups within a day, seldom larger than the story.
//! In that day only a rise beyond the incident's own opens a new one. The price is a second,
//! smaller outage of the same service the same day, which is not told apart from a follow-up
//! (DETECTION.md).

use super::memory::TailMemory;

/// Pseudo-reports added to both sides of a ratio.
pub const PSEUDO_REPORTS: f64 = 2.0;
const WEEK_SECONDS: i64 = 7 * 86_400;
/// Weeks remembered besides the current one.
pub(super) const WEEKS: usize = 4;

/// A window's ratio of `seen` to `expected`, on the log scale, with pseudo-reports.
pub fn log_ratio(seen: f64, expected: f64) -> f64 {
    ((seen + PSEUDO_REPORTS) / (expected + PSEUDO_REPORTS)).ln()
}

/// Incidents remembered by the tail (the most recent ones).
pub(super) const INCIDENTS: usize = 8;

/// The largest value of each of the last weeks (a week is Unix time divided by seven days).
#[derive(Debug, Clone)]
pub struct WeeklyMax {
    /// (week number, largest value seen that week), newest last.
    weeks: [(i64, f64); WEEKS + 1],
}

impl Default for WeeklyMax {
    fn default() -> Self {
        Self {
            weeks: [(i64::MIN, f64::NEG_INFINITY); WEEKS + 1],
        }
    }
}

impl WeeklyMax {
    /// The largest value over the current and the last four weeks at time `t`, or `floor`.
    pub fn max(&self, t: i64, floor: f64) -> f64 {
        let week = t.div_euclid(WEEK_SECONDS);
        self.weeks
            .iter()
            .filter(|(w, _)| *w + crate::domain::signed(WEEKS) >= week)
            .map(|(_, max)| *max)
            .fold(floor, f64::max)
    }

    /// Learns a value seen at time `t`.
    pub fn learn(&mut self, t: i64, value: f64) {
        let week = t.div_euclid(WEEK_SECONDS);
        let last = &mut self.weeks[WEEKS];
        if last.0 == week {
            last.1 = last.1.max(value);
        } else if last.0 < week {
            self.weeks.rotate_left(1);
            self.weeks[WEEKS] = (week, value);
        }
    }

    /// The weeks remembered, oldest first.
    fn remembered(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.weeks.iter().copied().filter(|(w, _)| *w != i64::MIN)
    }

    /// The weeks of `remembered` (oldest first, at most `WEEKS + 1`), and no others.
    fn recalled(remembered: &[(i64, f64)]) -> Self {
        Self {
            weeks: newest_last(remembered, (i64::MIN, f64::NEG_INFINITY)),
        }
    }
}

/// The largest normal log-ratio of each of the last weeks, for one window.
#[derive(Debug, Clone)]
pub struct Tail {
    weeks: WeeklyMax,
    /// (end, peak log-ratio) of the last incidents' excursions, newest last.
    incidents: [(i64, f64); INCIDENTS],
    /// How long an incident's excursion counts, in seconds.
    incident_memory: i64,
    /// An incident raises the usual at most to this multiple of the normal one (log scale).
    incident_cap: f64,
    /// An incident's excursion raises the usual beyond the cap from this long (seconds) after it
    /// ended (see [`Tail::with_aftermath`])...
    aftermath_after: i64,
    /// ...for this long (seconds).
    aftermath: i64,
    prior: f64,
    /// The usual as last computed, from when and until when it holds unless the tail learns:
    /// it changes only at a week's end or an incident's boundary (its memory runs out, its
    /// aftermath begins or ends), and the detector reads it every step.
    kept: Option<Kept>,
}

/// A usual (log-ratio) that holds from `from` until just before `until` (Unix seconds).
#[derive(Debug, Clone, Copy)]
struct Kept {
    from: i64,
    until: i64,
    usual: f64,
}

impl Tail {
    /// A tail that knows only the prior ratio (a floor that never decays), and remembers
    /// incidents' excursions for `incident_memory` seconds, raising the usual at most to
    /// `incident_cap` times the normal one (log scale; 1 = incidents teach nothing).
    pub fn new(prior_ratio: f64, incident_memory: i64, incident_cap: f64) -> Self {
        Self {
            weeks: WeeklyMax::default(),
            incidents: [(i64::MIN, 0.0); INCIDENTS],
            incident_memory,
            incident_cap,
            aftermath_after: 0,
            aftermath: 0,
            prior: prior_ratio.max(1.0).ln(),
            kept: None,
        }
    }

    /// The same tail, where from `after` seconds after it ended, for `seconds`, an incident's
    /// excursion raises the usual up to its own peak, whatever the cap. A story's follow-ups
    /// come within a day of it and are seldom larger, so in that time only a rise beyond the
    /// incident's own is news. The detector starts it once an alarm would no longer continue
    /// the incident: a rise that comes back sooner is the same incident, judged as before.
    pub fn with_aftermath(self, after: i64, seconds: i64) -> Self {
        Self {
            aftermath_after: after,
            aftermath: seconds,
            kept: None,
            ..self
        }
    }

    /// Whether `t` lies in the aftermath of an incident's excursion ended at `at`.
    fn in_aftermath(&self, at: i64, t: i64) -> bool {
        let since = t.saturating_sub(at);
        self.aftermath > 0
            && since >= self.aftermath_after
            && since - self.aftermath_after <= self.aftermath
    }

    /// Remembers the peak log-ratio of an excursion, ended at `t`, during which an incident
    /// opened.
    pub fn learn_incident(&mut self, t: i64, log_ratio: f64) {
        self.kept = None;
        self.incidents.rotate_left(1);
        self.incidents[INCIDENTS - 1] = (t, log_ratio);
    }

    /// The usual largest excursion at time `t` (log-ratio): over the current and last four weeks,
    /// raised by recent incidents' excursions up to the cap, and in an incident's aftermath up
    /// to its peak.
    pub fn usual(&self, t: i64) -> f64 {
        let normal = self.weeks.max(t, self.prior);
        let capped = normal * self.incident_cap;
        let learned = self
            .incidents
            .iter()
            .filter(|(at, _)| at.saturating_add(self.incident_memory) >= t)
            .map(|(_, v)| *v)
            .fold(normal, f64::max)
            .min(capped);
        self.incidents
            .iter()
            .filter(|(at, _)| self.in_aftermath(*at, t))
            .map(|(_, v)| *v)
            .fold(learned, f64::max)
    }

    /// The same as [`Tail::usual`], kept until it can change: the weeks counted change at the
    /// week's end, and the incidents counted when the first one's memory runs out, or an
    /// aftermath begins or ends.
    pub fn usual_at(&mut self, t: i64) -> f64 {
        if let Some(kept) = self.kept
            && (kept.from..kept.until).contains(&t)
        {
            return kept.usual;
        }
        let week_end = (t.div_euclid(WEEK_SECONDS) + 1).saturating_mul(WEEK_SECONDS);
        let until = self
            .incidents
            .iter()
            .flat_map(|(at, _)| {
                let begins = at.saturating_add(self.aftermath_after);
                [
                    at.saturating_add(self.incident_memory).saturating_add(1),
                    begins,
                    begins.saturating_add(self.aftermath).saturating_add(1),
                ]
            })
            .filter(|change| *change > t)
            .fold(week_end, i64::min);
        let usual = self.usual(t);
        self.kept = Some(Kept {
            from: t,
            until,
            usual,
        });
        usual
    }

    /// Learns a normal step's log-ratio at time `t`.
    pub fn learn(&mut self, t: i64, log_ratio: f64) {
        self.kept = None;
        self.weeks.learn(t, log_ratio);
    }

    /// What it has learned (see `memory`).
    pub fn memory(&self) -> TailMemory {
        TailMemory {
            weeks: self.weeks.remembered().collect(),
            incidents: self
                .incidents
                .iter()
                .copied()
                .filter(|(at, _)| *at != i64::MIN)
                .collect(),
        }
    }

    /// Forgets what it learned and knows `memory` instead (whose lengths `Memory::fits`
    /// checked); the prior, the cap and the memory's lengths stay this tail's own.
    pub fn recall(&mut self, memory: &TailMemory) {
        self.kept = None;
        self.weeks = WeeklyMax::recalled(&memory.weeks);
        self.incidents = newest_last(&memory.incidents, (i64::MIN, 0.0));
    }
}

/// `items` (oldest first, at most `N`) at the end of an array of `N`, as learning leaves them,
/// the slots before them `empty`.
fn newest_last<T: Copy, const N: usize>(items: &[T], empty: T) -> [T; N] {
    let mut slots = [empty; N];
    let skip = N.saturating_sub(items.len());
    for (slot, item) in slots[skip..].iter_mut().zip(items) {
        *slot = *item;
    }
    slots
}

/// Whether `seen` reports against `expected` lie beyond a bar at `bar_log_ratio` (log scale,
/// with the pseudo-reports): above it, and by more than the count's own sampling noise, at the
/// significance `z`. The usual excursion of a sparse service is itself one draw of a few
/// reports (its largest stray cluster of, say, six), and the next cluster can be twice that by
/// chance alone; so the count must stand `z` standard deviations of its Poisson noise above the
/// bar's count. On a busy service the noise of thousands of reports is small and the bar rules
/// alone.
pub fn beyond(seen: f64, expected: f64, bar_log_ratio: f64, z: f64) -> bool {
    let bar = (expected + PSEUDO_REPORTS) * bar_log_ratio.exp() - PSEUDO_REPORTS;
    log_ratio(seen, expected) > bar_log_ratio && super::nb::z_score(seen, bar, 0.0) >= z
}

/// The significance a count of a window shorter than half an hour needs above the tail's bar
/// (see [`beyond`]) once a service is past its first day: a 5 % chance. Such a window holds one
/// cluster or a few.
pub const TAIL_Z: f64 = 1.64;

/// The same for the 30- and 60-minute windows, and for every window on a service's first day
/// (whose bar is a prior): half a standard deviation. An hour's count spans many clusters, so
/// its bar is a firmer number than a short window's; but on a sparse service it is still a
/// count of a dozen reports, and a stray dozen where the bar stood at ten is chance, not news.
pub const FIRM_TAIL_Z: f64 = 0.5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_largest_burst_for_four_weeks_then_forgets() {
        let mut tail = Tail::new(1.3, 0, 1.0);
        let week = WEEK_SECONDS;
        assert!((tail.usual(0) - 1.3f64.ln()).abs() < 1e-12);
        tail.learn(10, 3.0f64.ln());
        tail.learn(20, 1.1f64.ln());
        assert!((tail.usual(30) - 3.0f64.ln()).abs() < 1e-12);
        for w in 1..=4 {
            tail.learn(w * week + 5, 1.2f64.ln());
        }
        assert!((tail.usual(4 * week + 6) - 3.0f64.ln()).abs() < 1e-12);
        tail.learn(5 * week + 5, 1.2f64.ln());
        assert!((tail.usual(5 * week + 6) - 1.3f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn an_incident_raises_the_bar_up_to_the_cap_for_its_memory_only() {
        let memory = 7 * 86_400;
        let mut tail = Tail::new(1.3, memory, 2.0);
        tail.learn(10, 1.5f64.ln());
        tail.learn_incident(100, 10.0f64.ln());
        // Capped at twice the normal usual (log scale): 1.5² = 2.25.
        assert!((tail.usual(200) - 2.25f64.ln()).abs() < 1e-12);
        tail.learn_incident(300, 2.0f64.ln());
        assert!((tail.usual(400) - 2.25f64.ln()).abs() < 1e-12);
        assert!((tail.usual(100 + memory + 1) - 2.0f64.ln()).abs() < 1e-12);
        assert!((tail.usual(300 + memory + 1) - 1.5f64.ln()).abs() < 1e-12);
        let mut untaught = Tail::new(1.3, memory, 1.0);
        untaught.learn_incident(100, 10.0f64.ln());
        assert!((untaught.usual(200) - 1.3f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn an_incident_raises_the_bar_to_its_peak_for_its_aftermath_only() {
        let day = 86_400;
        for cap in [1.0, 2.0] {
            let mut tail = Tail::new(1.3, 28 * day, cap).with_aftermath(1800, day);
            tail.learn(10, 1.5f64.ln());
            tail.learn_incident(100, 10.0f64.ln());
            // Capped (or, on a window incidents never teach, untouched) before and after it.
            let capped = if cap > 1.0 { 2.25f64 } else { 1.5 };
            assert!((tail.usual(100 + 1799) - capped.ln()).abs() < 1e-12);
            assert!((tail.usual(100 + 1800) - 10.0f64.ln()).abs() < 1e-12);
            assert!((tail.usual(100 + 1800 + day) - 10.0f64.ln()).abs() < 1e-12);
            assert!((tail.usual(100 + 1800 + day + 1) - capped.ln()).abs() < 1e-12);
        }
        // No aftermath: not even for the instant it would begin.
        let mut none = Tail::new(1.3, 28 * day, 1.0).with_aftermath(1800, 0);
        none.learn_incident(100, 10.0f64.ln());
        assert!((none.usual(100 + 1800) - 1.3f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn the_kept_usual_is_the_usual_across_weeks_and_incidents_running_out() {
        let memory = 3 * 86_400;
        let mut kept = Tail::new(1.3, memory, 2.0).with_aftermath(1800, 86_400);
        let mut plain = kept.clone();
        let hour = 3600;
        for step in 0..(6 * 7 * 24) {
            let t = step * hour + 17;
            // Now and then a normal excursion or an incident's, of varying size.
            if step % 29 == 0 {
                let ratio = 1.2 + (step % 7) as f64 / 5.0;
                kept.learn(t, ratio.ln());
                plain.learn(t, ratio.ln());
            }
            if step % 83 == 0 {
                let ratio = 2.0 + (step % 5) as f64;
                kept.learn_incident(t, ratio.ln());
                plain.learn_incident(t, ratio.ln());
            }
            for at in [t, t + 1, t + hour - 1] {
                assert_eq!(
                    kept.usual_at(at).to_bits(),
                    plain.usual(at).to_bits(),
                    "at {at}"
                );
            }
        }
    }

    #[test]
    fn a_sparse_count_must_clear_the_bar_by_more_than_its_noise() {
        // A quiet service whose clusters reached 8 reports where 0.1 were expected.
        let bar = log_ratio(8.0, 0.1);
        assert!(
            !beyond(10.0, 0.1, bar, TAIL_Z),
            "10 is within a cluster's noise of 8"
        );
        assert!(beyond(16.0, 0.1, bar, TAIL_Z));
        // A firm bar (an hour's count) asks for less: 10 clears 8 by more than half its noise.
        assert!(beyond(10.0, 0.1, bar, FIRM_TAIL_Z));
        assert!(!beyond(9.0, 0.1, bar, FIRM_TAIL_Z));
        // On a busy service the same margin over the bar is beyond any doubt.
        let bar = log_ratio(2000.0, 1000.0);
        assert!(beyond(2100.0, 1000.0, bar, TAIL_Z));
        assert!(!beyond(1990.0, 1000.0, bar, FIRM_TAIL_Z));
    }

    #[test]
    fn pseudo_reports_keep_sparse_ratios_sane() {
        assert!(log_ratio(1.0, 0.1) < 0.4);
        assert!(log_ratio(3000.0, 1000.0) > 1.0);
    }
}
