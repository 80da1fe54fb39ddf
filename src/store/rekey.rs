//! Master key rotation: every sealed secret re-encrypted in one transaction, with what it
//! re-seals locked (PostgreSQL: `FOR UPDATE` row locks; SQLite: one `BEGIN IMMEDIATE` write
//! transaction, which also holds off every other writer), so no value is changed under it.

use super::{Store, StoreError, StoreKind};
use crate::secrets::SecretsError;
use sqlx::Row as _;

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
const TABLES: [&str; 5] = [
    "api_keys",
    "credentials",
    "webhook_secrets",
    "webhook_secrets_previous",
    "twilio_links",
];

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealCount {
    /// Values re-sealed.
    pub resealed: usize,
    /// Values `reseal` left as they were (already under the target key).
    pub unchanged: usize,
}

impl Store {
    /// Re-seals every stored secret with `reseal(sid, sealed)`: `Some(new sealed)`, or `None`
    /// to leave a value as it is. All or nothing.
    pub async fn reseal_all(
        &self,
        reseal: impl Fn(&str, &[u8]) -> Result<Option<Vec<u8>>, SecretsError>,
    ) -> Result<ResealCount, ResealError> {
        // In this process too, SQLite writers queue at the store's gate rather than spin.
        let _gate = match self.kind {
            StoreKind::Sqlite => Some(self.writer.clone().lock_owned().await),
            StoreKind::Postgres => None,
        };
        let (mut tx, lock) = match self.kind {
            StoreKind::Sqlite => (self.pool.begin_with("BEGIN IMMEDIATE").await?, ""),
            StoreKind::Postgres => (self.pool.begin().await?, " ORDER BY sid FOR UPDATE"),
        };
        let mut count = ResealCount::default();
        for table in TABLES {
            let select = format!("SELECT sid, secret_sealed FROM {table}{lock}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(select))
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("sid")?, r.try_get("secret_sealed")?)))
                .collect::<Result<Vec<(String, Vec<u8>)>, sqlx::Error>>()?;
            let update = format!("UPDATE {table} SET secret_sealed = $1 WHERE sid = $2");
            for (sid, sealed) in rows {
                let fresh = reseal(&sid, &sealed).map_err(|source| ResealError::Secret {
                    sid: sid.clone(),
                    source,
                })?;
                let Some(fresh) = fresh else {
                    count.unchanged += 1;
                    continue;
                };
                sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                    .bind(fresh)
                    .bind(&sid)
                    .execute(&mut *tx)
                    .await?;
                count.resealed += 1;
            }
        }
        tx.commit().await?;
        Ok(count)
    }
}
