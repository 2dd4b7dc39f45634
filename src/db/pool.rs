//! The connection pool with explicit timeouts.

use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};

use super::connect::PgConnector;
use crate::store::{Dependency, StoreError};

/// A pooled connection.
pub type DbConn = Object<AsyncPgConnection>;

/// The database handle: a pool and the longest any operation may wait.
#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
    timeout: Duration,
    /// The URL, kept to explain a failure (see [`Self::diagnose`]); never logged.
    url: Arc<str>,
    /// Opens every connection, the pool's and the diagnosis's, with `sslmode`'s TLS.
    connector: Arc<PgConnector>,
}

impl Db {
    /// A pool of up to `max_size` connections to `url`; nothing connects until first use, but
    /// an unknown `sslmode` or an unreadable `sslrootcert` fails here.
    pub fn new(url: &str, timeout: Duration, max_size: usize) -> anyhow::Result<Self> {
        let connector =
            Arc::new(PgConnector::new(url).map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?);
        let mut config = ManagerConfig::default();
        let setup = Arc::clone(&connector);
        config.custom_setup = Box::new(move |_url| {
            use futures_util::FutureExt;
            let connector = Arc::clone(&setup);
            async move { connector.connect().await }.boxed()
        });
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()?;
        Ok(Self {
            pool,
            timeout,
            url: url.into(),
            connector,
        })
    }

    /// A connection from the pool, or 503 (PostgreSQL) when none comes in time.
    ///
    /// The pool bounds each of its steps (waiting for a slot, checking an idle connection,
    /// opening a new one), but one `get` may take several: with PostgreSQL hung, it checks
    /// every idle connection in turn, a deadline each. The whole is bounded here.
    pub async fn conn(&self) -> Result<DbConn, StoreError> {
        match tokio::time::timeout(self.timeout, self.pool.get()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no PostgreSQL connection");
                Err(unavailable())
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                    "no PostgreSQL connection in time"
                );
                Err(unavailable())
            }
        }
    }

    /// Runs a query future with the deadline; a timeout or a broken connection is a 503.
    pub async fn timed<T>(
        &self,
        query: impl Future<Output = diesel::QueryResult<T>>,
    ) -> Result<T, StoreError> {
        self.deadline(query).await?.map_err(query_error)
    }

    /// Runs a query future with the deadline, leaving its own errors to the caller.
    pub async fn deadline<T>(
        &self,
        query: impl Future<Output = diesel::QueryResult<T>>,
    ) -> Result<diesel::QueryResult<T>, StoreError> {
        tokio::time::timeout(self.timeout, query)
            .await
            .map_err(|_| unavailable())
    }

    /// Round trip to PostgreSQL; for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use diesel_async::RunQueryDsl;
        let mut conn = self.conn().await?;
        self.timed(diesel::sql_query("SELECT 1").execute(&mut conn))
            .await
            .map(drop)
    }

    /// The TLS version a pooled connection speaks, `None` over plain TCP, as PostgreSQL itself
    /// sees it (`pg_stat_ssl`): the proof that `sslmode` took effect.
    pub async fn tls_version(&self) -> Result<Option<String>, StoreError> {
        use diesel_async::RunQueryDsl;
        #[derive(QueryableByName)]
        struct Tls {
            #[diesel(sql_type = Nullable<Text>)]
            version: Option<String>,
        }
        let mut conn = self.conn().await?;
        let query = diesel::sql_query(
            "SELECT CASE WHEN ssl THEN version END AS version \
             FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        );
        self.timed(query.get_result::<Tls>(&mut conn))
            .await
            .map(|row| row.version)
    }
}

impl Db {
    /// Why PostgreSQL cannot be used, naming its address and the cause (refused, timed out,
    /// unknown host, authentication, unknown database, TLS), or `None` when a fresh connection
    /// works. The pool's own errors say only "error connecting to server".
    pub async fn diagnose(&self) -> Option<String> {
        let address = crate::reach::postgres_address(&self.url);
        if let Some(address) = &address
            && let Some(cause) = crate::reach::diagnose(address, self.timeout).await
        {
            return Some(format!("PostgreSQL at {address} (DATABASE_URL): {cause}"));
        }
        let at = address.map(|a| format!(" at {a}")).unwrap_or_default();
        match tokio::time::timeout(self.timeout, self.connector.connect()).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("PostgreSQL{at} (DATABASE_URL): {e}")),
            Err(_) => Some(format!(
                "PostgreSQL{at} (DATABASE_URL): accepted the connection but did not answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}

fn unavailable() -> StoreError {
    metrics::counter!("downwatch_dependency_errors_total", "dependency" => "postgresql")
        .increment(1);
    StoreError::Unavailable(Dependency::PostgreSQL)
}

/// Maps a query error: a lost connection is PostgreSQL being unavailable, anything else a bug.
pub fn query_error(e: diesel::result::Error) -> StoreError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => unavailable(),
        other => StoreError::Internal(other.into()),
    }
}
