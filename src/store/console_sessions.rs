//! Operator console sessions (`console_sessions`, migration 0016): stored under the SHA-256 of
//! the session id (hex), with the account and API key they act as and when they were last
//! used. The id itself and the CSRF token derived from it are never stored.

use sqlx::Row as _;

use super::{Store, StoreError};
use crate::domain::{AccountSid, ApiKeySid};

/// A session as stored.
#[derive(Debug, Clone)]
pub struct ConsoleSessionRecord {
    /// Hex SHA-256 of the session id.
    pub id_hash: String,
    pub account_sid: AccountSid,
    pub api_key_sid: ApiKeySid,
    /// Epoch ms of the last request (written at most once a minute).
    pub last_seen: i64,
    pub date_created: i64,
}

impl Store {
    /// Stores a new session.
    pub async fn insert_console_session(&self, s: &ConsoleSessionRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, account_sid, api_key_sid, last_seen, \
             date_created) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id_hash)
        .bind(s.account_sid.as_str())
        .bind(s.api_key_sid.as_str())
        .bind(s.last_seen)
        .bind(s.date_created)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session stored under `id_hash`.
    pub async fn console_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<ConsoleSessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, account_sid, api_key_sid, last_seen, date_created \
             FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ConsoleSessionRecord {
                id_hash: r.try_get("id_hash")?,
                account_sid: AccountSid::trusted(r.try_get::<String, _>("account_sid")?),
                api_key_sid: ApiKeySid::trusted(r.try_get::<String, _>("api_key_sid")?),
                last_seen: r.try_get("last_seen")?,
                date_created: r.try_get("date_created")?,
            })
        })
        .transpose()
    }

    /// Records a request of the session at `now`.
    pub async fn touch_console_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends one session (sign-out).
    pub async fn delete_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session of an API key (it was revoked); returns how many.
    pub async fn delete_console_sessions_of(&self, key: &ApiKeySid) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM console_sessions WHERE api_key_sid = $1")
            .bind(key.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes sessions last seen before `cutoff` (epoch ms); returns how many.
    pub async fn prune_console_sessions(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM console_sessions WHERE last_seen < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}
