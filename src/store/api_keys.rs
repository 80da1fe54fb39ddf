//! API keys (`SK…`): their metadata and sealed secrets.

use sqlx::{Any, Transaction};

use super::{Store, StoreError};
use crate::domain::{AccountSid, ApiKeySid};

/// An API key as stored; the secret only in sealed form.
#[derive(Clone)]
pub struct ApiKeyRecord {
    pub sid: ApiKeySid,
    pub account_sid: AccountSid,
    pub friendly_name: String,
    pub secret_sealed: Vec<u8>,
    pub date_created: i64,
    pub date_revoked: Option<i64>,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("sid", &self.sid)
            .field("account_sid", &self.account_sid)
            .field("friendly_name", &self.friendly_name)
            .field("date_revoked", &self.date_revoked)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    sid: String,
    account_sid: String,
    friendly_name: String,
    secret_sealed: Vec<u8>,
    date_created: i64,
    date_revoked: Option<i64>,
}

impl From<Row> for ApiKeyRecord {
    fn from(r: Row) -> Self {
        Self {
            sid: ApiKeySid::trusted(r.sid),
            account_sid: AccountSid::trusted(r.account_sid),
            friendly_name: r.friendly_name,
            secret_sealed: r.secret_sealed,
            date_created: r.date_created,
            date_revoked: r.date_revoked,
        }
    }
}

const COLUMNS: &str = "sid, account_sid, friendly_name, secret_sealed, date_created, date_revoked";

pub(super) async fn insert(
    tx: &mut Transaction<'static, Any>,
    key: &ApiKeyRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (sid, account_sid, friendly_name, secret_sealed, date_created) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key.sid.as_str())
    .bind(key.account_sid.as_str())
    .bind(&key.friendly_name)
    .bind(&key.secret_sealed)
    .bind(key.date_created)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Stores a new key of an existing account.
    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One key by SID, revoked or not.
    pub async fn api_key(&self, sid: &ApiKeySid) -> Result<Option<ApiKeyRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM api_keys WHERE sid = $1"));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(sid.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    /// The account's keys, revoked ones included, oldest first.
    pub async fn api_keys(&self, account: &AccountSid) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE account_sid = $1 ORDER BY date_created, sid"
        ));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revokes an active key of `account`, unless it is the account's last active key.
    pub async fn revoke_api_key(
        &self,
        account: &AccountSid,
        sid: &ApiKeySid,
        now: i64,
    ) -> Result<RevokeOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The write comes first so SQLite takes its write lock at once (no lock upgrade).
        let revoked = sqlx::query(
            "UPDATE api_keys SET date_revoked = $1 \
             WHERE sid = $2 AND account_sid = $3 AND date_revoked IS NULL",
        )
        .bind(now)
        .bind(sid.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked == 0 {
            return Ok(RevokeOutcome::NotFound);
        }
        let (active,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM api_keys WHERE account_sid = $1 AND date_revoked IS NULL",
        )
        .bind(account.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if active == 0 {
            tx.rollback().await?;
            return Ok(RevokeOutcome::LastKey);
        }
        tx.commit().await?;
        Ok(RevokeOutcome::Revoked)
    }
}

/// What [`Store::revoke_api_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    NotFound,
    /// Refused: revoking it would lock the account out.
    LastKey,
}
