//! Accounts (`AC…`): the owners of API keys, credentials and registrations.

use super::{Store, StoreError};
use crate::domain::AccountSid;

/// An account as stored.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub sid: AccountSid,
    pub friendly_name: String,
    pub date_created: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    sid: String,
    friendly_name: String,
    date_created: i64,
}

impl From<Row> for AccountRecord {
    fn from(r: Row) -> Self {
        Self {
            sid: AccountSid::trusted(r.sid),
            friendly_name: r.friendly_name,
            date_created: r.date_created,
        }
    }
}

impl Store {
    /// Every account, oldest first.
    pub async fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT sid, friendly_name, date_created FROM accounts ORDER BY date_created, sid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One account by SID.
    pub async fn account(&self, sid: &AccountSid) -> Result<Option<AccountRecord>, StoreError> {
        let row: Option<Row> =
            sqlx::query_as("SELECT sid, friendly_name, date_created FROM accounts WHERE sid = $1")
                .bind(sid.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    /// Creates an account and its first API key (already sealed) in one transaction.
    pub async fn create_account_with_key(
        &self,
        account: &AccountRecord,
        key: &super::ApiKeyRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO accounts (sid, friendly_name, date_created) VALUES ($1, $2, $3)")
            .bind(account.sid.as_str())
            .bind(&account.friendly_name)
            .bind(account.date_created)
            .execute(&mut *tx)
            .await?;
        super::api_keys::insert(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }
}
