//! Master key rotation: every sealed secret re-encrypted in one transaction.

use super::{Store, StoreError};
use crate::secrets::SecretsError;

/// Why a rotation failed; nothing was changed in either case.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("secret of {sid}: {source}")]
    Secret { sid: String, source: SecretsError },
}

impl From<sqlx::Error> for ResealError {
    fn from(e: sqlx::Error) -> Self {
        ResealError::Store(e.into())
    }
}

/// The tables holding sealed secrets, each keyed by the SID used as associated data.
const TABLES: [&str; 3] = ["api_keys", "credentials", "webhook_secrets"];

impl Store {
    /// Re-seals every stored secret with `reseal(sid, sealed) -> new sealed`, all or nothing.
    /// Returns how many secrets were re-sealed.
    pub async fn reseal_all(
        &self,
        reseal: impl Fn(&str, &[u8]) -> Result<Vec<u8>, SecretsError>,
    ) -> Result<usize, ResealError> {
        let mut tx = self.pool.begin().await?;
        let mut count = 0;
        for table in TABLES {
            let select = sqlx::AssertSqlSafe(format!("SELECT sid, secret_sealed FROM {table}"));
            let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(select).fetch_all(&mut *tx).await?;
            let update = format!("UPDATE {table} SET secret_sealed = $1 WHERE sid = $2");
            for (sid, sealed) in rows {
                let fresh = reseal(&sid, &sealed).map_err(|source| ResealError::Secret {
                    sid: sid.clone(),
                    source,
                })?;
                sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                    .bind(fresh)
                    .bind(&sid)
                    .execute(&mut *tx)
                    .await?;
                count += 1;
            }
        }
        tx.commit().await?;
        Ok(count)
    }
}
