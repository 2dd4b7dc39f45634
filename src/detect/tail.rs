//! Each service's tail of normal excursions, in magnitude.
//!
//! On a busy service every burst is hugely significant, so significance alone cannot tell a
//! service's usual bursts from news. Each evidence window therefore remembers how far above its
//! expectation the service has gone *while nothing was wrong*: the largest ratio of reports to
//! expected (with a few pseudo-reports on both sides, so that one report where 0.1 was expected
//! is not a ratio of ten) in each of the last weeks. An alarm needs an excursion beyond that,
//! so a service that bursts 3x twice a week needs more than 3x, and one that never bursts is
//! judged against the prior. Only steps that stayed normal teach it: incidents never do.

/// Pseudo-reports added to both sides of a ratio.
pub const PSEUDO_REPORTS: f64 = 2.0;
const WEEK_SECONDS: i64 = 7 * 86_400;
/// Weeks remembered besides the current one.
const WEEKS: usize = 4;

/// A window's ratio of `seen` to `expected`, on the log scale, with pseudo-reports.
pub fn log_ratio(seen: f64, expected: f64) -> f64 {
    ((seen + PSEUDO_REPORTS) / (expected + PSEUDO_REPORTS)).ln()
}

/// The largest normal log-ratio of each of the last weeks, for one window.
#[derive(Debug, Clone)]
pub struct Tail {
    /// (week number, largest log-ratio seen that week), newest last.
    weeks: [(i64, f64); WEEKS + 1],
    prior: f64,
}

impl Tail {
    /// A tail that knows only the prior ratio (a floor that never decays).
    pub fn new(prior_ratio: f64) -> Self {
        Self {
            weeks: [(i64::MIN, 0.0); WEEKS + 1],
            prior: prior_ratio.max(1.0).ln(),
        }
    }

    /// The usual largest excursion at time `t` (log-ratio): over the current and last four weeks.
    pub fn usual(&self, t: i64) -> f64 {
        let week = t.div_euclid(WEEK_SECONDS);
        self.weeks
            .iter()
            .filter(|(w, _)| *w + crate::domain::signed(WEEKS) >= week)
            .map(|(_, max)| *max)
            .fold(self.prior, f64::max)
    }

    /// Learns a normal step's log-ratio at time `t`.
    pub fn learn(&mut self, t: i64, log_ratio: f64) {
        let week = t.div_euclid(WEEK_SECONDS);
        let last = &mut self.weeks[WEEKS];
        if last.0 == week {
            last.1 = last.1.max(log_ratio);
        } else if last.0 < week {
            self.weeks.rotate_left(1);
            self.weeks[WEEKS] = (week, log_ratio);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_largest_burst_for_four_weeks_then_forgets() {
        let mut tail = Tail::new(1.3);
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
    fn pseudo_reports_keep_sparse_ratios_sane() {
        assert!(log_ratio(1.0, 0.1) < 0.4);
        assert!(log_ratio(3000.0, 1000.0) > 1.0);
    }
}
