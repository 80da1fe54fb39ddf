//! Links from Twilio accounts to pushgate accounts (`twilio_links`): which account's
//! registrations a Twilio account's call notifications ring, and that Twilio account's sealed
//! Auth Token (associated data: the Twilio account SID, the row's `sid`).

use sqlx::Row as _;

use super::{Store, StoreError};
use crate::domain::AccountSid;

/// A link as stored.
#[derive(Debug, Clone)]
pub struct TwilioLinkRecord {
    /// The Twilio account (`AC…`).
    pub twilio_account: AccountSid,
    /// The pushgate account it rings.
    pub account: AccountSid,
    pub auth_token_sealed: Vec<u8>,
    pub ring_timeout_secs: u32,
    pub date_created: i64,
    pub date_updated: i64,
}

const COLUMNS: &str =
    "sid, account_sid, secret_sealed, ring_timeout_secs, date_created, date_updated";

fn record(r: &sqlx::any::AnyRow) -> Result<TwilioLinkRecord, StoreError> {
    Ok(TwilioLinkRecord {
        twilio_account: AccountSid::trusted(r.try_get::<String, _>("sid")?),
        account: AccountSid::trusted(r.try_get::<String, _>("account_sid")?),
        auth_token_sealed: r.try_get("secret_sealed")?,
        ring_timeout_secs: u32::try_from(r.try_get::<i64, _>("ring_timeout_secs")?).unwrap_or(30),
        date_created: r.try_get("date_created")?,
        date_updated: r.try_get("date_updated")?,
    })
}

impl Store {
    /// Writes `link`, replacing the Twilio account's earlier link of the same pushgate
    /// account. False when the Twilio account is linked to another pushgate account (nothing
    /// written).
    pub async fn put_twilio_link(&self, link: &TwilioLinkRecord) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO twilio_links (sid, account_sid, secret_sealed, ring_timeout_secs, \
             date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (sid) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
             ring_timeout_secs = excluded.ring_timeout_secs, date_updated = excluded.date_updated \
             WHERE twilio_links.account_sid = excluded.account_sid",
        )
        .bind(link.twilio_account.as_str())
        .bind(link.account.as_str())
        .bind(link.auth_token_sealed.clone())
        .bind(i64::from(link.ring_timeout_secs))
        .bind(link.date_updated)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The link of the Twilio account `twilio_account`, whichever pushgate account holds it.
    pub async fn twilio_link(
        &self,
        twilio_account: &AccountSid,
    ) -> Result<Option<TwilioLinkRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM twilio_links WHERE sid = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(twilio_account.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// The Twilio accounts linked to `account`, by SID.
    pub async fn twilio_links(
        &self,
        account: &AccountSid,
    ) -> Result<Vec<TwilioLinkRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM twilio_links WHERE account_sid = $1 ORDER BY sid");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// Removes `account`'s link of `twilio_account`; false when there was none.
    pub async fn delete_twilio_link(
        &self,
        account: &AccountSid,
        twilio_account: &AccountSid,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM twilio_links WHERE sid = $1 AND account_sid = $2")
            .bind(twilio_account.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
