//! Aggregates behind the gauges: cheap queries (an index scan of registrations by state and
//! environment, the partial index of open deliveries, the small credentials table), run
//! periodically rather than per scrape.

use super::{CredentialRecord, Store, StoreError};

/// What the gauges show.
#[derive(Debug, Default)]
pub struct Gauges {
    /// (environment or `default`, state, count).
    pub registrations: Vec<(String, String, i64)>,
    /// Open deliveries and the epoch-ms time of the oldest.
    pub open_deliveries: i64,
    pub oldest_open: Option<i64>,
    /// Every credential of every account.
    pub credentials: Vec<CredentialRecord>,
}

impl Store {
    /// Reads the gauges' values.
    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        let registrations: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT COALESCE(environment, 'default'), state, COUNT(*) FROM registrations \
             GROUP BY COALESCE(environment, 'default'), state",
        )
        .fetch_all(&self.pool)
        .await?;
        let (open_deliveries, oldest_open): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(date_updated) FROM deliveries \
             WHERE status IN ('queued', 'retrying')",
        )
        .fetch_one(&self.pool)
        .await?;
        let credentials = self.all_credentials().await?;
        Ok(Gauges {
            registrations,
            open_deliveries,
            oldest_open,
            credentials,
        })
    }
}
