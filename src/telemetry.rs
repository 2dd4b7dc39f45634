//! Logs (tracing) and metrics (Prometheus text via the `metrics` crate).
//!
//! Logging rules: dotted field names, units in names (`duration_ms`), an error logged once where
//! it is handled, and never a client address, token or secret.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::OnceLock;

use actix_web::http::Method;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The longest client-supplied string a log line carries, in characters.
pub const LOG_TEXT_LIMIT: usize = 200;

/// The metric label of an HTTP method: one of the standard methods, or `other`, so a client
/// inventing methods cannot add label values (each would be a new series held forever).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `text` cut to at most `limit` characters (with `…` marking the cut), for logging strings a
/// client wrote: a line stays small whatever was sent.
pub fn clip(text: &str, limit: usize) -> Cow<'_, str> {
    match text.char_indices().nth(limit) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// Installs the global log subscriber; `RUST_LOG` overrides `default_filter`.
///
/// A `RUST_LOG` that is not a filter, or names something that is neither a level nor a target
/// (`RUST_LOG=verbose` would keep only logs of a target called "verbose": silence), falls back
/// to the default with a warning. Colours only when standard output is a terminal, so files and
/// pipes get plain text.
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    let raw = std::env::var("RUST_LOG").ok();
    let (filter, complaint) = log_filter(raw.as_deref(), default_filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Some(complaint) = complaint {
        tracing::warn!("{complaint}");
    }
}

/// The filter `raw` (`RUST_LOG`) asks for, or `default` and why `raw` was not used.
pub fn log_filter(raw: Option<&str>, default: &str) -> (EnvFilter, Option<String>) {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return (EnvFilter::new(default), None);
    };
    let fallback = |why: String| {
        let complaint = format!(
            "RUST_LOG={raw:?} {why}; using the default {default:?} (use a level such as info or \
             debug, or target=level pairs such as downwatch=debug,actix_web=warn)"
        );
        (EnvFilter::new(default), Some(complaint))
    };
    if let Some(unknown) = raw
        .split(',')
        .map(str::trim)
        .find(|d| !d.is_empty() && !known_directive(d))
    {
        return fallback(format!(
            "names {unknown:?}, which is neither a level nor a target"
        ));
    }
    match EnvFilter::try_new(raw) {
        Ok(filter) => (filter, None),
        Err(e) => fallback(format!("is not a log filter ({e})")),
    }
}

/// A directive that sets a level, or names a target that exists: `target=level`, a span filter,
/// a module path, or one of the crates whose logs are worth reading on their own.
fn known_directive(directive: &str) -> bool {
    const LEVELS: [&str; 7] = ["trace", "debug", "info", "warn", "warning", "error", "off"];
    const CRATES: [&str; 9] = [
        "downwatch",
        "actix_web",
        "actix_server",
        "actix_http",
        "diesel",
        "diesel_async",
        "redis",
        "tokio_postgres",
        "hyper",
    ];
    directive.contains('=')
        || directive.contains('[')
        || directive.contains("::")
        || LEVELS.iter().any(|l| directive.eq_ignore_ascii_case(l))
        || CRATES.contains(&directive)
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let latency_buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("downwatch_http_request_duration_seconds".into()),
                    &latency_buckets,
                )
                .expect("buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Full("downwatch_monitor_tick_seconds".into()),
                    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0],
                )
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Only fails if another recorder is installed: the handle still renders ours.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "downwatch_reports_total",
        "Reports by outcome: counted, duplicate, rate_limited, rejected (with reason), failed"
    );
    metrics::describe_histogram!(
        "downwatch_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by route, method and status"
    );
    metrics::describe_histogram!(
        "downwatch_redis_batch_reports",
        "Reports carried by each counting call to Redis (group commit)"
    );
    metrics::describe_counter!(
        "downwatch_dependency_errors_total",
        "Failed or timed-out calls to Redis or PostgreSQL"
    );
    metrics::describe_counter!(
        "downwatch_monitor_ticks_total",
        "Monitor ticks by outcome (ok, failed); a failed tick is caught up by the next"
    );
    metrics::describe_histogram!(
        "downwatch_monitor_tick_seconds",
        metrics::Unit::Seconds,
        "How long each monitor tick took (the tick period is DOWNWATCH_MONITOR_TICK_SECONDS)"
    );
    metrics::describe_gauge!(
        "downwatch_monitor_leader",
        "1 while this instance holds the monitor lease (as of its last tick), else 0"
    );
    metrics::describe_gauge!(
        "downwatch_open_files",
        "File descriptors the process holds (as of this scrape); see the budget in the log at start-up"
    );
    metrics::describe_gauge!(
        "downwatch_rate_limiter_keys",
        "Client keys held by the report rate limiter"
    );
    metrics::describe_counter!(
        "downwatch_rate_limiter_overflow_total",
        "Reports from clients the full rate-limiter table could not hold; they share one allowance"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_are_their_own_label_and_any_other_is_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for invented in ["get", "BREW", "X".repeat(10_000).as_str()] {
            let method = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{invented:.20}");
        }
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_character_boundary() {
        assert_eq!(clip("GET", 200), "GET");
        assert_eq!(clip(&"é".repeat(200), 200).chars().count(), 200);
        let long = "é".repeat(5_000);
        let cut = clip(&long, 200);
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn an_unknown_rust_log_falls_back_to_the_default_and_says_why() {
        for good in [
            None,
            Some(""),
            Some("debug"),
            Some("WARN"),
            Some("downwatch=debug,actix_web=warn"),
            Some("info,downwatch::monitor=trace"),
            Some("downwatch"),
        ] {
            let (_, complaint) = log_filter(good, "info");
            assert_eq!(complaint, None, "{good:?}");
        }
        for (bad, named) in [
            ("verbose", "\"verbose\""),
            ("info,loud", "\"loud\""),
            ("downwatch=loudest", "not a log filter"),
        ] {
            let (filter, complaint) = log_filter(Some(bad), "info");
            let complaint = complaint.unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(
                complaint.contains(named) && complaint.contains("using the default \"info\""),
                "{complaint}"
            );
            assert_eq!(filter.to_string(), "info");
        }
    }
}
