//! Alerts: people and systems told of an incident without watching a page.
//!
//! Admins subscribe a target URL with a format and a filter. Every incident change already
//! writes a timeline entry in the same transaction as the incident (the outbox); the
//! [`Dispatcher`] turns each new entry into one delivery per matching subscription, rendered
//! once, and sends them: signed (Standard Webhooks style), at least once, one at a time and in
//! order per subscription, retried with exponential backoff and jitter for a day, and from any
//! instance without two sending the same delivery at once (a claim with a deadline in
//! PostgreSQL). Targets are checked against a policy (https, no private addresses) when they are
//! created and again, address by address, when a delivery connects.
//!
//! This is an outbound adapter, like `api/` and `web/` inbound: it may use the read model's
//! words (`query::headline`), and nothing below it depends on it.

mod dispatch;
mod event;
mod format;
mod policy;
mod sign;

pub use dispatch::{DispatchReport, Dispatcher};
pub use event::{AlertEvent, AlertIncident, AlertLinks, AlertService};
pub use format::{
    AlertmanagerAlert, AlertmanagerPayload, DiscordEmbed, DiscordMessage, SlackBlock, SlackMessage,
    SlackText, render,
};
pub use policy::TargetPolicy;
pub use sign::{new_secret, signature};
// The subscription itself is domain data: storage keeps it without depending on this module.
pub use crate::domain::{
    AlertKind, Filter, Format, NewSubscription, Subscription, SubscriptionInput, SubscriptionPatch,
    SubscriptionPatchInput,
};
