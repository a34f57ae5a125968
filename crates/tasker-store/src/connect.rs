//! Opening a store from a database URL: backend choice by scheme, SQLite file creation and WAL,
//! pool sizing, migrations, and the PostgreSQL notification listener.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tasker_config::{DatabaseConfig, DatabaseUrl};
use tasker_core::StoreError;
use tokio::sync::Notify;

use crate::db::lite::{LitePool, Target};
use crate::db::{Pool, db_err};
use crate::sql::{SqlStore, WORK_CHANNEL};

/// How long [`connect`] waits for a PostgreSQL server (`database.connect_timeout_seconds`'s
/// default).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pool size when `database.max_connections` is not set (documented in base/common.toml).
const SQLITE_POOL_SIZE: u32 = 8;
const POSTGRES_POOL_SIZE: u32 = 16;

/// Opens the store `[database]` describes: [`connect`] with its pool size and connect timeout.
pub async fn open(database: &DatabaseConfig) -> Result<SqlStore, StoreError> {
    connect_within(
        &database.url,
        database.max_connections,
        Duration::from_secs(database.connect_timeout_seconds.max(1)),
    )
    .await
}

/// Connects to the database named by `url` (`sqlite:` or `postgres://`), creating the SQLite
/// file and its directory when missing, and applies pending migrations. A PostgreSQL server
/// must accept a connection within 5 s.
pub async fn connect(
    url: &DatabaseUrl,
    max_connections: Option<u32>,
) -> Result<SqlStore, StoreError> {
    connect_within(url, max_connections, DEFAULT_CONNECT_TIMEOUT).await
}

async fn connect_within(
    url: &DatabaseUrl,
    max_connections: Option<u32>,
    connect_timeout: Duration,
) -> Result<SqlStore, StoreError> {
    let signal = Arc::new(Notify::new());
    if url.is_sqlite() {
        // The sqlx pool creates the file, switches it to WAL and migrates; the engine then
        // runs on its own in-process connections (`db::lite`).
        let target = Target::from_url(url.expose())?;
        let size = max_connections.unwrap_or(SQLITE_POOL_SIZE);
        let migrator = open_sqlite(url.expose(), size).await?;
        checkpoint(&migrator).await;
        migrator.close().await;
        let pool = LitePool::open(target, usize::try_from(size).unwrap_or(8))?;
        tracing::info!(database = %url.redacted(), "SQLite store ready");
        Ok(SqlStore::new(Pool::Sqlite(pool), signal))
    } else if url.is_postgres() {
        let options = PgConnectOptions::from_str(url.expose()).map_err(db_err)?;
        reach_postgres(&options, connect_timeout).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.unwrap_or(POSTGRES_POOL_SIZE))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(db_err)?;
        listener.listen(WORK_CHANNEL).await.map_err(db_err)?;
        let wake = signal.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake.notify_waiters(),
                    Err(e) => {
                        tracing::warn!(error = %e, "work notification listener failed; relying on polling");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        tracing::info!(database = %url.redacted(), "PostgreSQL store ready");
        Ok(SqlStore::new(Pool::Pg(pool), signal))
    } else {
        Err(StoreError::Backend(
            format!("unsupported database URL scheme: {}", url.redacted()).into(),
        ))
    }
}

