//! The bodies each format receives.
//!
//! - `json`: the [`AlertEvent`] itself;
//! - `slack`: an incoming-webhook message (`text` plus a section block);
//! - `discord`: an incoming-webhook message with one embed, coloured by level;
//! - `alertmanager`: Prometheus Alertmanager's webhook payload (version 4), one alert per
//!   incident, `firing` until it resolves, so existing routing can take it.

use serde_json::{Value, json};

use super::event::AlertEvent;
use super::subscription::{AlertKind, Format};
use crate::domain::Level;

/// The body for `format`.
pub fn render(format: Format, event: &AlertEvent) -> Value {
    match format {
        Format::Json => serde_json::to_value(event).unwrap_or(Value::Null),
        Format::Slack => slack(event),
        Format::Discord => discord(event),
        Format::Alertmanager => alertmanager(event),
    }
}

/// "Outage", "Problems" or "Resolved", as a message's first word.
fn state_word(event: &AlertEvent) -> &'static str {
    match (event.kind, event.level) {
        (AlertKind::Resolved, _) => "Resolved",
        (_, Level::Outage) => "Outage",
        _ => "Problems",
    }
}

fn slack(event: &AlertEvent) -> Value {
    let text = format!("{}: {} ({})", state_word(event), event.headline, event.kind);
    json!({
        "text": text,
        "blocks": [{
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": format!("*{}*\n{}\n<{}|Incident page> · <{}|Chart>",
                    state_word(event), event.headline, event.links.incident, event.links.chart),
            },
        }],
    })
}

fn discord(event: &AlertEvent) -> Value {
    let color = match (event.kind, event.level) {
        (AlertKind::Resolved, _) => 0x002e_7d32,
        (_, Level::Outage) => 0x00c6_2828,
        _ => 0x00ef_6c00,
    };
    json!({
        "content": format!("{}: {}", state_word(event), event.service.name),
        "embeds": [{
            "title": event.headline,
            "url": event.links.incident,
            "description": format!("{} · level {} · {} reports so far",
                event.kind, event.level, event.incident.total_reports),
            "color": color,
            "timestamp": event.at,
        }],
    })
}

fn alertmanager(event: &AlertEvent) -> Value {
    let resolved = event.kind == AlertKind::Resolved;
    let status = if resolved { "resolved" } else { "firing" };
    let labels = json!({
        "alertname": "DownwatchIncident",
        "service": event.service.slug,
        "provider": event.service.provider,
        "category": event.service.category,
        "severity": if event.judged_level() == Level::Outage { "critical" } else { "warning" },
    });
    let annotations = json!({
        "summary": event.headline,
        "description": format!("{} ({})", event.headline, event.kind),
        "chart": event.links.chart,
    });
    let ends_at = event
        .incident
        .ended_at
        .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), |t| t.to_rfc3339());
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{incident=\"{}\"}}", event.incident.id),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "downwatch",
        "groupLabels": { "incident": event.incident.id },
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": event.links.incident,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": event.incident.began_at,
            "endsAt": ends_at,
            "generatorURL": event.links.incident,
            "fingerprint": event.incident.id.simple().to_string()[..16].to_owned(),
        }],
    })
}
