{#- scaffold
when: uses.store
-#}
//! The service's own database, for what must outlive the process and be
//! shared by its replicas: the idempotency records of the flows that take an
//! idempotency key ([`crate::idempotency`]), the outbox of the events a
//! state change announces and the ids of the events a consumer handled
//! (`crate::outbox`), and the team's own tables.
//!
//! One URL picks the database: `SQLite` by default (a file created at
//! start-up, so `cargo run` needs nothing else), `PostgreSQL` with
//! `postgres://…`, where every replica of the service shares the records.
//! sqlx's `Any` driver runs the same queries on both; the few statements
//! that differ (column types) are chosen by [`Backend`].

use std::{
    fmt,
    path::Path,
    str::FromStr as _,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sqlx::{
    AnyPool,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tokio::sync::OnceCell;
use tracing::info;

/// How long a query waits for a free connection before it fails: a request
/// that cannot reach the database fails fast rather than piling up.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections of one replica to `PostgreSQL`. `SQLite` gets one: it takes one
/// writer at a time anyway, and writers queued in the pool wait their turn,
/// where writers queued in `SQLite`'s busy handler sleep up to 100 ms a try.
pub const MAX_CONNECTIONS: u32 = 8;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A file (or `sqlite::memory:` in tests), one process.
    Sqlite,
    /// A server, shared by every replica.
    Postgres,
}

impl Backend {
    /// The column type of raw bytes.
    pub fn bytes_type(self) -> &'static str {
        match self {
            Backend::Sqlite => "BLOB",
            Backend::Postgres => "BYTEA",
        }
    }

    /// The column definition of a primary key numbered in insertion order.
    pub fn serial_key(self) -> &'static str {
        match self {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        }
    }
}

