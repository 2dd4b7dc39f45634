//! Incidents, their timelines and the events they cause, as the monitor builds them and the
//! queries read them. Storage converts its rows to these (a corrupt row is an error there), so
//! everything above `db/` works with enums and typed maps, never with strings.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Level;

/// Reports per key (problem kind or country) over an incident.
pub type Counts = BTreeMap<String, u64>;

/// A stretch of time a service spent above `normal`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Incident {
    /// Stable id (UUIDv7 of the start time).
    pub id: Uuid,
    /// The service.
    pub service_id: Uuid,
    /// Where the rise began: the detector's estimate, looking back from the alarm.
    pub began_at: DateTime<Utc>,
    /// The minute the incident opened (when the rise was detected).
    pub started_at: DateTime<Utc>,
    /// First minute back at normal; `None` while open.
    pub ended_at: Option<DateTime<Utc>>,
    /// Current level (`normal` once resolved).
    pub level: Level,
    /// Highest level reached.
    pub highest_level: Level,
    /// The minute with the most reports.
    pub peak_at: DateTime<Utc>,
    /// Reports in that minute.
    pub peak_minute_count: i32,
    /// The 15-minute bin with the most reports.
    pub peak_bin_at: DateTime<Utc>,
    /// Reports in that bin.
    pub peak_bin_count: i32,
    /// Reports the baseline expected in that bin.
    pub baseline_at_peak: f64,
    /// Reports during the incident.
    pub total_reports: i64,
    /// Reports per problem kind during the incident.
    pub problem_counts: Counts,
    /// Reports per country during the incident.
    pub country_counts: Counts,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Why it opened; `None` for incidents recorded before evidence was kept.
    pub evidence: Option<Evidence>,
}

/// Why an incident opened: in the window that gave the strongest evidence, how many reports
/// came and how many were expected, and how likely that many or more would be by chance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    /// The window's length, in minutes.
    pub window_minutes: u32,
    /// Reports in the window.
    pub observed: f64,
    /// Reports the baseline expected in it.
    pub expected: f64,
    /// The chance of at least `observed` reports under the service's usual noise.
    pub probability: f64,
}

impl Incident {
    /// Whether it is still going on.
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpdateKind {
    /// The incident began.
    Opened,
    /// The level rose.
    Escalated,
    /// The level fell, but not to normal.
    Deescalated,
    /// Back to normal: the incident ended.
    Resolved,
    /// It came back soon after resolving: the same incident continues.
    Reopened,
}

impl UpdateKind {
    /// The lower-case name used in APIs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Escalated => "escalated",
            Self::Deescalated => "deescalated",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
        }
    }
}

impl fmt::Display for UpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UpdateKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "opened" => Ok(Self::Opened),
            "escalated" => Ok(Self::Escalated),
            "deescalated" => Ok(Self::Deescalated),
            "resolved" => Ok(Self::Resolved),
            "reopened" => Ok(Self::Reopened),
            other => Err(format!("unknown update kind {other:?}")),
        }
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Update {
    /// When the level changed (start of the minute).
    pub at: DateTime<Utc>,
    /// What changed.
    pub kind: UpdateKind,
    /// The level from then on.
    pub level: Level,
    /// Reports in that minute.
    pub reports: i32,
    /// Reports the baseline expected in that minute.
    pub baseline: f64,
}

/// What a live event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventKind {
    /// An incident opened.
    #[serde(rename = "incident.opened")]
    IncidentOpened,
    /// An open incident changed level or grew a new peak.
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    /// An incident ended.
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    /// A service's level changed.
    #[serde(rename = "service.level")]
    ServiceLevel,
}

impl EventKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident.opened",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentResolved => "incident.resolved",
            Self::ServiceLevel => "service.level",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the `kind` field of a peak event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeakKind {
    /// The incident reached a new peak.
    Peak,
}

/// An incident opened, changed level or resolved (`incident.opened`, `incident.updated`,
/// `incident.resolved`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentEvent {
    /// The incident.
    pub incident_id: Uuid,
    /// The service's slug.
    pub service: String,
    /// The timeline entry this event announces.
    pub kind: UpdateKind,
    /// The level from then on.
    pub level: Level,
    /// When it changed.
    pub at: DateTime<Utc>,
    /// Where the rise began (the detector's estimate).
    pub began_at: DateTime<Utc>,
    /// When the incident opened (the rise was detected).
    pub started_at: DateTime<Utc>,
    /// When it ended, once resolved.
    pub ended_at: Option<DateTime<Utc>>,
    /// Reports in its busiest 15 minutes so far.
    pub peak_bin_count: i32,
}

/// An open incident reached a new peak (`incident.updated` with `kind: peak`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PeakEvent {
    /// The incident.
    pub incident_id: Uuid,
    /// The service's slug.
    pub service: String,
    /// Always `peak`.
    pub kind: PeakKind,
    /// The incident's level.
    pub level: Level,
    /// Start of the busiest 15 minutes.
    pub peak_bin_at: DateTime<Utc>,
    /// Reports in them.
    pub peak_bin_count: i32,
}

/// A service's level changed (`service.level`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LevelEvent {
    /// The service's slug.
    pub service: String,
    /// Its level from then on.
    pub level: Level,
    /// When it changed.
    pub at: DateTime<Utc>,
}

/// Something the monitor announces to live clients.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// `incident.opened`, `incident.updated` or `incident.resolved`, by the update's kind.
    Incident(IncidentEvent),
    /// `incident.updated` for a new peak.
    Peak(PeakEvent),
    /// `service.level`.
    Level(LevelEvent),
}

impl LiveEvent {
    /// The SSE event name.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Incident(e) => match e.kind {
                UpdateKind::Opened => EventKind::IncidentOpened,
                UpdateKind::Resolved => EventKind::IncidentResolved,
                UpdateKind::Escalated | UpdateKind::Deescalated | UpdateKind::Reopened => {
                    EventKind::IncidentUpdated
                }
            },
            Self::Peak(_) => EventKind::IncidentUpdated,
            Self::Level(_) => EventKind::ServiceLevel,
        }
    }

    /// The JSON payload.
    pub fn data(&self) -> String {
        let json = match self {
            Self::Incident(e) => serde_json::to_string(e),
            Self::Peak(e) => serde_json::to_string(e),
            Self::Level(e) => serde_json::to_string(e),
        };
        json.expect("events serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_kinds_read_back_what_they_write() {
        for kind in [
            UpdateKind::Opened,
            UpdateKind::Escalated,
            UpdateKind::Deescalated,
            UpdateKind::Resolved,
            UpdateKind::Reopened,
        ] {
            assert_eq!(kind.as_str().parse::<UpdateKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert!("reopened?".parse::<UpdateKind>().is_err());
    }

    #[test]
    fn event_kinds_serialize_as_their_sse_names() {
        for kind in [
            EventKind::IncidentOpened,
            EventKind::IncidentUpdated,
            EventKind::IncidentResolved,
            EventKind::ServiceLevel,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
