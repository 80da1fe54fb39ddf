//! The store: SQLite (embedded default, WAL, a file) or PostgreSQL, chosen by the URL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver; the schema differs only where
//! the dialects do (`migrations/sqlite/`, `migrations/postgres/`). Values are kept to types
//! both share: TEXT, BIGINT (times are epoch milliseconds) and BLOB/BYTEA. The hot paths
//! have one implementation per backend (`hot/`; on SQLite through rusqlite, `sqlite.rs`).
//! Failures of either driver become one [`StoreError`] (`error.rs`).

mod accounts;
mod activity;
mod api_keys;
mod bulk;
mod callbacks;
mod console_sessions;
mod credentials;
mod error;
mod hot;
mod invites;
mod outbox;
mod outcomes;
mod registrations;
mod rekey;
mod retention;
mod sqlite;
mod sqlite_writer;
#[cfg(test)]
mod sqlite_writer_tests;
mod stats;
mod twilio_calls;
mod twilio_links;
mod wal;
mod webhook_secrets;

pub use accounts::AccountRecord;
pub use activity::{AccountRegistrationCounts, DeliveryTally, OutcomeCount};
pub use api_keys::{ApiKeyRecord, RevokeOutcome};
pub use console_sessions::ConsoleSessionRecord;
pub use credentials::CredentialRecord;
pub use error::{Cause, StoreError};
pub use invites::{CreateInvite, DeliveryRecord, EndRequest, InviteRecord};
pub use outcomes::{
    BatchResult, CredentialRejection, DeliveryUpdate, InviteStatusChange, RegistrationEffect,
};
pub use registrations::{NewRegistration, Registration, RegistrationPage, Upserted};
pub use rekey::{ResealCount, ResealError};
pub use retention::Pruned;
pub use sqlite_writer::WriterTotals;
pub use stats::{Gauges, RegistrationCount};
pub use twilio_calls::TwilioCallRecord;
pub use twilio_links::TwilioLinkRecord;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::config::{Config, StoreKind};
use error::decode;

use hot::{Backend, Committers};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a query waits for a pooled connection (connecting included) before the request
/// fails with "store unavailable" (503), unless configured (`database_acquire_timeout_ms`).
/// While PostgreSQL refuses connections the pool keeps retrying until this deadline, so it is
/// how long a request hangs in an outage: short, so clients and load balancers hear about it
/// quickly, yet long enough to ride out a blip and to stay under sqlx's 2 s slow-acquire
/// warning.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// A PostgreSQL connection idle longer than this is pinged before it is handed out; one used
/// more recently is not (see [`Store::connect_with`]).
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    kind: StoreKind,
    /// SQLite's single-writer gate (see [`Store::begin_write`]).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The group committers of invites and call ends (see [`Store::create_invite`],
    /// [`Store::end_invite`]); `None` in their own handle.
    committers: Option<Committers>,
    /// The backend's hot paths (on SQLite: its writer thread and read connections).
    backend: Backend,
}