/// A database URL that cannot be used, or a database that cannot be reached.
#[derive(Debug)]
pub enum StoreError {
    /// Neither `sqlite:` nor `postgres://` / `postgresql://`.
    UnsupportedUrl(String),
    /// The folder of a `SQLite` file cannot be created.
    Folder(std::io::Error),
    /// The database refused or failed a statement.
    Database(sqlx::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::UnsupportedUrl(url) => write!(
                f,
                "`{url}` is not a database URL this service supports: \
                 use sqlite://path/to/file.db or postgres://user:password@host/database"
            ),
            StoreError::Folder(err) => write!(f, "cannot create the database's folder: {err}"),
            StoreError::Database(err) => write!(f, "database error: {err}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::UnsupportedUrl(_) => None,
            StoreError::Folder(err) => Some(err),
            StoreError::Database(err) => Some(err),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}

/// Which backend `url` names, if any.
pub fn backend_of(url: &str) -> Option<Backend> {
    if url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

/// A pool of connections to the service's database, whose tables are made
/// before the first query of this runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Set once the tables exist; shared by the clones.
    migrated: Arc<OnceCell<()>>,
    /// `url` without its password, for the logs.
    shown: Arc<str>,
}

impl Store {
    /// Connects to `url` and creates the tables that are missing: [`Store::open`],
    /// then [`Store::ready`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url)?;
        store.ready().await?;
        Ok(store)
    }

    /// A pool for `url` that connects on first use, so that building a
    /// service's state (and its `call` and `publish` commands) needs no
    /// database. A `SQLite` file's folder is created now, the file on first
    /// use.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let backend = backend_of(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_owned()))?;
        if backend == Backend::Sqlite {
            create_sqlite_folder(url).map_err(StoreError::Folder)?;
        }
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&with_create_mode(url))?;
        // An in-memory `SQLite` database lives as long as its connection: one
        // connection, never recycled, keeps it for the store's lifetime.
        let memory = backend == Backend::Sqlite && url.contains(":memory:");
        let connections = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => MAX_CONNECTIONS,
        };
        let pool = AnyPoolOptions::new()
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite && !memory {
                        // Write-ahead logging: readers never wait for the
                        // writer, and a commit is an append; NORMAL syncs
                        // at checkpoints, which a crash of the process (not
                        // of the machine) never loses.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .max_connections(connections)
            .min_connections(u32::from(memory))
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Store {
            pool,
            backend,
            migrated: Arc::new(OnceCell::new()),
            shown: redacted(url).into(),
        })
    }

    /// Connects, if not yet done, and creates the tables this runtime keeps
    /// when missing: once per store, whichever use comes first. A service
    /// calls it at start-up, so that a database it cannot reach fails the
    /// start rather than the first request.
    pub async fn ready(&self) -> Result<(), sqlx::Error> {
        self.migrated
            .get_or_try_init(|| async {
                self.migrate().await?;
                info!(database = %self.shown, "database ready");
                Ok::<(), sqlx::Error>(())
            })
            .await?;
        Ok(())
    }

    /// The connection pool, for the team's own queries (after [`Store::ready`],
    /// which the service's start-up awaits).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database answers, the readiness check: `SELECT 1` on an
    /// idle connection. When every connection is busy, the database is
    /// answering them: waiting for one would fail readiness when the
    /// service is busiest.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        if self.pool.size() > 0 && self.pool.num_idle() == 0 {
            return Ok(());
        }
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Creates the tables this runtime keeps, when missing. Each statement
    /// is idempotent, so a replica starting after another finds them made.
    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let bytes = self.backend.bytes_type();
        let serial = self.backend.serial_key();
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS idempotency_keys (\
                 scope TEXT NOT NULL, \
                 idempotency_key TEXT NOT NULL, \
                 fingerprint TEXT NOT NULL, \
                 claim_token TEXT NOT NULL, \
                 claimed_at BIGINT NOT NULL, \
                 status INTEGER, \
                 headers TEXT, \
                 body {bytes}, \
                 trailers TEXT, \
                 PRIMARY KEY (scope, idempotency_key))"
            ),
            // The outbox: events committed with a state change, waiting for
            // the relay; `id` is their order.
            format!(
                "CREATE TABLE IF NOT EXISTS outbox (\
                 id {serial}, \
                 event_id TEXT NOT NULL, \
                 flow TEXT NOT NULL, \
                 topic TEXT NOT NULL, \
                 record_key TEXT NOT NULL, \
                 payload {bytes} NOT NULL, \
                 content_type TEXT NOT NULL, \
                 created_at BIGINT NOT NULL, \
                 traceparent TEXT)"
            ),
            // Which replica relays the outbox, until when.
            "CREATE TABLE IF NOT EXISTS outbox_relay (\
             name TEXT PRIMARY KEY, \
             holder TEXT NOT NULL, \
             expires_at BIGINT NOT NULL)"
                .to_owned(),
            "INSERT INTO outbox_relay (name, holder, expires_at) VALUES ('relay', '', 0) \
             ON CONFLICT (name) DO NOTHING"
                .to_owned(),
            // The events each consumer group handled, by event id.
            "CREATE TABLE IF NOT EXISTS handled_events (\
             consumer TEXT NOT NULL, \
             event_id TEXT NOT NULL, \
             handled_at BIGINT NOT NULL, \
             PRIMARY KEY (consumer, event_id))"
                .to_owned(),
        ];
        // A transaction of their own: on `PostgreSQL` `CREATE INDEX` locks
        // its table against writes, even when the index exists, until its
        // transaction ends.
        let indexes = [
            "CREATE INDEX IF NOT EXISTS idempotency_keys_claimed_at \
             ON idempotency_keys (claimed_at)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS handled_events_handled_at \
             ON handled_events (handled_at)"
                .to_owned(),
        ];
        self.run_locked(&statements).await?;
        // Added after the table's first version: an outbox made by an
        // earlier workspace gets it.
        self.add_missing_column("outbox", "traceparent", "TEXT")
            .await?;
        self.run_locked(&indexes).await
    }

    /// Adds `column` (of type `ty`) to `table` unless it has it.
    async fn add_missing_column(
        &self,
        table: &str,
        column: &str,
        ty: &str,
    ) -> Result<(), sqlx::Error> {
        // Looked up first: on `PostgreSQL` even `ADD COLUMN IF NOT EXISTS`
        // locks the table against every read and write, which each replica
        // starting would otherwise do.
        let present = match self.backend {
            Backend::Postgres => format!(
                "SELECT COUNT(*) FROM information_schema.columns \
                 WHERE table_schema = current_schema() \
                 AND table_name = '{table}' AND column_name = '{column}'"
            ),
            Backend::Sqlite => {
                format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'")
            }
        };
        let present: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(present))
            .fetch_one(&self.pool)
            .await?;
        if present > 0 {
            return Ok(());
        }
        let statement = match self.backend {
            Backend::Postgres => {
                format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ty}")
            }
            Backend::Sqlite => format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"),
        };
        match self.run_locked(&[statement]).await {
            // Another process of the same `SQLite` file added it meanwhile.
            Err(sqlx::Error::Database(err)) if err.message().contains("duplicate column") => Ok(()),
            done => done,
        }
    }

    /// Runs `statements` in one transaction, holding a lock that keeps
    /// replicas starting together from racing on `PostgreSQL`'s catalog (two
    /// `CREATE … IF NOT EXISTS` at once can both try to create); `PostgreSQL`
    /// runs DDL in transactions.
    async fn run_locked(&self, statements: &[String]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7202612)")
                .execute(&mut *tx)
                .await?;
        }
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Closes every connection, waiting for the queries in progress.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A `SQLite` URL opened read-write-create unless it says otherwise.
fn with_create_mode(url: &str) -> String {
    if backend_of(url) != Some(Backend::Sqlite) || url.contains("mode=") || url.contains(":memory:")
    {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Creates the folder of the `SQLite` file `url` names, if it has one.
fn create_sqlite_folder(url: &str) -> std::io::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Ok(());
    }
    match Path::new(path).parent() {
        Some(folder) if !folder.as_os_str().is_empty() => std::fs::create_dir_all(folder),
        _ => Ok(()),
    }
}

