//! Scenario files: who reports what, when, and how hard, as TOML.
//!
//! A scenario is data rather than code so that anyone can replay an outage shape they saw
//! without touching Rust. Parsing checks every field and names the ones at fault, like the
//! catalog import does; the simulator then trusts the result.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::{CountryCode, ProblemKind, ServiceSlug};
use crate::error::FieldError;

/// The built-in scenario: the ChatGPT outage of 10 June 2025.
pub const SEED_SCENARIO: &str = include_str!("../../scenarios/chatgpt-2025-06-10.toml");
/// The name the built-in scenario answers to on the command line.
pub const SEED_SCENARIO_NAME: &str = "chatgpt-2025-06-10";

/// A checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name, for output.
    pub name: String,
    /// Zone of the daily shape (and of times printed by the demo).
    pub zone: Tz,
    /// First simulated instant.
    pub start: DateTime<Utc>,
    /// End of the simulated range (exclusive).
    pub end: DateTime<Utc>,
    /// Seed of every random draw: one scenario file always plays the same reports.
    pub seed: u64,
    /// Distinct people who may report.
    pub reporters: u64,
    /// Share of reports that repeat a recent reporter of the same service.
    pub repeat_share: f64,
    /// The services and their normal volume.
    pub services: Vec<ServiceTraffic>,
    /// Outages: extra reports on top of the normal volume.
    pub outages: Vec<Outage>,
    /// Senders hammering from one address.
    pub floods: Vec<Flood>,
}

/// One service's normal volume and mixes.
#[derive(Debug, Clone)]
pub struct ServiceTraffic {
    /// Catalog slug.
    pub slug: ServiceSlug,
    /// Mean reports per minute over a week.
    pub baseline_per_minute: f64,
    /// Factor per hour of the day in the scenario's zone, averaging 1.
    pub daily: [f64; 24],
    /// Factor per weekday, Monday first, averaging 1.
    pub weekly: [f64; 7],
    /// Problem kinds and their weights.
    pub problems: Mix<ProblemKind>,
    /// Countries and their weights; the rest of the weight (to 1) sends no country.
    pub countries: Mix<CountryCode>,
}

/// A weighted choice; weights are kept as given and drawn in proportion.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix<T> {
    /// The choices and their weights.
    pub weights: Vec<(T, f64)>,
}

/// An outage's extra reports: ramp up, hold, decay.
#[derive(Debug, Clone)]
pub struct Outage {
    /// Index into [`Scenario::services`].
    pub service: usize,
    /// When reports start to climb.
    pub onset: DateTime<Utc>,
    /// Minutes from onset to the peak rate.
    pub ramp_minutes: f64,
    /// Extra reports per minute at the peak.
    pub peak_per_minute: f64,
    /// Minutes at the peak rate.
    pub plateau_minutes: f64,
    /// Minutes of decay after the plateau.
    pub decay_minutes: f64,
    /// Problem mix of the outage's reports (the service's own mix if not given).
    pub problems: Mix<ProblemKind>,
}

