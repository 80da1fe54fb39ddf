//! The call's endings at the rate calls are placed: answers, rejections and cancels are
//! group-committed like invites (one transaction for every end waiting), and expiry is one
//! set-based UPDATE of the invites due, run by the invites service's sweeper. On SQLite both
//! run on the writer thread with the other hot writes; on PostgreSQL each batch is one
//! statement.

use super::Backend;
use super::sql::EXPIRE_DUE_POSTGRES;
use crate::domain::{CallEnd, InviteSid, RegistrationSid};
use crate::store::invites::InviteRow;
use crate::store::{EndRequest, InviteRecord, Store, StoreError};

impl Store {
    /// Moves an open invite (queued, sending or delivered, not past `expires_at` unless
    /// `to` is `expired`) to the final state `to`, recording who answered. Returns the
    /// updated invite, or `None` if it was no longer open (someone else ended it first).
    ///
    /// Concurrent ends are written together (group commit), in the order they arrived, so
    /// racing ends of one invite still resolve as one compare-and-set each: the first wins.
    pub async fn end_invite(
        &self,
        sid: &InviteSid,
        to: CallEnd,
        answered_by: Option<&RegistrationSid>,
        now: i64,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let mut request = EndRequest {
            sid: sid.clone(),
            to,
            answered_by: answered_by.cloned(),
            now,
        };
        if let Some(committers) = &self.committers {
            match committers.ends.submit(request).await {
                Ok(result) => return result,
                // The committer is gone (its runtime ended): write directly.
                Err(back) => request = back,
            }
        }
        Ok(self.write_ends(&[request]).await?.remove(0))
    }

    /// Ends up to `limit` open invites whose expiry is at or before `now` as `expired`, in
    /// one statement; returns them, ended.
    pub async fn expire_due(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<InviteRecord>, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(fast) => super::sqlite::expire_due(fast, now, limit).await?,
            Backend::Postgres => {
                sqlx::query_as::<_, InviteRow>(EXPIRE_DUE_POSTGRES)
                    .bind(now)
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter().map(InviteRecord::try_from).collect()
    }

    /// Writes a batch of ends in one transaction; one result per request, in order.
    pub(super) async fn write_ends(
        &self,
        batch: &[EndRequest],
    ) -> Result<Vec<Option<InviteRecord>>, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(fast) => super::sqlite::write_ends(fast, batch).await?,
            Backend::Postgres => super::postgres::write_ends(self, batch).await?,
        };
        rows.into_iter()
            .map(|row| row.map(InviteRecord::try_from).transpose())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_end_of_a_batch_binds_its_own_values() {
        let sql = super::super::sql::end_many(2);
        assert!(sql.contains("($5::text, $6::text, $7::text, $8::bigint)"));
        assert!(sql.contains("RETURNING sid, account_sid"));
    }
}
