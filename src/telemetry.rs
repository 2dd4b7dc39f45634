//! Logs (tracing) and metrics (Prometheus text via the `metrics` crate).
//!
//! Logging rules: dotted field names, units in names (`duration_ms`), an error logged once where
//! it is handled, and never a client address, token or secret.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

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
