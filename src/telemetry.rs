//! Logs (tracing) and metrics (Prometheus text via the `metrics` crate).
//!
//! Logging rules: dotted field names, units in names (`duration_ms`), an error logged once where
//! it is handled, and never a client address, token or secret.

use std::borrow::Cow;
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

/// Installs the global log subscriber; `RUST_LOG` overrides the default `info` level.
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
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
    metrics::describe_counter!(
        "downwatch_dependency_errors_total",
        "Failed or timed-out calls to Redis or PostgreSQL"
    );
    metrics::describe_gauge!(
        "downwatch_monitor_leader",
        "1 while this instance holds the monitor lease (as of its last tick), else 0"
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
}
