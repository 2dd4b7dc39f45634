//! The bodies each format receives, as types: each is also its OpenAPI schema.
//!
//! - `json`: the [`AlertEvent`] itself;
//! - `slack`: an incoming-webhook message (`text` plus a section block);
//! - `discord`: an incoming-webhook message with one embed, coloured by level;
//! - `alertmanager`: Prometheus Alertmanager's webhook payload (version 4), one alert per
//!   incident, `firing` until it resolves, so existing routing can take it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::event::AlertEvent;
use crate::domain::Level;
use crate::domain::{AlertKind, Format};

/// The body for `format`.
pub fn render(format: Format, event: &AlertEvent) -> Value {
    let value = match format {
        Format::Json => serde_json::to_value(event),
        Format::Slack => serde_json::to_value(SlackMessage::of(event)),
        Format::Discord => serde_json::to_value(DiscordMessage::of(event)),
        Format::Alertmanager => serde_json::to_value(AlertmanagerPayload::of(event)),
    };
    value.unwrap_or(Value::Null)
}

/// "Outage", "Problems" or "Resolved", as a message's first word.
fn state_word(event: &AlertEvent) -> &'static str {
    match (event.kind, event.level) {
        (AlertKind::Resolved, _) => "Resolved",
        (_, Level::Outage) => "Outage",
        _ => "Problems",
    }
}

/// A Slack incoming-webhook message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlackMessage {
    /// The notification text: "Outage: <headline> (escalated)".
    text: String,
    /// One section with the headline and links.
    blocks: Vec<SlackBlock>,
}

/// A Slack layout block.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlackBlock {
    /// Always `section`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Its text.
    text: SlackText,
}

/// A Slack text object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlackText {
    /// Always `mrkdwn`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The text, with links as `<url|label>`.
    text: String,
}

impl SlackMessage {
    fn of(event: &AlertEvent) -> Self {
        let word = state_word(event);
        Self {
            text: format!("{word}: {} ({})", event.headline, event.kind),
            blocks: vec![SlackBlock {
                kind: "section",
                text: SlackText {
                    kind: "mrkdwn",
                    text: format!(
                        "*{word}*\n{}\n<{}|Incident page> · <{}|Chart>",
                        event.headline, event.links.incident, event.links.chart
                    ),
                },
            }],
        }
    }
}

/// A Discord incoming-webhook message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscordMessage {
    /// "Outage: ChatGPT".
    content: String,
    /// One embed with the headline.
    embeds: Vec<DiscordEmbed>,
}

/// A Discord embed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscordEmbed {
    /// The headline.
    title: String,
    /// The incident page.
    url: String,
    /// What happened, the level and the reports so far.
    description: String,
    /// Red for an outage, orange for problems, green once resolved.
    color: u32,
    /// When it happened.
    timestamp: DateTime<Utc>,
}

impl DiscordMessage {
    fn of(event: &AlertEvent) -> Self {
        let color = match (event.kind, event.level) {
            (AlertKind::Resolved, _) => 0x002e_7d32,
            (_, Level::Outage) => 0x00c6_2828,
            _ => 0x00ef_6c00,
        };
        Self {
            content: format!("{}: {}", state_word(event), event.service.name),
            embeds: vec![DiscordEmbed {
                title: event.headline.clone(),
                url: event.links.incident.clone(),
                description: format!(
                    "{} · level {} · {} reports so far",
                    event.kind, event.level, event.incident.total_reports
                ),
                color,
                timestamp: event.at,
            }],
        }
    }
}

/// Prometheus Alertmanager's webhook payload, version 4.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    /// Always `4`.
    version: &'static str,
    /// One group per incident.
    group_key: String,
    /// Always 0.
    truncated_alerts: u32,
    /// `firing` or `resolved`.
    status: &'static str,
    /// Always `downwatch`.
    receiver: &'static str,
    /// `incident`: the incident's id.
    group_labels: BTreeMap<&'static str, String>,
    /// The alert's labels.
    common_labels: BTreeMap<&'static str, String>,
    /// The alert's annotations.
    common_annotations: BTreeMap<&'static str, String>,
    /// The incident page.
    #[serde(rename = "externalURL")]
    external_url: String,
    /// The one alert.
    alerts: Vec<AlertmanagerAlert>,
}

/// One alert in an Alertmanager payload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    /// `firing` or `resolved`.
    status: &'static str,
    /// `alertname` (`DownwatchIncident`), `service`, `provider`, `category`, `severity`.
    labels: BTreeMap<&'static str, String>,
    /// `summary`, `description`, `chart`.
    annotations: BTreeMap<&'static str, String>,
    /// Where the rise began.
    starts_at: DateTime<Utc>,
    /// When it ended; Alertmanager's zero time while it fires.
    ends_at: String,
    /// The incident page.
    #[serde(rename = "generatorURL")]
    generator_url: String,
    /// Stable per incident.
    fingerprint: String,
}

impl AlertmanagerPayload {
    fn of(event: &AlertEvent) -> Self {
        let status = if event.kind == AlertKind::Resolved {
            "resolved"
        } else {
            "firing"
        };
        let severity = if event.judged_level() == Level::Outage {
            "critical"
        } else {
            "warning"
        };
        let labels = BTreeMap::from([
            ("alertname", "DownwatchIncident".to_owned()),
            ("service", event.service.slug.clone()),
            ("provider", event.service.provider.clone()),
            ("category", event.service.category.clone()),
            ("severity", severity.to_owned()),
        ]);
        let annotations = BTreeMap::from([
            ("summary", event.headline.clone()),
            (
                "description",
                format!("{} ({})", event.headline, event.kind),
            ),
            ("chart", event.links.chart.clone()),
        ]);
        let incident = event.incident.id;
        Self {
            version: "4",
            group_key: format!("{{}}:{{incident=\"{incident}\"}}"),
            truncated_alerts: 0,
            status,
            receiver: "downwatch",
            group_labels: BTreeMap::from([("incident", incident.to_string())]),
            common_labels: labels.clone(),
            common_annotations: annotations.clone(),
            external_url: event.links.incident.clone(),
            alerts: vec![AlertmanagerAlert {
                status,
                labels,
                annotations,
                starts_at: event.incident.began_at,
                ends_at: event.incident.ended_at.map_or_else(
                    || "0001-01-01T00:00:00Z".to_owned(),
                    |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                generator_url: event.links.incident.clone(),
                fingerprint: incident.simple().to_string()[..16].to_owned(),
            }],
        }
    }
}
