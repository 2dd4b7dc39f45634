//! Domain types: validated values, levels, incidents and their timelines.
//!
//! Validated value types. Each has one `parse` constructor; a value that exists is valid.
//!
//! Parse errors are plain sentences saying what is allowed; callers attach the field name.

mod count;
mod country;
mod fields;
mod incident;
mod level;
mod name;
mod reporter;
mod service;
mod slug;
mod subscription;

pub use count::{signed, whole, whole_count, whole_usize};
pub use country::CountryCode;
pub use fields::{FieldError, FieldErrors};
pub use incident::{
    Counts, EventKind, Evidence, Incident, IncidentEvent, LevelEvent, LiveEvent, PeakEvent,
    PeakKind, Update, UpdateKind,
};
pub use level::Level;
pub use name::DisplayName;
pub use reporter::{REPORTER_KEY_BYTES, ReporterKey, ReporterToken};
pub use service::Service;
pub use slug::{Label, ProblemKind, ServiceSlug};
pub use subscription::{
    AlertKind, Filter, Format, NewSubscription, Subscription, SubscriptionInput, SubscriptionPatch,
    SubscriptionPatchInput,
};

/// Problem kinds a service gets when its catalog entry names none.
pub const DEFAULT_PROBLEMS: [&str; 5] = ["website", "app", "login", "connection", "other"];
