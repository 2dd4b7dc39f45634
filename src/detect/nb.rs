//! Tail probabilities of counts under a negative binomial.
//!
//! A window's count is judged by how unlikely it is under a negative binomial with the window's
//! expected count and the service's learned overdispersion φ (variance = μ + φμ²). The exact tail
//! sum is costly at a million points a second and at counts of 100,000, so the probability comes
//! from the signed root of the deviance (the log-likelihood ratio of "the mean is what was seen"
//! against "the mean is what was expected"), which is close to a standard normal variable in the
//! upper tail at every volume, from one report an hour to thousands a minute.

/// Significance of `seen` against `expected` under NB(`expected`, `phi`), as a standard-normal
/// quantile (negative when fewer reports than expected came in).
pub fn z_score(seen: f64, expected: f64, phi: f64) -> f64 {
    let mean = expected.max(1e-6);
    // Continuity correction: a count of `seen` stands for the interval above `seen - 1/2`.
    let s = (seen - 0.5).max(0.0);
    let deviance = if s <= 0.0 {
        mean
    } else if phi < 1e-9 {
        s * (s / mean).ln() - (s - mean)
    } else {
        let size = 1.0 / phi;
        s * (s / mean).ln() - (s + size) * ((s - mean) / (mean + size)).ln_1p()
    };
    let root = (2.0 * deviance.max(0.0)).sqrt();
    if s >= mean { root } else { -root }
}

/// The chance that a standard normal variable exceeds `z` (Abramowitz and Stegun 7.1.26,
/// absolute error below 1.5e-7; relative error small in the far tail).
pub fn upper_tail(z: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact Poisson upper tail P(X >= k), for checking the approximation.
    fn poisson_tail(k: u64, mean: f64) -> f64 {
        let mut term = (-mean).exp();
        let mut below = 0.0;
        for i in 0..k {
            below += term;
            term *= mean / (i + 1) as f64;
        }
        1.0 - below
    }

    #[test]
    fn matches_exact_poisson_tails_within_a_small_factor() {
        for (k, mean) in [(5, 0.5), (10, 2.0), (30, 10.0), (140, 100.0)] {
            let exact = poisson_tail(k, mean);
            let approx = upper_tail(z_score(k as f64, mean, 0.0));
            let ratio = approx / exact;
            assert!(
                (0.3..3.0).contains(&ratio),
                "k {k} mean {mean}: exact {exact:e} approx {approx:e}"
            );
        }
    }

    #[test]
    fn overdispersion_makes_the_same_excess_less_surprising() {
        let poisson = z_score(3000.0, 1800.0, 0.0);
        let bursty = z_score(3000.0, 1800.0, 0.02);
        assert!(poisson > 20.0, "{poisson}");
        assert!((3.0..6.0).contains(&bursty), "{bursty}");
        assert!(z_score(1.0, 5.0, 0.1) < 0.0);
    }
}