/// One address sending as fast as it likes, each report with a fresh reporter token.
#[derive(Debug, Clone)]
pub struct Flood {
    /// Index into [`Scenario::services`].
    pub service: usize,
    /// The sender's address.
    pub ip: IpAddr,
    /// When it starts.
    pub from: DateTime<Utc>,
    /// For how many minutes.
    pub minutes: u32,
    /// Reports it sends per minute.
    pub per_minute: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    zone: String,
    start: String,
    end: String,
    #[serde(default)]
    seed: u64,
    reporters: u64,
    #[serde(default)]
    repeat_share: f64,
    #[serde(default, rename = "service")]
    services: Vec<RawService>,
    #[serde(default, rename = "outage")]
    outages: Vec<RawOutage>,
    #[serde(default, rename = "flood")]
    floods: Vec<RawFlood>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    slug: String,
    baseline_per_minute: f64,
    daily: Option<Vec<f64>>,
    weekly: Option<Vec<f64>>,
    problems: BTreeMap<String, f64>,
    #[serde(default)]
    countries: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutage {
    service: String,
    onset: String,
    ramp_minutes: f64,
    peak_per_minute: f64,
    #[serde(default)]
    plateau_minutes: f64,
    decay_minutes: f64,
    problems: Option<BTreeMap<String, f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlood {
    service: String,
    ip: String,
    from: String,
    minutes: u32,
    per_minute: u32,
}

/// Most reports per minute any one rate may ask for; keeps a typo from planning billions.
const MAX_RATE: f64 = 10_000_000.0;
/// Longest scenario.
const MAX_DAYS: i64 = 31;

impl Scenario {
    /// The built-in scenario by name, or a scenario file's text.
    pub fn builtin(name: &str) -> Option<Self> {
        (name == SEED_SCENARIO_NAME)
            .then(|| Self::parse(SEED_SCENARIO).expect("the built-in scenario is valid"))
    }

    /// Parses and checks a scenario; every problem found is reported, each naming its field.
    pub fn parse(text: &str) -> Result<Self, Vec<FieldError>> {
        let raw: RawScenario = toml::from_str(text)
            .map_err(|e| vec![FieldError::new("scenario", e.message().to_owned())])?;
        let mut check = Checker::default();
        let zone = check.take(
            "zone",
            raw.zone.parse::<Tz>().map_err(|_| {
                format!(
                    "{:?} is not an IANA time zone (e.g. America/New_York)",
                    raw.zone
                )
            }),
        );
        let start = check.time("start", &raw.start);
        let end = check.time("end", &raw.end);
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                check.fail("end", "must be later than start");
            } else if end - start > chrono::TimeDelta::days(MAX_DAYS) {
                check.fail(
                    "end",
                    format!("a scenario may span at most {MAX_DAYS} days"),
                );
            }
        }
        if raw.reporters == 0 {
            check.fail("reporters", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&raw.repeat_share) {
            check.fail("repeat_share", "must be between 0 and 1");
        }
        if raw.services.is_empty() {
            check.fail("service", "at least one [[service]] is needed");
        }
        let services: Vec<ServiceTraffic> = raw
            .services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| check.service(i, s))
            .collect();
        let index = |slug: &str| services.iter().position(|s| s.slug.as_str() == slug);
        let mut outages = Vec::new();
        for (i, o) in raw.outages.iter().enumerate() {
            let field = |name: &str| format!("outage[{i}].{name}");
            let service = check.take(
                &field("service"),
                index(&o.service).ok_or_else(|| {
                    format!("{:?} is not one of the scenario's services", o.service)
                }),
            );
            let onset = check.time(&field("onset"), &o.onset);
            for (name, value) in [
                ("ramp_minutes", o.ramp_minutes),
                ("peak_per_minute", o.peak_per_minute),
                ("plateau_minutes", o.plateau_minutes),
                ("decay_minutes", o.decay_minutes),
            ] {
                check.rate(&field(name), value);
            }
            let problems = match &o.problems {
                Some(weights) => check.mix(&field("problems"), weights, ProblemKind::parse),
                None => service.map(|s| services[s].problems.clone()),
            };
            if problems.as_ref().is_some_and(|p| p.total() <= 0.0) {
                check.fail(
                    &field("problems"),
                    "needs at least one problem kind with a weight above 0",
                );
            }
            if let (Some(service), Some(onset), Some(problems)) = (service, onset, problems) {
                outages.push(Outage {
                    service,
                    onset,
                    ramp_minutes: o.ramp_minutes,
                    peak_per_minute: o.peak_per_minute,
                    plateau_minutes: o.plateau_minutes,
                    decay_minutes: o.decay_minutes,
                    problems,
                });
            }
        }
        let mut floods = Vec::new();
        for (i, f) in raw.floods.iter().enumerate() {
            let field = |name: &str| format!("flood[{i}].{name}");
            let service = check.take(
                &field("service"),
                index(&f.service).ok_or_else(|| {
                    format!("{:?} is not one of the scenario's services", f.service)
                }),
            );
            let ip = check.take(
                &field("ip"),
                f.ip.parse::<IpAddr>()
                    .map_err(|_| format!("{:?} is not an IP address", f.ip)),
            );
            let from = check.time(&field("from"), &f.from);
            if f.per_minute == 0 || f64::from(f.per_minute) > MAX_RATE {
                check.fail(&field("per_minute"), "must be from 1 to 10,000,000");
            }
            if let (Some(service), Some(ip), Some(from)) = (service, ip, from) {
                floods.push(Flood {
                    service,
                    ip,
                    from,
                    minutes: f.minutes,
                    per_minute: f.per_minute,
                });
            }
        }
        check.finish()?;
        Ok(Self {
            name: raw.name,
            zone: zone.expect("checked"),
            start: start.expect("checked"),
            end: end.expect("checked"),
            seed: raw.seed,
            reporters: raw.reporters,
            repeat_share: raw.repeat_share,
            services,
            outages,
            floods,
        })
    }