/// Waits up to `timeout` for the server to accept one connection, retrying while it refuses
/// (it may be starting). Errors name the host and port, never the URL, which may hold a
/// password.
async fn reach_postgres(options: &PgConnectOptions, timeout: Duration) -> Result<(), StoreError> {
    let target = format!("{}:{}", options.get_host(), options.get_port());
    let mut last_refusal = None;
    let attempts = async {
        loop {
            match PgConnection::connect_with(options).await {
                Ok(connection) => return connection.close().await,
                Err(sqlx::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    last_refusal = Some(e);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
    };
    let outcome = tokio::time::timeout(timeout, attempts).await;
    let why = match outcome {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e.to_string(),
        Err(_) => match last_refusal {
            Some(e) => format!("{e} (still refused after {} s)", timeout.as_secs()),
            None => format!("no answer within {} s", timeout.as_secs()),
        },
    };
    Err(StoreError::Backend(
        format!("cannot connect to the database at {target}: {why}").into(),
    ))
}

/// Applies pending migrations inside one `BEGIN EXCLUSIVE` transaction. sqlx's migrator
/// serialises concurrent migrators with an advisory lock on PostgreSQL but takes none on
/// SQLite, so two processes starting on a new file would both create the tables and one would
/// fail. The exclusive transaction makes SQLite's own write lock the migration lock: it works
/// wherever SQLite does, needs no lock file beside the database, and a second process waits
/// for it (up to the busy timeout), then finds the migrations recorded and applies nothing.
/// Each migration runs in a savepoint inside it. (`run_direct` is sqlx's entry point for a
/// connection in hand; `run` over `&mut` makes the future not `Send` for every lifetime.)
async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN EXCLUSIVE").await.map_err(db_err)?;
    sqlx::migrate!("./migrations/sqlite")
        .run_direct(&mut *tx)
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    tx.commit().await.map_err(db_err)
}

/// Moves what the migrations (or an earlier run) left in the write-ahead log into the
/// database file and empties the log, so every process starts on a file in the same state.
/// Whether sqlx's closing connections did it was left to timing: one server read a checkpointed
/// file and another the same pages through the log, and the two differed by about 5 % in
/// requests per second on a read-only route. Best effort: another process reading the file may
/// keep the log from being emptied, which changes nothing but that state.
async fn checkpoint(pool: &sqlx::SqlitePool) {
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
    {
        tracing::debug!(error = %e, "SQLite checkpoint at start skipped");
    }
}

/// How long processes starting together on one SQLite file retry a busy database.
const SQLITE_START_PATIENCE: Duration = Duration::from_secs(30);

/// Opens the pool and migrates. Processes starting together on a new file meet SQLite's locks
/// in places its busy timeout does not cover (switching the new file to WAL, a read
/// transaction that must become a write), where SQLite answers `database is locked` at once;
/// those attempts are retried from the start for up to [`SQLITE_START_PATIENCE`].
async fn open_sqlite(url: &str, max: u32) -> Result<sqlx::SqlitePool, StoreError> {
    let deadline = tokio::time::Instant::now() + SQLITE_START_PATIENCE;
    let mut pause = Duration::from_millis(20);
    loop {
        let attempt = match sqlite_pool(url, max).await {
            Ok(pool) => match migrate_sqlite(&pool).await {
                Ok(()) => return Ok(pool),
                Err(e) => {
                    pool.close().await;
                    e
                }
            },
            Err(e) => e,
        };
        if !is_busy(&attempt) || tokio::time::Instant::now() + pause > deadline {
            return Err(attempt);
        }
        tracing::debug!("SQLite database busy at start; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED` anywhere in the error's chain.
fn is_busy(error: &StoreError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(sqlx::Error::Database(d)) = e.downcast_ref::<sqlx::Error>()
            && matches!(d.code().as_deref(), Some("5" | "6" | "261" | "517"))
        {
            return true;
        }
        if let Some(sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(d))) =
            e.downcast_ref::<sqlx::migrate::MigrateError>()
            && matches!(d.code().as_deref(), Some("5" | "6" | "261" | "517"))
        {
            return true;
        }
        source = e.source();
    }
    false
}

async fn sqlite_pool(url: &str, max: u32) -> Result<sqlx::SqlitePool, StoreError> {
    if let Some(dir) = sqlite_file(url).and_then(|p| p.parent().map(ToOwned::to_owned))
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Backend(Box::new(e)))?;
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(db_err)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(max.max(2))
        .connect_with(options)
        .await
        .map_err(db_err)
}

fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| path.into())
}

