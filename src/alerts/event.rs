//! The event a subscription receives, before it is shaped for a format.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::AlertKind;
use crate::domain::{Incident, Level, Update};
use crate::query::headline::incident_headline;

/// One incident change, with what a reader needs to act on it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertEvent {
    /// `incident.opened`, `incident.escalated`, `incident.calmer`, `incident.resolved`,
    /// `incident.reopened`, or `test`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What happened.
    pub kind: AlertKind,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The level from then on (`normal` once resolved).
    pub level: Level,
    /// "ChatGPT: problem reports rose from 6:36 AM UTC ...".
    pub headline: String,
    /// The service.
    pub service: AlertService,
    /// The incident as it stood at the change.
    pub incident: AlertIncident,
    /// Where to look.
    pub links: AlertLinks,
}

/// The service an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertService {
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Category.
    pub category: String,
}

/// The incident an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertIncident {
    /// Its id.
    pub id: Uuid,
    /// Where the rise began.
    pub began_at: DateTime<Utc>,
    /// When it was detected.
    pub started_at: DateTime<Utc>,
    /// When it ended, once resolved.
    pub ended_at: Option<DateTime<Utc>>,
    /// The highest level it reached.
    pub highest_level: Level,
    /// Reports in its busiest 15 minutes.
    pub peak_bin_count: i32,
    /// Reports counted so far.
    pub total_reports: i64,
}

/// Absolute links for the event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertLinks {
    /// The incident page.
    pub incident: String,
    /// Its chart (SVG).
    pub chart: String,
    /// The service's curve around it (CSV).
    pub csv: String,
}

impl AlertEvent {
    /// The event for timeline entry `update` of `incident`, links under `base_url`.
    pub fn of(update: &Update, incident: &Incident, service: AlertService, base_url: &str) -> Self {
        let kind = AlertKind::of(update.kind);
        let base = base_url.trim_end_matches('/');
        let from = incident.began_at - chrono::TimeDelta::hours(2);
        let to = incident.ended_at.unwrap_or(update.at) + chrono::TimeDelta::hours(2);
        let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        Self {
            event_type: format!("incident.{kind}"),
            kind,
            at: update.at,
            level: update.level,
            headline: incident_headline(incident, &service.name, chrono_tz::Tz::UTC),
            links: AlertLinks {
                incident: format!("{base}/incidents/{}", incident.id),
                chart: format!("{base}/v1/incidents/{}/chart.svg", incident.id),
                csv: format!(
                    "{base}/v1/services/{}/curve.csv?from={}&to={}&step=15m",
                    service.slug,
                    stamp(from),
                    stamp(to)
                ),
            },
            service,
            incident: AlertIncident {
                id: incident.id,
                began_at: incident.began_at,
                started_at: incident.started_at,
                ended_at: incident.ended_at,
                highest_level: incident.highest_level,
                peak_bin_count: incident.peak_bin_count,
                total_reports: incident.total_reports,
            },
        }
    }

    /// The level a filter judges: the change's, or for a resolution the highest reached.
    pub fn judged_level(&self) -> Level {
        match self.kind {
            AlertKind::Resolved => self.incident.highest_level,
            _ => self.level,
        }
    }
}