    /// Whole minutes the scenario spans.
    pub fn minutes(&self) -> i64 {
        (self.end - self.start).num_minutes()
    }
}

impl<T: Clone> Mix<T> {
    /// Total weight.
    pub fn total(&self) -> f64 {
        self.weights.iter().map(|(_, w)| w).sum()
    }

    /// The choice at `point` in `[0, scale)`, where `scale` is at least [`Mix::total`]; `None`
    /// when `point` falls past the listed weights (the "none given" remainder).
    pub fn pick(&self, mut point: f64) -> Option<T> {
        for (item, weight) in &self.weights {
            if point < *weight {
                return Some(item.clone());
            }
            point -= weight;
        }
        None
    }
}

/// Collects field errors while building a scenario.
#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: &str, detail: impl Into<String>) {
        self.errors.push(FieldError::new(field, detail.into()));
    }

    fn take<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|detail| self.fail(field, detail)).ok()
    }

    fn time(&mut self, field: &str, raw: &str) -> Option<DateTime<Utc>> {
        self.take(
            field,
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    format!("{raw:?} is not an RFC 3339 time like 2025-06-10T02:36:00-04:00")
                }),
        )
    }

    fn rate(&mut self, field: &str, value: f64) {
        if !(value.is_finite() && (0.0..=MAX_RATE).contains(&value)) {
            self.fail(field, "must be a number from 0 to 10,000,000");
        }
    }

    fn factors<const N: usize>(&mut self, field: &str, raw: Option<&Vec<f64>>) -> [f64; N] {
        let Some(raw) = raw else {
            return [1.0; N];
        };
        let usable = raw.len() == N && raw.iter().all(|f| f.is_finite() && *f >= 0.0);
        let mean = raw.iter().sum::<f64>() / N as f64;
        if !usable || mean <= 0.0 {
            self.fail(
                field,
                format!("must be {N} non-negative factors, not all zero"),
            );
            return [1.0; N];
        }
        std::array::from_fn(|i| raw[i] / mean)
    }

    fn mix<T>(
        &mut self,
        field: &str,
        weights: &BTreeMap<String, f64>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Mix<T>> {
        let mut parsed = Vec::new();
        for (key, weight) in weights {
            if !(weight.is_finite() && *weight >= 0.0) {
                self.fail(
                    &format!("{field}.{key}"),
                    "a weight must be a number of 0 or more",
                );
                continue;
            }
            match parse(key) {
                Ok(item) => parsed.push((item, *weight)),
                Err(detail) => self.fail(&format!("{field}.{key}"), detail),
            }
        }
        Some(Mix { weights: parsed })
    }

    fn service(&mut self, i: usize, raw: &RawService) -> Option<ServiceTraffic> {
        let field = |name: &str| format!("service[{i}].{name}");
        let slug = self.take(&field("slug"), ServiceSlug::parse(&raw.slug));
        self.rate(&field("baseline_per_minute"), raw.baseline_per_minute);
        let daily = self.factors::<24>(&field("daily"), raw.daily.as_ref());
        let weekly = self.factors::<7>(&field("weekly"), raw.weekly.as_ref());
        let problems = self.mix(&field("problems"), &raw.problems, ProblemKind::parse)?;
        if problems.total() <= 0.0 {
            self.fail(
                &field("problems"),
                "needs at least one problem kind with a weight above 0",
            );
        }
        let countries = self.mix(&field("countries"), &raw.countries, CountryCode::parse)?;
        if countries.total() > 1.0 + 1e-9 {
            self.fail(
                &field("countries"),
                "weights are shares of reports and must add up to at most 1",
            );
        }
        Some(ServiceTraffic {
            slug: slug?,
            baseline_per_minute: raw.baseline_per_minute,
            daily,
            weekly,
            problems,
            countries,
        })
    }

    fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_scenario_parses_with_chatgpt_the_api_and_sora() {
        let s = Scenario::builtin(SEED_SCENARIO_NAME).unwrap();
        let slugs: Vec<&str> = s.services.iter().map(|s| s.slug.as_str()).collect();
        assert_eq!(slugs, ["chatgpt", "openai-api", "sora"]);
        assert_eq!(s.zone, chrono_tz::America::New_York);
        assert_eq!(s.outages[0].onset.to_rfc3339(), "2025-06-10T06:36:00+00:00");
        assert_eq!(s.minutes(), 600);
        let daily_mean = s.services[0].daily.iter().sum::<f64>() / 24.0;
        assert!((daily_mean - 1.0).abs() < 1e-9);
    }

    #[test]
    fn every_bad_field_is_named() {
        let text = r#"
            name = "bad"
            zone = "Mars/Olympus"
            start = "yesterday"
            end = "2025-06-10T00:00:00Z"
            reporters = 0
            repeat_share = 1.5
            [[service]]
            slug = "Not A Slug"
            baseline_per_minute = -1
            daily = [1, 2]
            problems = { "bad kind!" = 1 }
            countries = { US = 0.8, GB = 0.8 }
            [[outage]]
            service = "nowhere"
            onset = "2025-06-10T00:00:00Z"
            ramp_minutes = 1
            peak_per_minute = 1e12
            decay_minutes = 1
            [[flood]]
            service = "nowhere"
            ip = "999.1.1.1"
            from = "2025-06-10T00:00:00Z"
            minutes = 1
            per_minute = 0
        "#;
        let errors = Scenario::parse(text).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "zone",
            "start",
            "reporters",
            "repeat_share",
            "service[0].slug",
            "service[0].baseline_per_minute",
            "service[0].daily",
            "service[0].problems.bad kind!",
            "service[0].countries",
            "outage[0].service",
            "outage[0].peak_per_minute",
            "flood[0].service",
            "flood[0].ip",
            "flood[0].per_minute",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn an_outage_needs_a_problem_with_weight() {
        let mut text = SEED_SCENARIO.replace(
            "problems = { voice-mode = 1.0 }",
            "problems = { voice-mode = 0 }",
        );
        let errors = Scenario::parse(&text).unwrap_err();
        assert_eq!(errors[0].field, "outage[1].problems");
        text = SEED_SCENARIO.replace(
            "end = \"2025-06-10T11:30:00-04:00\"",
            "end = \"2025-08-10T11:30:00-04:00\"",
        );
        let errors = Scenario::parse(&text).unwrap_err();
        assert_eq!(errors[0].field, "end");
    }

    #[test]
    fn unknown_keys_and_broken_toml_are_refused() {
        let errors = Scenario::parse("name = 1").unwrap_err();
        assert_eq!(errors[0].field, "scenario");
        let errors = Scenario::parse(
            "name='x'\nzone='UTC'\nstart='2025-01-01T00:00:00Z'\nend='2025-01-01T01:00:00Z'\nreporters=1\nspeed=3",
        )
        .unwrap_err();
        assert!(errors[0].detail.contains("speed"), "{errors:?}");
    }

    #[test]
    fn a_mix_picks_in_proportion_and_leaves_the_remainder_empty() {
        let mix = Mix {
            weights: vec![("a", 0.25), ("b", 0.5)],
        };
        assert_eq!(mix.pick(0.1), Some("a"));
        assert_eq!(mix.pick(0.3), Some("b"));
        assert_eq!(mix.pick(0.9), None);
    }
}
