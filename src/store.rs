//! What storage (Redis, PostgreSQL) and the engines built on it say when they fail.
//!
//! Storage never speaks HTTP: it says whether a dependency could not be reached in time
//! ([`StoreError::Unavailable`]), which callers may wait out or retry, or that something is
//! wrong in a way retrying will not fix ([`StoreError::Internal`]). The HTTP adapters turn
//! these into answers in one place (`error.rs`); the monitor decides its control flow on them.

use serde::Serialize;

/// A dependency downwatch talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Dependency {
    /// Redis: minute buckets, dedup entries, statuses, events, the monitor lease.
    Redis,
    /// PostgreSQL: the catalog, bins, incidents, secrets.
    PostgreSQL,
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Redis => "Redis",
            Self::PostgreSQL => "PostgreSQL",
        })
    }
}

/// A storage operation that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The dependency did not answer in time, or the connection to it broke: retry later.
    #[error("{0} is unavailable")]
    Unavailable(Dependency),
    /// A stored value could not be read back as the domain type it should be.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was being read (`incident row`, `status`).
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A bug or an unexpected failure; retrying will not help.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl StoreError {
    /// Whether this is a dependency being away (as opposed to a bug or bad data).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The result of a storage operation.
pub type StoreResult<T> = Result<T, StoreError>;
