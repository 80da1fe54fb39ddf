//! The store: sqlx over SQLite (embedded default, WAL) or PostgreSQL, chosen by the URL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver; the schema differs only where
//! the dialects do (`migrations/sqlite/`, `migrations/postgres/`). Values are kept to types
//! both share: TEXT, BIGINT (times are epoch milliseconds) and BLOB/BYTEA.

mod accounts;
mod api_keys;
mod credentials;
mod invites;
mod outcomes;
mod registrations;
mod rekey;
mod stats;

pub use accounts::AccountRecord;
pub use api_keys::{ApiKeyRecord, RevokeOutcome};
pub use credentials::CredentialRecord;
pub use invites::{CreateInvite, DeliveryRecord, InviteRecord};
pub use outcomes::{BatchResult, CredentialRejection, DeliveryUpdate, RegistrationEffect};
pub use registrations::{NewRegistration, Registration, RegistrationPage, Upserted};
pub use rekey::ResealError;
pub use stats::Gauges;

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::config::{Config, StoreKind};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A store failure, as the HTTP layer needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database can't be reached right now (connection refused, pool timeout, I/O).
    #[error("store unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else the database reported.
    #[error("store error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            other => StoreError::Database(other),
        }
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    kind: StoreKind,
}

impl Store {
    /// Connects as `config` says, creating the SQLite data directory if needed.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        Self::connect(&config.database_url(), config.database_max_connections).await
    }

    /// Connects to `url` (`sqlite:` or `postgres://`) with a pool of `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            StoreKind::Sqlite
        } else {
            StoreKind::Postgres
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5));
        if kind == StoreKind::Sqlite {
            options = options.after_connect(|conn, _| Box::pin(sqlite_pragmas(conn)));
        }
        let pool = options.connect(url).await?;
        Ok(Self { pool, kind })
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

    /// Closes every connection (used at shutdown).
    pub async fn close(&self) {
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
