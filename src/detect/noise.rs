//! Evidence windows and the stream's own noise.
//!
//! Real report streams are burstier than Poisson, more so the busier they are, so each window
//! learns an overdispersion `phi` from its own normal residuals (method of moments:
//! variance = expected + phi·expected²). A 60-minute window learns the slow drift of interest
//! that a 1-minute window never sees, so each scale is judged by the noise at that scale. Freak
//! bursts are capped at 3 sd before they are learned: how heavy a service's tail is, is the
//! job of `tail`, not of the bulk noise.

use std::cell::Cell;

use super::memory::NoiseMemory;
use super::nb::{upper_tail, z_score};
use super::tail::{Tail, log_ratio};

/// One evidence window: a span of the most recent steps, its noise and its tail.
#[derive(Debug, Clone)]
pub struct Window {
    /// Steps summed.
    pub steps: usize,
    num: f64,
    den: f64,
    weight: f64,
    prior_phi: f64,
    prior_weight: f64,
    /// The overdispersion as of the last lesson (`estimate`): read several times a step, learned
    /// at most once.
    phi: f64,
    /// The service's normal excursions at this window's scale.
    pub tail: Tail,
}

/// A window's verdict on the latest step.
///
/// The significance, its probability and the log-ratio cost a logarithm or an exponential each,
/// and most steps need few of them: on a calm stream about half the windows sit at or below
/// their expectation, where no rule can fire, and the probability matters only to a step whose
/// other evidence already holds. So each is computed when first read (and kept), from the
/// window's noise as it was when it judged: the same numbers as if computed at once.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Reports in the window.
    pub seen: f64,
    /// Reports the baseline expected in the window.
    pub expected: f64,
    /// The window's overdispersion when it judged.
    phi: f64,
    /// Computed when first read (NaN until then).
    z: Kept,
    p: Kept,
    log_ratio: Kept,
    /// The service's usual largest log-ratio at this window's scale.
    pub usual: f64,
    /// The window's length in minutes.
    pub minutes: f64,
    /// The least usual a new service is credited with while its own tail is young (log-ratio).
    pub floor: f64,
}

/// A number computed when first read, NaN until then (a NaN result is computed again each
/// time: still the same number).
#[derive(Debug, Clone)]
struct Kept(Cell<f64>);

impl Default for Kept {
    fn default() -> Self {
        Self(Cell::new(f64::NAN))
    }
}

impl Kept {
    fn get(&self, f: impl FnOnce() -> f64) -> f64 {
        let kept = self.0.get();
        if !kept.is_nan() {
            return kept;
        }
        let value = f();
        self.0.set(value);
        value
    }
}

impl Verdict {
    /// Reports above baseline.
    pub fn excess(&self) -> f64 {
        self.seen - self.expected
    }

    /// The usual largest excursion an alarm must beat: the service's own, or a new service's
    /// floor while its tail is young.
    pub fn bar_usual(&self) -> f64 {
        self.usual.max(self.floor)
    }

    /// The window's overdispersion when it judged.
    pub fn phi(&self) -> f64 {
        self.phi
    }

    /// Significance of the excess under the negative binomial (standard-normal quantile).
    pub fn z(&self) -> f64 {
        self.z.get(|| z_score(self.seen, self.expected, self.phi))
    }

    /// Whether the significance reaches `z`, a positive quantile. A count at or below its
    /// expectation has a significance of at most 0 (`z_score`), so it needs no logarithm.
    pub fn z_reaches(&self, z: f64) -> bool {
        debug_assert!(z > 0.0);
        if self.seen <= self.expected {
            return false;
        }
        self.z() >= z
    }

    /// Chance of at least `seen` reports, before correcting for the number of windows.
    pub fn p(&self) -> f64 {
        self.p.get(|| upper_tail(self.z()))
    }

    /// The log-ratio of reports to expected (with the tail's pseudo-reports).
    pub fn log_ratio(&self) -> f64 {
        self.log_ratio.get(|| log_ratio(self.seen, self.expected))
    }

    /// Whether the log-ratio is beyond the service's usual. A count at or below its expectation
    /// has a log-ratio of at most 0, never beyond a usual of 0 or more: no logarithm needed.
    pub fn beyond_usual(&self) -> bool {
        if self.seen <= self.expected && self.usual >= 0.0 {
            return false;
        }
        self.log_ratio() > self.usual
    }
}

