//! Getting a database ready: create it if missing, apply embedded migrations under a lock.
//!
//! Migrations run on a dedicated thread through diesel-async's sync wrapper, so they work the
//! same from the multi-threaded server runtime and from single-threaded test runtimes. Their
//! connection is opened first, on the caller's runtime (which drives it while it waits), by
//! [`super::connect`], like every other: `sslmode` holds for migrations too.

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory lock key held while migrating, so concurrent instances migrate one at a time.
const MIGRATION_LOCK: i64 = 0x646f_776e_7761_7463; // "downwatc"

/// Longest wait for PostgreSQL to accept a connection at startup.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A blocking PostgreSQL connection, for migrations.
pub type SyncPgConnection = AsyncConnectionWrapper<AsyncPgConnection>;

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Creates the database named in `url` if it does not exist (connecting to `postgres` to do so).
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    use diesel_async::RunQueryDsl;
    let parsed = url::Url::parse(url).context("DATABASE_URL is not a URL")?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() || name == "postgres" {
        return Ok(());
    }
    let mut maintenance = parsed.clone();
    maintenance.set_path("/postgres");
    let mut conn = open(maintenance.as_str()).await?;
    if database_exists(&mut conn, &name).await? {
        return Ok(());
    }
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    if let Err(e) = diesel::sql_query(create).execute(&mut conn).await {
        // Another instance may have created it in the meantime.
        if !database_exists(&mut conn, &name).await? {
            return Err(e).with_context(|| format!("cannot create database {name:?}"));
        }
    }
    tracing::info!(database = %name, "created database");
    Ok(())
}

/// A connection to `url` within [`CONNECT_TIMEOUT`], or why not (naming the address).
async fn open(url: &str) -> anyhow::Result<AsyncPgConnection> {
    let connector =
        super::connect::PgConnector::new(url).map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_failure(url, &e.to_string()).await),
        Err(_) => Err(connect_failure(
            url,
            &format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        )
        .await),
    }
}

/// A failed connection to `url`, naming the address and the cause: the driver says only
/// "error connecting to server" when TCP fails (see [`crate::reach`]).
async fn connect_failure(url: &str, driver_error: &str) -> anyhow::Error {
    anyhow::anyhow!(crate::reach::postgres_failure(url, driver_error, CONNECT_TIMEOUT).await)
}

/// Drops the database named in `url`, closing its connections (a demo cleaning up).
pub async fn drop_database(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).context("DATABASE_URL is not a URL")?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(
        !name.is_empty() && name != "postgres",
        "refusing to drop database {name:?}"
    );
    let mut maintenance = parsed.clone();
    maintenance.set_path("/postgres");
    with_sync_connection(maintenance.as_str(), move |conn| {
        use diesel::RunQueryDsl;
        let drop = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        );
        diesel::sql_query(drop).execute(conn)?;
        Ok(())
    })
    .await
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> diesel::QueryResult<bool> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .map(|row| row.exists)
}

/// Runs `work` on a blocking connection to `url`, on its own thread.
pub async fn with_sync_connection<T, F>(url: &str, work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut SyncPgConnection) -> anyhow::Result<T> + Send + 'static,
{
    let conn = open(url).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        // The wrapper blocks this thread on its own runtime; the connection's I/O task stays on
        // the caller's, which runs it while it awaits the answer below.
        let mut conn = SyncPgConnection::from(conn);
        let _ = tx.send(work(&mut conn));
    });
    tokio::time::timeout(CONNECT_TIMEOUT * 30, rx)
        .await
        .map_err(|_| anyhow::anyhow!("PostgreSQL (DATABASE_URL) did not finish migrating in time"))?
        .context("migration thread stopped")?
}

/// Applies pending migrations under an advisory lock; returns the versions applied.
pub async fn run_migrations(url: &str) -> anyhow::Result<Vec<String>> {
    with_sync_connection(url, |conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK)
            .execute(conn)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK)
            .execute(conn)?;
        applied
    })
    .await
}
