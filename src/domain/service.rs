//! A watched service as the catalog holds it and the API shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Service {
    /// Stable id.
    pub id: Uuid,
    /// Identifier in URLs and reports.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Provider grouping related services.
    pub provider: String,
    /// Problem kinds people may report.
    pub problems: Vec<String>,
    /// Archived services take no reports and are hidden from lists.
    pub archived: bool,
    /// When the service was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The provider's official status page (an https URL), where known.
    pub status_page: Option<String>,
    /// The provider's display name (`OpenAI` for `openai`), where known.
    pub provider_name: Option<String>,
}