impl Window {
    /// A window over `steps` steps with a prior overdispersion worth `prior_weight` observations
    /// (forgotten like them) and its tail.
    pub fn new(steps: usize, prior_phi: f64, prior_weight: f64, tail: Tail) -> Self {
        let mut window = Self {
            steps,
            num: 0.0,
            den: 0.0,
            weight: 0.0,
            prior_phi,
            prior_weight,
            phi: prior_phi,
            tail,
        };
        window.phi = window.estimate();
        window
    }

    /// What its noise has learned (see `memory`).
    pub fn noise_memory(&self) -> NoiseMemory {
        NoiseMemory {
            num: self.num,
            den: self.den,
            weight: self.weight,
            prior_weight: self.prior_weight,
        }
    }

    /// Forgets what its noise learned and knows `memory` instead.
    pub fn recall_noise(&mut self, memory: &NoiseMemory) {
        self.num = memory.num;
        self.den = memory.den;
        self.weight = memory.weight;
        self.prior_weight = memory.prior_weight;
        self.phi = self.estimate();
    }

    /// Current overdispersion: the stream's own, blended with the prior while data is short.
    pub fn phi(&self) -> f64 {
        self.phi
    }

    fn estimate(&self) -> f64 {
        let own = if self.den > 0.0 {
            (self.num / self.den).max(0.0)
        } else {
            self.prior_phi
        };
        (own * self.weight + self.prior_phi * self.prior_weight) / (self.weight + self.prior_weight)
    }

    /// Judges `seen` against `expected` at time `t`.
    pub fn judge(&mut self, t: i64, seen: f64, expected: f64) -> Verdict {
        Verdict {
            seen,
            expected,
            phi: self.phi(),
            usual: self.tail.usual_at(t),
            ..Verdict::default()
        }
    }

    /// Learns the noise from a normal window, forgetting old windows at `keep` per step.
    pub fn learn_noise(&mut self, verdict: &Verdict, keep: f64) {
        let e = verdict.expected;
        let sd = (e * (1.0 + verdict.phi() * e)).sqrt().max(0.5);
        let gap = (verdict.seen - e).clamp(-3.0 * sd, 3.0 * sd);
        self.num = self.num * keep + (gap * gap - e);
        self.den = self.den * keep + e * e;
        self.weight = self.weight * keep + 1.0;
        // The prior is forgotten like the observations it stands in for: with a fixed weight it
        // would hold a quarter of the estimate forever, and a prior fit for one minute (0.1)
        // would more than double the learned noise of an hour (about 0.013 on a busy service).
        self.prior_weight *= keep;
        self.phi = self.estimate();
    }

    /// The smallest count over `expected` that this window would call significant at `z`
    /// (a normal approximation on the square-root scale; for display).
    pub fn threshold(&self, expected: f64, z: f64) -> f64 {
        let sd = 0.5 * (1.0 + self.phi() * expected).sqrt();
        let root = (expected + 0.375).sqrt() + z * sd;
        root * root - 0.375
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_overdispersion_from_bursty_residuals() {
        let mut w = Window::new(1, 0.1, 10.0, Tail::new(1.5, 0, 1.0));
        // Alternating 50 and 150 around an expectation of 100: variance 2500 = 100 + phi·100².
        for i in 0..2000 {
            let seen = if i % 2 == 0 { 50.0 } else { 150.0 };
            let v = w.judge(i, seen, 100.0);
            w.learn_noise(&v, 0.999);
        }
        let phi = w.phi();
        assert!((0.15..0.35).contains(&phi), "phi {phi}");
        assert!(w.threshold(100.0, 4.5) > 180.0);
        assert!(w.judge(0, 180.0, 100.0).z() < 4.0);
    }

    #[test]
    fn the_prior_fades_so_a_calm_scale_learns_its_own_small_noise() {
        let mut w = Window::new(60, 0.1, 1440.0, Tail::new(1.5, 0, 1.0));
        // Hour counts of 1,800 varying by ±10 %: phi about 0.01 once the prior has faded.
        let keep = 0.5f64.powf(1.0 / 2880.0);
        for i in 0..20_000 {
            let seen = if i % 2 == 0 { 1620.0 } else { 1980.0 };
            let v = w.judge(i, seen, 1800.0);
            w.learn_noise(&v, keep);
        }
        let phi = w.phi();
        assert!((0.008..0.012).contains(&phi), "phi {phi}");
    }
}
