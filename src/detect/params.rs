//! The detector's parameters, with the defaults production and `backtest` use.

use serde::Serialize;

/// Number of evidence windows.
pub const WINDOWS: usize = 5;

/// Tuning of the baseline model and the level state machine. Counts are reports; times are
/// minutes, so the same parameters hold at any step from 1 minute to 1 hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// Half-life of the baseline level (deseasonalized rate), in minutes.
    pub level_half_life_minutes: f64,
    /// Share of a time-of-day slot's memory replaced per day of data (0-1).
    pub daily_profile_rate: f64,
    /// Share of a day-of-week slot's memory replaced per week of data (0-1).
    pub weekly_profile_rate: f64,
    /// Half-life of the noise (overdispersion) estimate, in minutes.
    pub noise_half_life_minutes: f64,
    /// Overdispersion assumed before the stream has taught us its own.
    pub prior_overdispersion: f64,
    /// Evidence windows, in minutes (each at least one step).
    pub windows_minutes: [f64; WINDOWS],
    /// Significance for `elevated`: a window's negative-binomial tail probability, multiplied
    /// by the number of windows (Bonferroni), must be below the standard normal's beyond this.
    pub z_elevated: f64,
    /// Significance for `elevated` on the 30- and 60-minute windows, whose rises must also beat
    /// the service's own tail of hour-long excursions: a sustained moderate rise accumulates
    /// evidence there that no short window sees.
    pub z_sustained: f64,
    /// Significance for `outage`, on the same scale.
    pub z_outage: f64,
    /// Safety net: reports above baseline in a window needed for `elevated`.
    pub min_excess_elevated: f64,
    /// Safety net: reports above baseline in a window needed for `outage`.
    pub min_excess_outage: f64,
    /// A service's usual largest excursion before it has shown its own (ratio of reports to
    /// expected in a window, with two pseudo-reports on each side).
    pub prior_tail_ratio: f64,
    /// `elevated` needs a window's log-ratio above this many times the service's usual largest.
    pub tail_margin_elevated: f64,
    /// `outage` needs a window's log-ratio above this many times the service's usual largest.
    pub tail_margin_outage: f64,
    /// How long (hours) an incident's excursion still counts in the service's tail.
    pub incident_tail_hours: f64,
    /// An incident raises a window's usual excursion at most to this multiple (log scale) of
    /// the usual learned from normal excursions.
    pub incident_tail_cap: f64,
    /// For this long (hours) after the reopen window, an incident's excursion raises every
    /// window's usual up to its own peak, beyond the cap: a story's follow-ups come within a
    /// day. 0 = never.
    pub incident_aftermath_hours: f64,
    /// `outage` steps down to `elevated` once the 15-minute excess falls below this share of
    /// the incident's own largest 15-minute excess.
    pub step_down_share: f64,
    /// Evidence must hold this long (minutes, at least one step) before the level rises.
    pub confirm_minutes: f64,
    /// Outage evidence must be absent this long before `outage` drops to `elevated`.
    pub deescalate_minutes: f64,
    /// Volume must be back near baseline this long before an incident resolves.
    pub resolve_minutes: f64,
    /// History needed before any alarm (cold start), in minutes: long enough for a baseline
    /// of more than a few capped minutes, short enough that a service whose first reports
    /// come with its outage is found within minutes (the first day's 4x bar judges it then).
    pub warmup_minutes: f64,
    /// An alarm this soon (minutes) after an incident resolved continues that incident.
    pub reopen_minutes: f64,
    /// An incident longer than this is taken to be the new normal: the baseline is reset.
    pub max_incident_hours: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            level_half_life_minutes: 2.0 * 1440.0,
            daily_profile_rate: 0.2,
            weekly_profile_rate: 0.25,
            noise_half_life_minutes: 2.0 * 1440.0,
            prior_overdispersion: 0.1,
            windows_minutes: [1.0, 5.0, 15.0, 30.0, 60.0],
            z_elevated: 5.0,
            z_sustained: 3.5,
            z_outage: 7.0,
            min_excess_elevated: 3.0,
            min_excess_outage: 6.0,
            prior_tail_ratio: 1.3,
            tail_margin_elevated: 1.15,
            tail_margin_outage: 2.0,
            incident_tail_hours: 28.0 * 24.0,
            incident_tail_cap: 1.7,
            incident_aftermath_hours: 24.0,
            step_down_share: 0.25,
            confirm_minutes: 2.0,
            deescalate_minutes: 10.0,
            resolve_minutes: 20.0,
            warmup_minutes: 15.0,
            reopen_minutes: 30.0,
            max_incident_hours: 24.0,
        }
    }
}
