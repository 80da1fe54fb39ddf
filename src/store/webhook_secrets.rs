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
        self.write_webhook_secret(account, sealed, now, "DO NOTHING")
            .await
    }

    /// Replaces the account's webhook secret with `sealed`.
    pub async fn replace_webhook_secret(
        &self,
        account: &AccountSid,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let update = "DO UPDATE SET secret_sealed = excluded.secret_sealed, date_created = excluded.date_created";
        self.write_webhook_secret(account, sealed, now, update)
            .await
    }

    async fn write_webhook_secret(
        &self,
        account: &AccountSid,
        sealed: &[u8],
        now: i64,
        on_conflict: &'static str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO webhook_secrets (sid, secret_sealed, date_created) VALUES ($1, $2, $3) \
             ON CONFLICT (sid) {on_conflict}"
        );
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
