//! Turning rates into individual reports, one scenario minute at a time.
//!
//! Each minute's count is a Poisson draw around the expected rate; each report gets a problem
//! and country from its source's mix, a reporter (new, or a recent one pressing again), and
//! an address. Floods add one address sending fresh tokens. Seeded, so a scenario replays the
//! same reports; the run tag keeps one run's reporter tokens apart from another's.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson};

use super::scenario::{Mix, Scenario};
use super::shape::{Source, components};
use crate::domain::{CountryCode, ProblemKind, whole_count};

/// One report to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedReport {
    /// When, in scenario time.
    pub at: DateTime<Utc>,
    /// Index into the scenario's services.
    pub service: usize,
    /// The problem kind.
    pub problem: ProblemKind,
    /// The country, when the reporter gives one.
    pub country: Option<CountryCode>,
    /// The reporter token the client sends.
    pub reporter: String,
    /// The address the report comes from (sent as `X-Forwarded-For`).
    pub ip: IpAddr,
    /// True for a flooding sender's report.
    pub flood: bool,
}

/// Recent reporters remembered per service, for repeats.
const RECENT: usize = 2_000;

/// Draws a scenario's reports minute by minute.
pub struct Planner<'a> {
    scenario: &'a Scenario,
    scale: f64,
    run_tag: u32,
    rng: StdRng,
    next_reporter: u64,
    recent: Vec<VecDeque<u64>>,
    flood_serial: u64,
}

impl<'a> Planner<'a> {
    /// A planner for `scenario` with organic volume multiplied by `scale`.
    pub fn new(scenario: &'a Scenario, scale: f64, run_tag: u32) -> Self {
        Self {
            scenario,
            scale,
            run_tag,
            rng: StdRng::seed_from_u64(scenario.seed),
            next_reporter: 0,
            recent: vec![VecDeque::new(); scenario.services.len()],
            flood_serial: 0,
        }
    }

    /// Organic reports expected in each scenario minute, scaled.
    fn expected_per_minute(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.scenario.minutes()).map(|m| {
            let at = self.minute_start(m) + TimeDelta::seconds(30);
            let rate: f64 = (0..self.scenario.services.len())
                .flat_map(|s| components(self.scenario, s, at))
                .map(|(_, rate)| rate)
                .sum();
            rate * self.scale
        })
    }

    /// The most organic reports expected in one minute (floods aside).
    pub fn busiest_minute(&self) -> f64 {
        self.expected_per_minute().fold(0.0, f64::max)
    }

    /// Reports the whole scenario is expected to send (for progress and sizing).
    pub fn expected_total(&self) -> u64 {
        let organic: f64 = self.expected_per_minute().sum();
        let floods: u64 = self
            .scenario
            .floods
            .iter()
            .map(|f| u64::from(f.minutes) * u64::from(f.per_minute))
            .sum();
        whole_count(organic) + floods
    }

    /// The start of scenario minute `m`.
    pub fn minute_start(&self, m: i64) -> DateTime<Utc> {
        self.scenario.start + TimeDelta::minutes(m)
    }

    /// The reports of scenario minute `m`, in time order.
    pub fn minute(&mut self, m: i64) -> Vec<PlannedReport> {
        let start = self.minute_start(m);
        let mid = start + TimeDelta::seconds(30);
        let mut reports = Vec::new();
        for service in 0..self.scenario.services.len() {
            let parts = components(self.scenario, service, mid);
            let rate: f64 = parts.iter().map(|(_, r)| r).sum::<f64>() * self.scale;
            for _ in 0..self.draw_count(rate) {
                let source = self.pick_source(&parts);
                reports.push(self.organic(service, source, start));
            }
        }
        for flood in 0..self.scenario.floods.len() {
            reports.extend(self.flood(flood, start));
        }
        reports.sort_by_key(|r| r.at);
        reports
    }

    fn draw_count(&mut self, rate: f64) -> u64 {
        if rate <= 0.0 {
            return 0;
        }
        Poisson::new(rate).map_or(0, |p| whole_count(p.sample(&mut self.rng)))
    }

    fn pick_source(&mut self, parts: &[(Source, f64)]) -> Source {
        let total: f64 = parts.iter().map(|(_, r)| r).sum();
        let mut point = self.rng.random::<f64>() * total;
        for (source, rate) in parts {
            if point < *rate {
                return *source;
            }
            point -= rate;
        }
        parts.last().map_or(Source::Baseline, |(s, _)| *s)
    }

    fn organic(&mut self, service: usize, source: Source, minute: DateTime<Utc>) -> PlannedReport {
        let traffic = &self.scenario.services[service];
        let problems = match source {
            Source::Baseline => &traffic.problems,
            Source::Outage(i) => &self.scenario.outages[i].problems,
        };
        let problem = pick(&mut self.rng, problems, problems.total())
            .expect("a problem mix has weight (checked when parsed)");
        let country = pick(&mut self.rng, &traffic.countries, 1.0);
        let reporter = self.reporter(service);
        PlannedReport {
            at: minute + self.offset(),
            service,
            problem,
            country,
            reporter: format!("sim{:08x}-{reporter:010}", self.run_tag),
            ip: reporter_ip(reporter),
            flood: false,
        }
    }

    /// A recent reporter pressing again, or somebody new.
    fn reporter(&mut self, service: usize) -> u64 {
        let recent = &mut self.recent[service];
        if !recent.is_empty() && self.rng.random::<f64>() < self.scenario.repeat_share {
            return recent[self.rng.random_range(0..recent.len())];
        }
        let id = self.next_reporter;
        self.next_reporter = (self.next_reporter + 1) % self.scenario.reporters;
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(id);
        id
    }

    fn flood(&mut self, index: usize, minute: DateTime<Utc>) -> Vec<PlannedReport> {
        let flood = &self.scenario.floods[index];
        let first = flood.from;
        let last = first + TimeDelta::minutes(i64::from(flood.minutes));
        if minute < first || minute >= last {
            return Vec::new();
        }
        let service = flood.service;
        let problem = self.scenario.services[service]
            .problems
            .weights
            .first()
            .map(|(p, _)| p.clone())
            .expect("a service has at least one problem kind");
        let per_minute = flood.per_minute;
        let ip = flood.ip;
        (0..per_minute)
            .map(|i| {
                self.flood_serial += 1;
                PlannedReport {
                    at: minute
                        + TimeDelta::milliseconds(i64::from(i) * 60_000 / i64::from(per_minute)),
                    service,
                    problem: problem.clone(),
                    country: None,
                    reporter: format!("flood{:08x}-{:010}", self.run_tag, self.flood_serial),
                    ip,
                    flood: true,
                }
            })
            .collect()
    }

    fn offset(&mut self) -> TimeDelta {
        TimeDelta::milliseconds(self.rng.random_range(0..60_000))
    }
}

