//! Evidence windows and the stream's own noise.
//!
//! Counts are compared on the square-root scale, where Poisson noise has a standard deviation of
//! 1/2 whatever the volume. Real report streams are burstier than Poisson, more so the busier
//! they are, so each window learns an overdispersion `phi` from its own recent residuals:
//! sd = 1/2 · sqrt(1 + phi · expected). A window of 15 minutes learns its own `phi`, so bursts
//! that span minutes are judged at the scale they happen.

/// Stabilized distance of `seen` above `expected`, in units of Poisson noise (before `phi`).
fn root_gap(seen: f64, expected: f64) -> f64 {
    (seen + 0.375).sqrt() - (expected + 0.375).sqrt()
}

/// One evidence window: a span of the most recent steps.
#[derive(Debug, Clone)]
pub struct Window {
    /// Steps summed.
    pub steps: usize,
    num: f64,
    den: f64,
    weight: f64,
    prior_phi: f64,
    prior_weight: f64,
}

/// A window's verdict on the latest step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verdict {
    /// Reports in the window.
    pub seen: f64,
    /// Reports the baseline expected in the window.
    pub expected: f64,
    /// Significance of the excess, in standard deviations.
    pub z: f64,
}

impl Verdict {
    /// Reports above baseline.
    pub fn excess(&self) -> f64 {
        self.seen - self.expected
    }

    /// Seen over expected (large when nothing was expected).
    pub fn ratio(&self) -> f64 {
        self.seen / self.expected.max(1e-9)
    }
}

impl Window {
    /// A window over `steps` steps with a prior overdispersion worth `prior_weight` observations.
    pub fn new(steps: usize, prior_phi: f64, prior_weight: f64) -> Self {
        Self {
            steps,
            num: 0.0,
            den: 0.0,
            weight: 0.0,
            prior_phi,
            prior_weight,
        }
    }

    /// Current overdispersion: the stream's own, blended with the prior while data is short.
    pub fn phi(&self) -> f64 {
        let own = if self.den > 0.0 {
            (self.num / self.den).max(0.0)
        } else {
            self.prior_phi
        };
        (own * self.weight + self.prior_phi * self.prior_weight) / (self.weight + self.prior_weight)
    }

    /// Standard deviation on the root scale for a window expecting `expected` reports.
    pub fn sd(&self, expected: f64) -> f64 {
        0.5 * (1.0 + self.phi() * expected).sqrt()
    }

    /// Judges `seen` against `expected`.
    pub fn judge(&self, seen: f64, expected: f64) -> Verdict {
        Verdict {
            seen,
            expected,
            z: root_gap(seen, expected) / self.sd(expected),
        }
    }

    /// Learns from a normal window, forgetting old windows at `keep` per step. Residuals are
    /// capped at 4 sd so one freak burst cannot blind the detector for days.
    pub fn learn(&mut self, verdict: &Verdict, keep: f64) {
        let sd = self.sd(verdict.expected);
        let gap = root_gap(verdict.seen, verdict.expected).clamp(-4.0 * sd, 4.0 * sd);
        self.num = self.num * keep + (4.0 * gap * gap - 1.0);
        self.den = self.den * keep + verdict.expected;
        self.weight = self.weight * keep + 1.0;
    }

    /// The smallest count over `expected` that this window would call significant at `z`.
    pub fn threshold(&self, expected: f64, z: f64) -> f64 {
        let root = (expected + 0.375).sqrt() + z * self.sd(expected);
        root * root - 0.375
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_noise_is_one_half_on_the_root_scale() {
        let w = Window::new(1, 0.0, 1.0);
        assert!((w.sd(1000.0) - 0.5).abs() < 1e-12);
        let v = w.judge(100.0, 100.0);
        assert!(v.z.abs() < 1e-12);
        assert!(w.judge(50.0, 0.1).z > 10.0);
    }

    #[test]
    fn learns_overdispersion_from_bursty_residuals() {
        let mut w = Window::new(1, 0.1, 10.0);
        // Alternating 50 and 150 around an expectation of 100: variance 2500 = 100 + phi·100².
        for i in 0..2000 {
            let seen = if i % 2 == 0 { 50.0 } else { 150.0 };
            let v = w.judge(seen, 100.0);
            w.learn(&v, 0.999);
        }
        let phi = w.phi();
        assert!((0.15..0.35).contains(&phi), "phi {phi}");
        assert!(w.threshold(100.0, 4.5) > 180.0);
    }
}
