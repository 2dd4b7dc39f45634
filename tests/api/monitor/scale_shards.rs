//! The monitor's cost at scale with its services in shards, measured, not asserted:
//! `DOWNWATCH_SCALE_SERVICES=100000 DOWNWATCH_SCALE_SHARDS=4 cargo test --release --test api
//! monitor::scale_shards -- --ignored --nocapture`. As many monitors as shards (default 4),
//! one per instance, start together over the generated catalog (see `scale`).

use super::monitor;
use super::scale::{measure, spawn_with_catalog};

#[actix_web::test]
#[ignore = "a measurement: minutes of work at 10,000 services"]
async fn scale_tick_times_with_the_services_in_shards() {
    let shards: u32 = std::env::var("DOWNWATCH_SCALE_SHARDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let app = spawn_with_catalog().await;
    let monitors: Vec<_> = (0..shards)
        .map(|_| monitor(&app).with_shards(shards))
        .collect();
    measure(&app, &monitors).await;
}
