//! Counts that arrive as floating point (model expectations, random samples, chart ticks) made
//! whole, in one place, so the crate's cast lints hold everywhere else.

/// `x` rounded to a whole number. Float-to-integer `as` saturates (NaN becomes 0), which is the
/// behaviour wanted for counts far beyond any real volume.
#[allow(
    clippy::cast_possible_truncation,
    reason = "rounded first; `as` saturates out-of-range floats"
)]
pub fn whole(x: f64) -> i64 {
    x.round() as i64
}

/// `x` rounded to a whole count; negative and NaN read as 0.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped at zero and rounded first; `as` saturates out-of-range floats"
)]
pub fn whole_count(x: f64) -> u64 {
    x.round().max(0.0) as u64
}

/// `x` rounded to a whole length or index; negative and NaN read as 0.
pub fn whole_usize(x: f64) -> usize {
    usize::try_from(whole_count(x)).unwrap_or(usize::MAX)
}

/// A length or index as a signed number (no slice is longer than `i64::MAX`).
pub fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_and_saturates() {
        assert_eq!(whole(2.5), 3);
        assert_eq!(whole(-2.4), -2);
        assert_eq!(whole(1e300), i64::MAX);
        assert_eq!(whole(f64::NAN), 0);
        assert_eq!(whole_count(-3.0), 0);
        assert_eq!(whole_count(41.6), 42);
        assert_eq!(whole_count(f64::INFINITY), u64::MAX);
    }
}
