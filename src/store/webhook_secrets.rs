//! Each account's sealed webhook signing secret (the key status callbacks are signed with).

use super::{Store, StoreError};
use crate::domain::AccountSid;
use sqlx::Row as _;

impl Store {
    /// The account's sealed webhook secret, if it has one.
    pub async fn webhook_secret(
        &self,
        account: &AccountSid,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT secret_sealed FROM webhook_secrets WHERE sid = $1")
            .bind(account.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("secret_sealed")).transpose()?)
    }

    /// Stores `sealed` as the account's webhook secret unless it already has one (another
    /// replica may have created it first); the caller reads back the one in force.
    pub async fn insert_webhook_secret(
        &self,
        account: &AccountSid,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO webhook_secrets (sid, secret_sealed, date_created) VALUES ($1, $2, $3) \
             ON CONFLICT (sid) DO NOTHING",
        )
        .bind(account.as_str())
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the account's webhook secret with `sealed`; the one it replaces keeps signing
    /// beside it until `keep_until` (epoch ms), or stops at once (`None`), in one transaction.
    /// Any earlier previous secret is dropped.
    pub async fn replace_webhook_secret(
        &self,
        account: &AccountSid,
        sealed: &[u8],
        now: i64,
        keep_until: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM webhook_secrets_previous WHERE sid = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        if let Some(until) = keep_until {
            sqlx::query(
                "INSERT INTO webhook_secrets_previous (sid, secret_sealed, valid_until) \
                 SELECT sid, secret_sealed, $2 FROM webhook_secrets WHERE sid = $1",
            )
            .bind(account.as_str())
            .bind(until)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO webhook_secrets (sid, secret_sealed, date_created) VALUES ($1, $2, $3) \
             ON CONFLICT (sid) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
             date_created = excluded.date_created",
        )
        .bind(account.as_str())
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account's previous webhook secret (sealed) while it still signs at `now`.
    pub async fn previous_webhook_secret(
        &self,
        account: &AccountSid,
        now: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query(
            "SELECT secret_sealed FROM webhook_secrets_previous WHERE sid = $1 AND valid_until > $2",
        )
        .bind(account.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("secret_sealed")).transpose()?)
    }
}
