//! Which invites' final status callbacks went out, and taking over those that never did.

use super::{InviteStatusChange, Store, StoreError};
use crate::config::StoreKind;
use crate::domain::{InviteSid, InviteStatus};

impl Store {
    /// Notes that the callback for `status` (a final status) of invite `sid` was delivered or
    /// given up on.
    pub async fn mark_callback_reported(
        &self,
        sid: &InviteSid,
        status: InviteStatus,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE invites SET callback_reported = $1 WHERE sid = $2")
            .bind(status.as_str())
            .bind(sid.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes up to `limit` invites that ended between `since` and `before` with a callback
    /// URL and no final callback reported, marking them reported (so one replica sends each);
    /// returns them with their status and callback URL.
    pub async fn take_unreported_callbacks(
        &self,
        since: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<InviteStatusChange>, StoreError> {
        let lock = match self.kind {
            StoreKind::Postgres => "FOR UPDATE SKIP LOCKED",
            StoreKind::Sqlite => "",
        };
        let sql = format!(
            "UPDATE invites SET callback_reported = status WHERE sid IN (SELECT sid FROM invites \
             WHERE status_callback IS NOT NULL AND callback_reported IS NULL \
             AND status NOT IN ('queued', 'sending', 'delivered') \
             AND date_updated > $1 AND date_updated < $2 ORDER BY date_updated LIMIT $3 {lock}) \
             RETURNING sid, status, status_callback"
        );
        let mut tx = self.begin_write().await?;
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(since)
            .bind(before)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.into_iter().map(InviteStatusChange::decode).collect()
    }
}