#[cfg(test)]
mod tests {
    use super::{POSTGRES_POOL_SIZE, SQLITE_POOL_SIZE, sqlite_file};

    #[test]
    fn the_base_config_documents_the_pool_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/tasker/base/common.toml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let line = format!(
            "# Pool size (default: {SQLITE_POOL_SIZE} for SQLite, {POSTGRES_POOL_SIZE} for PostgreSQL)."
        );
        assert!(text.contains(&line), "{path} should say: {line}");
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_file("sqlite://data/tasker.db").unwrap(),
            std::path::Path::new("data/tasker.db")
        );
        assert_eq!(
            sqlite_file("sqlite:/tmp/x.db?mode=rwc").unwrap(),
            std::path::Path::new("/tmp/x.db")
        );
        assert!(sqlite_file("sqlite::memory:").is_none());
    }

    /// An in-memory URL is a clear startup error, not a store whose connections each see an
    /// empty database of their own.
    #[tokio::test]
    async fn an_in_memory_sqlite_url_is_refused() {
        let err = super::connect(&tasker_config::DatabaseUrl::new("sqlite::memory:"), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("an in-memory SQLite database is not supported")
                && err.contains("sqlite://data/tasker.db"),
            "{err}"
        );
    }

    /// A new file starts checkpointed: the migrations are in the database file and the
    /// write-ahead log is empty, even when another connection holds the file open (then
    /// sqlx's closing connections are not the last and leave the log as it is).
    #[tokio::test]
    async fn a_migrated_sqlite_file_starts_with_an_empty_log() {
        use std::str::FromStr;

        use sqlx::ConnectOptions;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/fresh.db", dir.path().display());
        let mut other = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .connect()
            .await
            .unwrap();
        sqlx::query("SELECT COUNT(*) FROM sqlite_master")
            .execute(&mut other)
            .await
            .unwrap();
        let _store = super::connect(&tasker_config::DatabaseUrl::new(url), None)
            .await
            .unwrap();
        let len = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
        assert_eq!(len("fresh.db-wal"), 0, "the log was not checkpointed");
        assert!(
            len("fresh.db") > 100_000,
            "the migrations are not in the file"
        );
    }

    /// The hot statements look steps up by id, not by walking a status (migration 0010's
    /// statistics; without them SQLite chose `steps_claim_order` for all three).
    #[tokio::test]
    async fn sqlite_plans_find_steps_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/plans.db", dir.path().display());
        let store = super::connect(&tasker_config::DatabaseUrl::new(url), None)
            .await
            .unwrap();
        for sql in [
            "SELECT step_uuid, step_type FROM steps WHERE step_uuid IN (SELECT child_uuid FROM \
             step_edges WHERE parent_uuid IN (SELECT value FROM json_each($2))) AND status = $1",
            "UPDATE steps SET status = $1 WHERE status = $2 AND step_uuid IN \
             (SELECT value FROM json_each($3))",
            "UPDATE steps SET status = $1 WHERE status = $2 AND step_uuid IN ($3, $4, $5)",
        ] {
            let rows = store
                .pool()
                .all(&format!("EXPLAIN QUERY PLAN {sql}"), Vec::new())
                .await
                .unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.text("detail").unwrap()).collect();
            assert!(
                plan.iter()
                    .any(|d| d.contains("SEARCH steps USING INDEX sqlite_autoindex_steps_1")),
                "{sql}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|d| d.contains("steps_claim_order")),
                "{sql}: {plan:?}"
            );
        }
        // The claim itself still walks the queue in order.
        let rows = store
            .pool()
            .all(
                "EXPLAIN QUERY PLAN SELECT step_uuid FROM steps WHERE status = $1 \
                 ORDER BY ready_at, position LIMIT $2",
                Vec::new(),
            )
            .await
            .unwrap();
        assert!(
            rows[0]
                .text("detail")
                .unwrap()
                .contains("steps_claim_order")
        );
    }
}
