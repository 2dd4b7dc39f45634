//! An alert subscription: where to send, in which format, and which incident changes. Plain
//! domain data (storage keeps it, `alerts` delivers by it), so neither depends on the other.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FieldError, FieldErrors, Label, Level, ServiceSlug, UpdateKind};

/// The body a target receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// downwatch's own event: headline, service, level, onset, links.
    Json,
    /// A Slack incoming-webhook message.
    Slack,
    /// A Discord incoming-webhook message with an embed.
    Discord,
    /// Prometheus Alertmanager's webhook payload (version 4).
    Alertmanager,
}

impl Format {
    /// The name as stored and written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Alertmanager => "alertmanager",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "slack" => Ok(Self::Slack),
            "discord" => Ok(Self::Discord),
            "alertmanager" => Ok(Self::Alertmanager),
            other => Err(format!(
                "{other:?} is not a format: use json, slack, discord or alertmanager"
            )),
        }
    }
}

/// What happened to the incident, in a subscriber's words.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A new incident.
    Opened,
    /// It got worse (elevated to outage).
    Escalated,
    /// It got better but is not over (outage to elevated).
    Calmer,
    /// It is over.
    Resolved,
    /// It came back soon after resolving.
    Reopened,
}

impl AlertKind {
    /// Every kind: what a subscription gets unless it says otherwise.
    pub const ALL: [Self; 5] = [
        Self::Opened,
        Self::Escalated,
        Self::Calmer,
        Self::Resolved,
        Self::Reopened,
    ];

    /// The kind of a timeline entry.
    pub fn of(kind: UpdateKind) -> Self {
        match kind {
            UpdateKind::Opened => Self::Opened,
            UpdateKind::Escalated => Self::Escalated,
            UpdateKind::Deescalated => Self::Calmer,
            UpdateKind::Resolved => Self::Resolved,
            UpdateKind::Reopened => Self::Reopened,
        }
    }

    /// The name as stored and written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Escalated => "escalated",
            Self::Calmer => "calmer",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("{s:?} is not an event kind: use opened, escalated, calmer, resolved or reopened")
            })
    }
}

/// Which incident changes a subscription wants. Empty service, provider and category sets mean
/// "all"; a change must pass every set that is not empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Filter {
    /// `elevated` (every incident) or `outage` (only incidents that reach it).
    pub min_level: Level,
    /// The changes wanted.
    pub kinds: BTreeSet<AlertKind>,
    /// Only these services (slugs).
    pub services: BTreeSet<String>,
    /// Only services of these providers.
    pub providers: BTreeSet<String>,
    /// Only services in these categories.
    pub categories: BTreeSet<String>,
}

impl Filter {
    /// Whether a change of `kind` to an incident at `level` (for a resolution: the highest it
    /// reached) of a service passes.
    pub fn matches(
        &self,
        kind: AlertKind,
        level: Level,
        service: &str,
        provider: &str,
        category: &str,
    ) -> bool {
        let within = |set: &BTreeSet<String>, value: &str| set.is_empty() || set.contains(value);
        self.kinds.contains(&kind)
            && level >= self.min_level
            && within(&self.services, service)
            && within(&self.providers, provider)
            && within(&self.categories, category)
    }
}

/// A stored subscription as the API shows it (the secret is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    /// Its id.
    pub id: Uuid,
    /// A name for people.
    pub name: String,
    /// Where deliveries go.
    pub url: String,
    /// The body format.
    pub format: Format,
    /// What it receives.
    #[serde(flatten)]
    pub filter: Filter,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why it was paused after repeated permanent failures, if it was.
    pub paused_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A subscription as an admin sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// A name for people (1-100 characters).
    pub name: String,
    /// The target: an `https` URL.
    pub url: String,
    /// `json`, `slack`, `discord` or `alertmanager`.
    pub format: String,
    /// `elevated` (default) or `outage`.
    pub min_level: Option<String>,
    /// Changes wanted; default all: opened, escalated, calmer, resolved, reopened.
    pub kinds: Option<Vec<String>>,
    /// Only these services (slugs); default all.
    pub services: Option<Vec<String>>,
    /// Only these providers; default all.
    pub providers: Option<Vec<String>>,
    /// Only these categories; default all.
    pub categories: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// A checked subscription, ready to store (the target's addresses are checked separately).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    /// A name for people.
    pub name: String,
    /// The target URL.
    pub url: String,
    /// The body format.
    pub format: Format,
    /// What it receives.
    pub filter: Filter,
    /// Whether deliveries are made.
    pub enabled: bool,
}