/// A write transaction that holds the SQLite writer gate until it commits or rolls back.
/// Queries take `&mut *tx` as with a plain transaction.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    /// Commits, then lets the next writer in.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Store {
    /// Connects as `config` says, creating the SQLite data directory (0700) if needed. A
    /// SQLite database file is created by us with mode 0600 before SQLite opens it (its
    /// `-wal` and `-shm` files take the database file's mode), whatever the umask; existing
    /// ones others could read are made private.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        let io = |e: std::io::Error| StoreError::Unavailable(Box::new(e));
        if config.database_url.is_none() {
            crate::secrets::create_private_dir(&config.data_dir).map_err(io)?;
        }
        if let Some(path) = sqlite::file_path(&config.database_url()) {
            crate::secrets::create_private_file(&path).map_err(io)?;
            // An older install's -wal/-shm files keep their own modes: made private too.
            for suffix in ["-wal", "-shm"] {
                let side = sqlite::side_file(&path, suffix);
                if side.exists() {
                    crate::secrets::create_private_file(&side).map_err(io)?;
                }
            }
        }
        let store = Self::connect_with(
            &config.database_url(),
            config.database_max_connections,
            Duration::from_millis(config.database_acquire_timeout_ms),
        )
        .await?;
        store.limit_waiting_invites(config.max_waiting_invites);
        Ok(store)
    }

    /// Connects to `url` (`sqlite:` or `postgres://`) with a pool of `max_connections`. A
    /// SQLite URL must name a file: an in-memory database is refused (the SQLite writer
    /// thread and the sqlx pool could not share it).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, ACQUIRE_TIMEOUT).await
    }

    /// [`connect`](Self::connect), waiting at most `acquire_timeout` for a pooled connection.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            StoreKind::Sqlite
        } else {
            StoreKind::Postgres
        };
        let sqlite_file = match kind {
            StoreKind::Sqlite => Some(sqlite::file_path(url).ok_or_else(|| {
                StoreError::Other(
                    "an in-memory SQLite database is not supported: use a file \
                     (sqlite://path/to/pushgate.db)"
                        .into(),
                )
            })?),
            StoreKind::Postgres => None,
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout);
        if kind == StoreKind::Sqlite {
            // A SQLite "connection" is a local file handle: pinging it before every use (sqlx's
            // default) only doubles the round trips to its worker thread.
            options = options
                .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn)))
                .test_before_acquire(false);
        } else {
            // sqlx pings every connection before handing it out: one extra round trip per
            // acquire, and the hot path acquires several times per invite. A connection that
            // was in use moments ago is alive as far as a ping could tell; only one that sat
            // idle is checked (a dead one is then replaced, as with sqlx's default). sqlx
            // still pings each connection as it goes back to the pool, off the request's path,
            // so one broken in use is not reused.
            options = options
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > PING_IF_IDLE_FOR {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                });
        }
        let pool = options.connect(url).await?;
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        let backend = match sqlite_file {
            Some(path) => Backend::Sqlite(sqlite::Fast::open(
                path,
                wal::WalBound::DEFAULT,
                writer.clone(),
            )?),
            None => Backend::Postgres,
        };
        let store = Self {
            pool,
            kind,
            writer,
            committers: None,
            backend,
        };
        Ok(Self {
            committers: Some(Committers::spawn(store.clone())),
            ..store
        })
    }

    /// Begins a transaction that will write. On SQLite it first waits its turn at an
    /// in-process gate: SQLite lets one connection write at a time and makes the others
    /// retry in its busy handler, which *sleeps* (1, 2, 5, 10, … ms) between tries — under
    /// load most of an invite's latency went to those sleeps (p50 69 ms at 64 in flight, see
    /// bench/README.md). Queued here, the next writer starts the moment the last commits.
    /// PostgreSQL has row locks and needs no gate.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let gate = match self.kind {
            StoreKind::Sqlite => Some(self.writer.clone().lock_owned().await),
            StoreKind::Postgres => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, _gate: gate })
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.kind {
            StoreKind::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            StoreKind::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Which backend this is.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Closes every connection (used at shutdown), once the group committers have written
    /// what was queued for them.
    pub async fn close(&self) {
        if let Some(committers) = &self.committers {
            committers.close().await;
        }
        if let Backend::Sqlite(fast) = &self.backend {
            fast.close();
        }
        self.pool.close().await;
    }
}

async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // WAL lets readers proceed while one writer commits; NORMAL sync is durable in WAL mode
    // except for the last transactions on power loss, the usual trade-off for SQLite servers.
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 5000").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Store, StoreError};

    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_refused_with_a_clear_error() {
        for url in ["sqlite::memory:", "sqlite://x.db?mode=memory"] {
            let e = Store::connect(url, 1).await.unwrap_err();
            assert!(matches!(e, StoreError::Other(_)), "{e:?}");
            assert!(e.to_string().contains("in-memory SQLite"), "{e}");
        }
    }
}
