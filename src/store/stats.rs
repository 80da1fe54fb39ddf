//! Aggregates behind the gauges: cheap queries (the registration counts kept by triggers, the
//! partial index of open deliveries, the small credentials table), run periodically rather
//! than per scrape. Nothing here scans `registrations`: with a million rows that scan stalled
//! the embedded gateway (bench/README.md).

use super::{CredentialRecord, Store, StoreError, WriterTotals, decode};
use crate::config::StoreKind;
use crate::domain::{Environment, Platform, RegistrationState};
use sqlx::Row as _;

/// Folds pending deltas into the counts. PostgreSQL: one statement, so two replicas folding
/// at once never count a delta twice (the second waits for the first's row locks, then skips
/// the rows it deleted).
const FOLD_POSTGRES: &str = "WITH d AS (DELETE FROM registration_count_deltas \
     RETURNING platform, environment, state, n) \
     INSERT INTO registration_counts (platform, environment, state, n) \
     SELECT platform, environment, state, SUM(n) FROM d GROUP BY platform, environment, state \
     ON CONFLICT (platform, environment, state) \
     DO UPDATE SET n = registration_counts.n + EXCLUDED.n";

/// What the gauges show.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Registrations by platform, environment (`None`: the credential's default) and state.
    pub registrations: Vec<RegistrationCount>,
    /// Open deliveries and the epoch-ms time of the oldest.
    pub open_deliveries: i64,
    pub oldest_open: Option<i64>,
    /// Every credential of every account.
    pub credentials: Vec<CredentialRecord>,
    /// SQLite: the size of the write-ahead log file, bytes (bounded: see `wal.rs`).
    pub sqlite_wal_bytes: Option<u64>,
    /// SQLite: what its writer thread has done since the store opened.
    pub sqlite_writer: Option<WriterTotals>,
}

/// How many registrations have one platform, environment and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationCount {
    pub platform: Platform,
    pub environment: Option<Environment>,
    pub state: RegistrationState,
    pub count: i64,
}

impl Store {
    /// How many deliveries are open (queued or waiting for a retry), and when the oldest of
    /// them was last written.
    pub async fn open_deliveries(&self) -> Result<(i64, Option<i64>), StoreError> {
        let open = sqlx::query(
            "SELECT COUNT(*) AS open_count, MIN(date_updated) AS oldest FROM deliveries \
             WHERE status IN ('queued', 'retrying')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((open.try_get("open_count")?, open.try_get("oldest")?))
    }

    /// Reads the gauges' values.
    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        self.fold_registration_counts().await?;
        let registrations = sqlx::query(
            "SELECT platform, environment, state, n FROM registration_counts WHERE n <> 0",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let platform: String = r.try_get("platform")?;
            let environment: String = r.try_get("environment")?;
            let state: String = r.try_get("state")?;
            Ok(RegistrationCount {
                platform: decode(&platform)?,
                environment: match environment.as_str() {
                    "default" => None,
                    other => Some(decode(other)?),
                },
                state: decode(&state)?,
                count: r.try_get("n")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let (open_deliveries, oldest_open) = self.open_deliveries().await?;
        let credentials = self.all_credentials().await?;
        let (sqlite_wal_bytes, sqlite_writer) = match &self.backend {
            super::hot::Backend::Sqlite(fast) => {
                (Some(fast.wal_bytes()), Some(fast.writer_totals()))
            }
            super::hot::Backend::Postgres => (None, None),
        };
        Ok(Gauges {
            registrations,
            open_deliveries,
            oldest_open,
            credentials,
            sqlite_wal_bytes,
            sqlite_writer,
        })
    }
}

impl Store {
    /// Moves the deltas the registration triggers appended into `registration_counts`.
    async fn fold_registration_counts(&self) -> Result<(), StoreError> {
        if self.kind == StoreKind::Postgres {
            sqlx::query(FOLD_POSTGRES).execute(&self.pool).await?;
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let (last,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(id) FROM registration_count_deltas")
                .fetch_one(&mut *tx)
                .await?;
        if let Some(last) = last {
            sqlx::query(
                "INSERT INTO registration_counts (platform, environment, state, n) \
                 SELECT platform, environment, state, SUM(n) FROM registration_count_deltas \
                 WHERE id <= $1 GROUP BY platform, environment, state \
                 ON CONFLICT (platform, environment, state) DO UPDATE SET n = n + excluded.n",
            )
            .bind(last)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM registration_count_deltas WHERE id <= $1")
                .bind(last)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