fn pick<T: Clone>(rng: &mut StdRng, mix: &Mix<T>, scale: f64) -> Option<T> {
    mix.pick(rng.random::<f64>() * scale.max(mix.total()))
}

/// A private address per reporter in 10.0.0.0/8, distinct for the first 16 million, each of
/// the first 65,536 in a /24 of its own (10.0.0.1, 10.1.0.1, ..., 10.0.1.1): people who report
/// an outage come from many networks, and the per-network cap must not bind a simulation.
pub fn reporter_ip(reporter: u64) -> IpAddr {
    let n = reporter % (65_536 * 255);
    let network = u8::try_from(n % 256).expect("below 256");
    let subnet = u8::try_from(n / 256 % 256).expect("below 256");
    let host = u8::try_from(n / 65_536 + 1).expect("at most 255");
    IpAddr::V4(Ipv4Addr::new(10, network, subnet, host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::scenario::SEED_SCENARIO_NAME;

    fn seed() -> Scenario {
        Scenario::builtin(SEED_SCENARIO_NAME).unwrap()
    }

    #[test]
    fn a_scenario_replays_the_same_reports() {
        let s = seed();
        let a: Vec<_> = (100..110)
            .flat_map(|m| Planner::new(&s, 1.0, 7).minute(m))
            .collect();
        let b: Vec<_> = (100..110)
            .flat_map(|m| Planner::new(&s, 1.0, 7).minute(m))
            .collect();
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }

    #[test]
    fn the_peak_hour_carries_the_outage_and_its_problem_mix() {
        let s = seed();
        let mut planner = Planner::new(&s, 1.0, 1);
        // 03:30 to 04:30 New York: the plateau.
        let reports: Vec<_> = (120..180).flat_map(|m| planner.minute(m)).collect();
        let chatgpt = reports.iter().filter(|r| r.service == 0).count();
        assert!((7_000..9_500).contains(&chatgpt), "{chatgpt}");
        let voice = reports
            .iter()
            .filter(|r| r.problem.as_str() == "voice-mode")
            .count();
        assert!(voice > 300, "{voice}");
        let minute = planner.minute(150);
        assert!(minute.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn scaling_multiplies_the_volume() {
        let s = seed();
        let single = Planner::new(&s, 1.0, 1).expected_total();
        let tenfold = Planner::new(&s, 10.0, 1).expected_total();
        assert!((single * 10).abs_diff(tenfold) <= 10, "{single} {tenfold}");
        assert!((20_000..40_000).contains(&single), "{single}");
    }

    #[test]
    fn repeats_reuse_a_recent_reporter_of_the_same_service() {
        let mut s = seed();
        s.repeat_share = 0.3;
        let mut planner = Planner::new(&s, 1.0, 1);
        let reports: Vec<_> = (120..130).flat_map(|m| planner.minute(m)).collect();
        let distinct: std::collections::HashSet<&str> =
            reports.iter().map(|r| r.reporter.as_str()).collect();
        let share = 1.0 - distinct.len() as f64 / reports.len() as f64;
        assert!((0.2..0.4).contains(&share), "repeat share {share}");
        for r in &reports {
            assert!(crate::domain::ReporterToken::parse(&r.reporter).is_ok());
        }
    }

    #[test]
    fn reporters_get_distinct_private_addresses() {
        assert_eq!(reporter_ip(0).to_string(), "10.0.0.1");
        assert_eq!(reporter_ip(256).to_string(), "10.0.1.1");
        assert_ne!(reporter_ip(1), reporter_ip(2));
        assert_eq!(reporter_ip(1).to_string(), "10.1.0.1");
        assert_eq!(reporter_ip(65_536).to_string(), "10.0.0.2");
        let networks: std::collections::HashSet<_> = (0..65_536u64)
            .map(|r| crate::ingest::identity::network_key(reporter_ip(r)))
            .collect();
        assert_eq!(networks.len(), 65_536, "a /24 each");
    }
}
