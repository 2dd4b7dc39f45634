//! The level of a service: what the detector concludes and what incidents, statuses, events
//! and pages show.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad things look for a service.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Volume is within what is usual for the time.
    Normal,
    /// Reports are significantly above the usual: likely problems.
    Elevated,
    /// Reports are far above the usual: strong evidence of an outage.
    Outage,
}

impl Level {
    /// The lower-case name used in APIs, CSV and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Elevated => "elevated",
            Self::Outage => "outage",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normal" => Ok(Self::Normal),
            "elevated" => Ok(Self::Elevated),
            "outage" => Ok(Self::Outage),
            other => Err(format!(
                "unknown level {other:?}; use normal, elevated or outage"
            )),
        }
    }
}
