//! The file-descriptor budget: how many connections and event streams the server takes.
//!
//! Every connection, event stream, pool connection and log file holds a file descriptor. When
//! the process has none left, `accept` fails (actix then stops accepting for half a second at a
//! time), and so does every reconnect to Redis or PostgreSQL: reports and `/healthz` stop along
//! with everything else. A red-team run did exactly that with clients churning event streams.
//!
//! So the budget is planned at start-up from the process's limit (raised to its hard limit
//! first, as servers do): the dependencies' connections and a margin are set aside, the server
//! accepts at most the rest (a connection past that waits in the listen backlog until one
//! closes; it is not refused, and the process never runs out), and event streams, which a
//! client may hold for ever, take at most half of the connections, so the other half always
//! has room for reports and health checks, and for the kept-alive connections of a proxy.
//! With an intake listener of its own (`DOWNWATCH_INTAKE_BIND`), a quarter of the connections
//! are its, so no client of the main listener can take them.

use thiserror::Error;

/// Descriptors the process holds besides connections and pools: standard streams, listeners,
/// each thread's poller and wake-up descriptors, log files, DNS lookups, bootstrap's
/// maintenance connection. An idle instance holds about 40.
const BASE: u64 = 64;
/// Redis connections: the shared multiplexed one, the event reader's, one being replaced
/// while its predecessor closes, and on a cluster one per master (several per master).
const REDIS: u64 = 32;
/// The fewest connections worth serving: below this the limit is a misconfiguration.
const MIN_CONNECTIONS: u64 = 32;

/// How the descriptors are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorBudget {
    /// The process's limit on open files (after raising it).
    pub limit: u64,
    /// Set aside for the dependencies and the process itself.
    pub reserved: u64,
    /// Client connections open at once on the main listener, over every worker.
    pub connections: usize,
    /// Event streams open at once: at most half of `connections`.
    pub streams: usize,
    /// Client connections open at once on the intake listener (0 without one).
    pub intake: usize,
}

/// The limit leaves too little for serving.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "the open-file limit (ulimit -n) is {limit}: {reserved} are needed for PostgreSQL and Redis \
     connections (DOWNWATCH_DATABASE_POOL, DOWNWATCH_DATABASE_BACKGROUND_POOL) and the process, \
     which leaves fewer than {MIN_CONNECTIONS} for clients; raise it to at least {needed}"
)]
pub struct TooFewDescriptors {
    limit: u64,
    reserved: u64,
    needed: u64,
}

impl DescriptorBudget {
    /// The budget for `limit` open files, with `pools` PostgreSQL connections, at most
    /// `wanted_streams` event streams (`DOWNWATCH_EVENTS_MAX_STREAMS`) and, when
    /// `intake_listener`, an intake listener of its own.
    pub fn plan(
        limit: u64,
        pools: usize,
        wanted_streams: usize,
        intake_listener: bool,
    ) -> Result<Self, TooFewDescriptors> {
        let reserved = BASE + REDIS + u64::try_from(pools).unwrap_or(u64::MAX);
        let connections = limit.saturating_sub(reserved);
        if connections < MIN_CONNECTIONS {
            return Err(TooFewDescriptors {
                limit,
                reserved,
                needed: reserved + MIN_CONNECTIONS,
            });
        }
        let all = usize::try_from(connections).unwrap_or(usize::MAX);
        let intake = if intake_listener { all / 4 } else { 0 };
        let connections = all - intake;
        Ok(Self {
            limit,
            reserved,
            connections,
            streams: wanted_streams.min(connections / 2),
            intake,
        })
    }

    /// Connections each of `workers` main-listener threads accepts (actix counts per worker).
    pub fn per_worker(&self, workers: usize) -> usize {
        (self.connections / workers.max(1)).max(1)
    }

    /// Connections each of `workers` intake threads accepts.
    pub fn intake_per_worker(&self, workers: usize) -> usize {
        (self.intake / workers.max(1)).max(1)
    }
}

/// Raises the soft open-file limit to the hard one and returns it (the soft limit as it was
/// when raising is refused; `None` where there is no such limit to read).
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit; keeping it");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// Descriptors this process holds now (Linux; `None` elsewhere).
pub fn open_files() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dependencies_are_set_aside_and_streams_get_at_most_half_of_the_rest() {
        let budget = DescriptorBudget::plan(20_000, 20, 1_000, false).unwrap();
        assert_eq!(budget.reserved, 64 + 32 + 20);
        assert_eq!(budget.connections, 20_000 - 116);
        assert_eq!(budget.streams, 1_000, "the configured cap fits");
        assert_eq!(budget.per_worker(2), (20_000 - 116) / 2);

        let small = DescriptorBudget::plan(500, 20, 1_000, false).unwrap();
        assert_eq!(small.connections, 384);
        assert_eq!(
            small.streams, 192,
            "half of the connections, not the 1,000 asked"
        );
        assert_eq!(small.per_worker(3), 128);
        assert_eq!(small.intake, 0);
    }

    #[test]
    fn an_intake_listener_gets_a_quarter_that_the_main_listener_cannot_take() {
        let budget = DescriptorBudget::plan(500, 20, 1_000, true).unwrap();
        assert_eq!(budget.intake, 96);
        assert_eq!(budget.connections, 288);
        assert_eq!(budget.streams, 144, "half of the main listener's share");
        assert_eq!(budget.intake_per_worker(2), 48);
        assert_eq!(budget.per_worker(2), 144);
    }

    #[test]
    fn a_limit_that_leaves_no_room_for_clients_names_ulimit_and_what_is_needed() {
        let error = DescriptorBudget::plan(140, 20, 1_000, false).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("ulimit -n) is 140"), "{text}");
        assert!(text.contains("at least 148"), "{text}");
        assert!(text.contains("DOWNWATCH_DATABASE_POOL"), "{text}");
        assert!(DescriptorBudget::plan(148, 20, 1_000, false).is_ok());
    }
}
