//! Counts with their share of the total, as breakdowns and incidents list them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::query::ranked;

/// A problem kind with its count and share of the total.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemShare {
    /// The problem kind.
    problem: String,
    /// Reports of it.
    count: u64,
    /// Its share of all reports, to three decimals.
    share: f64,
}

/// A country with its count and share of the total.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountryShare {
    /// ISO 3166-1 alpha-2 code.
    country: String,
    /// Reports from it.
    count: u64,
    /// Its share of all reports, to three decimals.
    share: f64,
}

/// The largest `limit` problem counts, with shares.
pub fn problems(counts: &BTreeMap<String, u64>, limit: usize) -> Vec<ProblemShare> {
    ranked(counts.iter().map(|(k, c)| (k.as_str(), *c)), limit)
        .into_iter()
        .map(|(key, count, share)| ProblemShare {
            problem: key.to_owned(),
            count,
            share,
        })
        .collect()
}

/// The largest `limit` country counts, with shares.
pub fn countries(counts: &BTreeMap<String, u64>, limit: usize) -> Vec<CountryShare> {
    ranked(counts.iter().map(|(k, c)| (k.as_str(), *c)), limit)
        .into_iter()
        .map(|(key, count, share)| CountryShare {
            country: key.to_owned(),
            count,
            share,
        })
        .collect()
}
