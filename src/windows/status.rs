//! Service statuses: written by the monitor's leader, read by every instance.

use super::store::Windows;
use crate::domain::ServiceSlug;
use crate::store::StoreError;

/// A status older than this is gone: its monitor stopped, and a stale level must not linger.
const STATUS_TTL_SECONDS: u64 = 15 * 60;

impl Windows {
    /// Stores JSON statuses, one per service, in one round trip (on a cluster, one per service).
    pub async fn write_statuses(
        &self,
        statuses: &[(ServiceSlug, String)],
    ) -> Result<(), StoreError> {
        if statuses.is_empty() {
            return Ok(());
        }
        let commands = statuses
            .iter()
            .map(|(slug, json)| {
                let key = self.keys().status(slug);
                let mut set = redis::cmd("SET");
                set.arg(&key).arg(json).arg("EX").arg(STATUS_TTL_SECONDS);
                (key, set)
            })
            .collect();
        self.redis()
            .pipelined::<()>("write-statuses", commands)
            .await
            .map(drop)
    }

    /// The JSON statuses of `slugs`, in order (`None` where the monitor has written none). One
    /// MGET, which redis-rs splits by slot on a cluster.
    pub async fn read_statuses(
        &self,
        slugs: &[ServiceSlug],
    ) -> Result<Vec<Option<String>>, StoreError> {
        if slugs.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = slugs.iter().map(|s| self.keys().status(s)).collect();
        self.redis()
            .run("read-statuses", |mut c| async move {
                redis::cmd("MGET").arg(keys).query_async(&mut c).await
            })
            .await
    }
}