/// A change to a subscription; absent fields stay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatchInput {
    /// A name for people.
    pub name: Option<String>,
    /// The target URL.
    pub url: Option<String>,
    /// The body format.
    pub format: Option<String>,
    /// `elevated` or `outage`.
    pub min_level: Option<String>,
    /// Changes wanted.
    pub kinds: Option<Vec<String>>,
    /// Only these services.
    pub services: Option<Vec<String>>,
    /// Only these providers.
    pub providers: Option<Vec<String>>,
    /// Only these categories.
    pub categories: Option<Vec<String>>,
    /// Enabling a paused subscription clears its pause.
    pub enabled: Option<bool>,
}

/// A checked change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriptionPatch {
    /// New name.
    pub name: Option<String>,
    /// New target.
    pub url: Option<String>,
    /// New format.
    pub format: Option<Format>,
    /// New minimum level.
    pub min_level: Option<Level>,
    /// New kinds.
    pub kinds: Option<BTreeSet<AlertKind>>,
    /// New services.
    pub services: Option<BTreeSet<String>>,
    /// New providers.
    pub providers: Option<BTreeSet<String>>,
    /// New categories.
    pub categories: Option<BTreeSet<String>>,
    /// Enabled or not.
    pub enabled: Option<bool>,
}

fn name(raw: String) -> Result<String, String> {
    let trimmed = raw.trim();
    match trimmed.chars().count() {
        1..=100 if !trimmed.chars().any(char::is_control) => Ok(trimmed.to_owned()),
        0 => Err("must not be empty".to_owned()),
        _ => Err("must be 1-100 characters without control characters".to_owned()),
    }
}

fn min_level(raw: String) -> Result<Level, String> {
    match raw.as_str() {
        "elevated" => Ok(Level::Elevated),
        "outage" => Ok(Level::Outage),
        other => Err(format!(
            "{other:?} is not a minimum level: use elevated or outage"
        )),
    }
}

fn kinds(raw: Vec<String>) -> Result<BTreeSet<AlertKind>, String> {
    let kinds = raw
        .iter()
        .map(|k| k.parse())
        .collect::<Result<BTreeSet<AlertKind>, String>>()?;
    if kinds.is_empty() {
        return Err("must name at least one kind (or leave it out for all)".to_owned());
    }
    Ok(kinds)
}

fn slugs(raw: Vec<String>) -> Result<BTreeSet<String>, String> {
    raw.iter()
        .map(|s| ServiceSlug::parse(s).map(|s| s.to_string()))
        .collect()
}

fn labels(raw: Vec<String>) -> Result<BTreeSet<String>, String> {
    raw.iter()
        .map(|s| Label::parse(s).map(|l| l.to_string()))
        .collect()
}