/// Now, in milliseconds since the Unix epoch: the time the tables keep
/// (claims, leases, records), comparable across replicas whose clocks agree.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `duration` in milliseconds, as the tables keep it.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `url` without its password, for the logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_backend_of_a_url() {
        assert_eq!(backend_of("sqlite://data/orders.db"), Some(Backend::Sqlite));
        assert_eq!(backend_of("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://u@h/d"), Some(Backend::Postgres));
        assert_eq!(backend_of("postgresql://u@h/d"), Some(Backend::Postgres));
        assert_eq!(backend_of("mysql://u@h/d"), None);
    }

    #[test]
    fn opens_a_sqlite_file_read_write_create_unless_told_otherwise() {
        assert_eq!(with_create_mode("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            with_create_mode("sqlite://a.db?x=1"),
            "sqlite://a.db?x=1&mode=rwc"
        );
        assert_eq!(
            with_create_mode("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
        assert_eq!(with_create_mode("postgres://h/d"), "postgres://h/d");
    }

    #[test]
    fn hides_the_password_of_a_url() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/orders"),
            "postgres://app:***@db:5432/orders"
        );
        assert_eq!(
            redacted("sqlite://data/orders.db"),
            "sqlite://data/orders.db"
        );
    }

    #[tokio::test]
    async fn creates_the_sqlite_file_and_its_folder() {
        let folder = std::env::temp_dir().join(format!("runtime-store-{}", std::process::id()));
        let file = folder.join("nested").join("service.db");
        let url = format!("sqlite://{}", file.display());
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert!(file.exists());
        // A second start finds the tables made.
        store.close().await;
        Store::connect(&url).await.unwrap().close().await;
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[tokio::test]
    async fn refuses_an_unsupported_url_and_says_what_works() {
        let err = Store::connect("mysql://u@h/d").await.unwrap_err();
        assert!(err.to_string().contains("sqlite://"), "{err}");
    }
}
