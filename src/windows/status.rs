//! Service statuses: written by the monitor's leader, read by every instance.

use super::store::Windows;
use crate::domain::ServiceSlug;
use crate::store::StoreError;

/// A status older than this is gone: its monitor stopped, and a stale level must not linger.
const STATUS_TTL_SECONDS: u64 = 15 * 60;

impl Windows {
    /// Stores JSON statuses, one per service, in one round trip.
    pub async fn write_statuses(
        &self,
        statuses: &[(ServiceSlug, String)],
    ) -> Result<(), StoreError> {
        if statuses.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (slug, json) in statuses {
            pipe.set_ex(self.keys().status(slug), json, STATUS_TTL_SECONDS)
                .ignore();
        }
        self.redis()
            .run("write-statuses", |mut c| async move {
                pipe.query_async::<()>(&mut c).await
            })
            .await
    }

    /// The JSON statuses of `slugs`, in order (`None` where the monitor has written none).
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