/// The URL's shape (the policy checks scheme and addresses).
fn url(raw: String) -> Result<String, String> {
    let parsed = url::Url::parse(raw.trim()).map_err(|e| format!("is not a URL: {e}"))?;
    if parsed.host_str().is_none() {
        return Err("must name a host".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    if raw.len() > 2000 {
        return Err("must be at most 2000 characters".to_owned());
    }
    Ok(parsed.to_string())
}

impl NewSubscription {
    /// Checks every field, naming each bad one.
    pub fn parse(input: SubscriptionInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let name = errors.required("name", Some(input.name), name);
        let url = errors.required("url", Some(input.url), url);
        let format = errors.required("format", Some(input.format), |f| f.parse());
        let level = errors.optional("min_level", input.min_level, min_level);
        let kinds = errors.optional("kinds", input.kinds, kinds);
        let services = errors.optional("services", input.services, slugs);
        let providers = errors.optional("providers", input.providers, labels);
        let categories = errors.optional("categories", input.categories, labels);
        errors.finish()?;
        let (Some(name), Some(url), Some(format)) = (name, url, format) else {
            unreachable!("required fields are present once errors are empty")
        };
        Ok(Self {
            name,
            url,
            format,
            filter: Filter {
                min_level: level.unwrap_or(Level::Elevated),
                kinds: kinds.unwrap_or_else(|| AlertKind::ALL.into_iter().collect()),
                services: services.unwrap_or_default(),
                providers: providers.unwrap_or_default(),
                categories: categories.unwrap_or_default(),
            },
            enabled: input.enabled.unwrap_or(true),
        })
    }
}

impl SubscriptionPatch {
    /// Checks every field present, naming each bad one.
    pub fn parse(input: SubscriptionPatchInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let patch = Self {
            name: errors.optional("name", input.name, name),
            url: errors.optional("url", input.url, url),
            format: errors.optional("format", input.format, |f| f.parse()),
            min_level: errors.optional("min_level", input.min_level, min_level),
            kinds: errors.optional("kinds", input.kinds, kinds),
            services: errors.optional("services", input.services, slugs),
            providers: errors.optional("providers", input.providers, labels),
            categories: errors.optional("categories", input.categories, labels),
            enabled: input.enabled,
        };
        errors.finish()?;
        Ok(patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SubscriptionInput {
        SubscriptionInput {
            name: "newsroom".to_owned(),
            url: "https://hooks.example.com/x".to_owned(),
            format: "slack".to_owned(),
            min_level: None,
            kinds: None,
            services: None,
            providers: None,
            categories: None,
            enabled: None,
        }
    }

    #[test]
    fn defaults_take_every_change_of_every_service() {
        let new = NewSubscription::parse(input()).unwrap();
        assert_eq!(new.format, Format::Slack);
        assert_eq!(new.filter.kinds.len(), 5);
        assert!(
            new.filter
                .matches(AlertKind::Calmer, Level::Elevated, "zoom", "zoom", "video")
        );
        assert!(
            !new.filter
                .matches(AlertKind::Opened, Level::Normal, "zoom", "zoom", "video")
        );
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let bad = SubscriptionInput {
            name: String::new(),
            url: "not a url".to_owned(),
            format: "teams".to_owned(),
            min_level: Some("normal".to_owned()),
            kinds: Some(vec!["exploded".to_owned()]),
            services: Some(vec!["Not A Slug".to_owned()]),
            ..input()
        };
        let fields: Vec<String> = NewSubscription::parse(bad)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["name", "url", "format", "min_level", "kinds", "services"]
        );
    }

    #[test]
    fn filters_narrow_by_level_kind_and_scope() {
        let new = NewSubscription::parse(SubscriptionInput {
            min_level: Some("outage".to_owned()),
            kinds: Some(vec!["opened".to_owned(), "escalated".to_owned()]),
            providers: Some(vec!["openai".to_owned()]),
            ..input()
        })
        .unwrap();
        let f = &new.filter;
        assert!(f.matches(
            AlertKind::Escalated,
            Level::Outage,
            "chatgpt",
            "openai",
            "ai"
        ));
        assert!(!f.matches(
            AlertKind::Opened,
            Level::Elevated,
            "chatgpt",
            "openai",
            "ai"
        ));
        assert!(!f.matches(
            AlertKind::Resolved,
            Level::Outage,
            "chatgpt",
            "openai",
            "ai"
        ));
        assert!(!f.matches(
            AlertKind::Opened,
            Level::Outage,
            "claude",
            "anthropic",
            "ai"
        ));
    }
}
