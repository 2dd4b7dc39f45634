//! Where a rise began: a change point found by looking back from the alarm.
//!
//! The alarm comes when evidence is strong enough, a few minutes after the rise began. Looking
//! back over the remembered steps, the onset is the start of the run of steps (ending now)
//! whose total is least likely under the baseline: the segment with the largest negative
//! binomial significance. Earlier normal steps dilute the excess, later ones miss part of it, so
//! the maximum sits where the rise began.

use super::nb::z_score;

/// One remembered step: its start, reports and expectation.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub t: i64,
    pub value: f64,
    pub expected: f64,
}

/// A step before the most significant run still belongs to the rise if it alone stands this
/// far above its expectation (about a 5% chance for a normal step): a rise that builds over a
/// few minutes starts where it starts, not where its bulk does.
const RAMP_Z: f64 = 1.64;

/// The start of the most significant run of `steps` (oldest first) that ends at the last one,
/// where a run of `n` steps is judged under overdispersion `phi(n)` (the noise at that scale),
/// moved back over the clearly raised steps just before it; `None` if there are no steps.
pub fn change_point(
    steps: impl DoubleEndedIterator<Item = Step>,
    phi: impl Fn(usize) -> f64,
) -> Option<i64> {
    let newest_first: Vec<Step> = steps.rev().collect();
    let (mut seen, mut expected) = (0.0, 0.0);
    let mut best: Option<(f64, usize)> = None;
    for (i, step) in newest_first.iter().enumerate() {
        seen += step.value;
        expected += step.expected;
        let z = z_score(seen, expected, phi(i + 1));
        if best.is_none_or(|(top, _)| z > top) {
            best = Some((z, i));
        }
    }
    let (_, mut start) = best?;
    let phi = phi(1);
    while let Some(before) = newest_first.get(start + 1) {
        if z_score(before.value, before.expected, phi) < RAMP_Z {
            break;
        }
        start += 1;
    }
    Some(newest_first[start].t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_start_of_a_sudden_rise() {
        let steps: Vec<Step> = (0..60)
            .map(|i| Step {
                t: i * 60,
                value: if i >= 50 {
                    40.0
                } else {
                    [3.0, 7.0, 5.0][usize::try_from(i % 3).unwrap()]
                },
                expected: 5.0,
            })
            .collect();
        assert_eq!(change_point(steps.into_iter(), |_| 0.1), Some(50 * 60));
    }

    #[test]
    fn a_rise_that_builds_starts_at_its_first_raised_step() {
        let values = [3.0, 4.0, 3.0, 10.0, 14.0, 30.0, 60.0];
        let steps: Vec<Step> = (0..7)
            .map(|i| Step {
                t: i * 60,
                value: values[usize::try_from(i).unwrap()],
                expected: 3.5,
            })
            .collect();
        assert_eq!(change_point(steps.into_iter(), |_| 0.1), Some(3 * 60));
    }

    #[test]
    fn a_stray_report_long_before_does_not_move_a_quiet_onset() {
        let steps: Vec<Step> = (0..60)
            .map(|i| Step {
                t: i * 60,
                value: if i >= 45 || i == 10 { 1.0 } else { 0.0 },
                expected: 0.02,
            })
            .collect();
        assert_eq!(change_point(steps.into_iter(), |_| 0.3), Some(45 * 60));
    }
}
