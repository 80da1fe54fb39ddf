//! The hot paths — writing invites with their deliveries, recording delivery outcomes,
//! reading an identity's active registrations — with one implementation per backend
//! (`sqlite.rs` on the rusqlite writer thread and read pool, `postgres.rs` on sqlx), the SQL
//! text shared (`sql.rs`), and the [`Store`] methods here choosing the backend once.
//!
//! Performance properties kept by both (see bench/README.md): one transaction per batch;
//! concurrent invites and call ends written together by the group commit (`group.rs`), expiry
//! as one set-based UPDATE (`ends.rs`); multi-row INSERTs on
//! PostgreSQL; cached prepared statements on SQLite, whose writes also hold the store's writer
//! gate so the sqlx writers and the writer thread never contend on SQLite's lock.

mod ends;
mod group;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;

pub(super) use group::Committers;

use super::invites::{INVITE_BY_CALL, INVITE_BY_SID, INVITE_OF_ACCOUNT, fetch_invite};
use super::sqlite::Fast;
use super::{
    BatchResult, CreateInvite, CredentialRejection, DeliveryRecord, DeliveryUpdate, InviteRecord,
    Registration, Store, StoreError,
};
use crate::domain::{AccountSid, CallSid, Identity, InviteSid};

/// The backend a store runs on, holding what its hot paths need.
#[derive(Clone, Debug)]
pub(super) enum Backend {
    /// SQLite: its writer thread and read pool (every SQLite store has them).
    Sqlite(Arc<Fast>),
    /// PostgreSQL: the sqlx pool of the store.
    Postgres,
}

impl Store {
    /// New invites beyond `limit` waiting for their group commit are refused with
    /// [`StoreError::Overloaded`] (no bound until this is called).
    pub fn limit_waiting_invites(&self, limit: usize) {
        if let Some(committers) = &self.committers {
            committers.invites.set_limit(limit);
        }
    }

    /// Writes an invite and its deliveries in one transaction — unless the account already
    /// has an invite with this call SID, which is then returned and nothing is written.
    ///
    /// Concurrent calls are written together (group commit): a task takes every invite
    /// waiting and writes them in one transaction (with multi-row INSERTs on PostgreSQL), so
    /// a burst costs a few statements and one commit instead of four round trips and a
    /// commit each, while the write lock is held. Each call still returns only once its
    /// invite is committed.
    pub async fn create_invite(
        &self,
        invite: &InviteRecord,
        deliveries: &[DeliveryRecord],
    ) -> Result<CreateInvite, StoreError> {
        let mut new = (invite.clone(), deliveries.to_vec());
        if let Some(committers) = &self.committers {
            match committers.invites.submit(new).await {
                Ok(result) => return result,
                // The committer is gone (its runtime ended): write directly.
                Err(back) => new = back,
            }
        }
        let mut results = self.write_invites(&[new]).await?;
        Ok(results.remove(0))
    }

    /// Writes invites and their deliveries in one transaction; an invite whose call SID the
    /// account already has (or that repeats one earlier in `batch`) is not written, and its
    /// result is the existing invite.
    async fn write_invites(
        &self,
        batch: &[group::NewInvite],
    ) -> Result<Vec<CreateInvite>, StoreError> {
        match &self.backend {
            Backend::Sqlite(fast) => sqlite::write_invites(fast, batch).await,
            Backend::Postgres => postgres::write_invites(self, batch).await,
        }
    }

    /// Records a batch of delivery outcomes and their effects in one transaction.
    pub async fn record_deliveries(
        &self,
        updates: &[DeliveryUpdate],
        rejections: &[CredentialRejection],
        now: i64,
    ) -> Result<BatchResult, StoreError> {
        match &self.backend {
            Backend::Sqlite(fast) => {
                sqlite::record_deliveries(fast, updates, rejections, now).await
            }
            Backend::Postgres => postgres::record_deliveries(self, updates, rejections, now).await,
        }
    }

    /// The identity's registrations that may be pushed to (state `active`).
    pub async fn active_registrations(
        &self,
        account: &AccountSid,
        identity: &Identity,
    ) -> Result<Vec<Registration>, StoreError> {
        match &self.backend {
            Backend::Sqlite(fast) => sqlite::active_registrations(fast, account, identity),
            Backend::Postgres => postgres::active_registrations(self, account, identity).await,
        }
    }

    /// The account's invite with this call SID.
    pub async fn invite_by_call(
        &self,
        account: &AccountSid,
        call: &CallSid,
    ) -> Result<Option<InviteRecord>, StoreError> {
        self.read_invite(INVITE_BY_CALL, &[account.as_str(), call.as_str()])
            .await
    }

    /// One invite of `account`.
    pub async fn invite(
        &self,
        account: &AccountSid,
        sid: &InviteSid,
    ) -> Result<Option<InviteRecord>, StoreError> {
        self.read_invite(INVITE_OF_ACCOUNT, &[sid.as_str(), account.as_str()])
            .await
    }

    /// An invite by SID alone (for the delivery engine and a phone's bridge token).
    pub async fn invite_by_sid(&self, sid: &InviteSid) -> Result<Option<InviteRecord>, StoreError> {
        self.read_invite(INVITE_BY_SID, &[sid.as_str()]).await
    }

    /// One invite by a lookup of `invites.rs`: on SQLite synchronously on a pooled read
    /// connection (an indexed read is cheaper than a hop to sqlx's worker thread; every accept,
    /// reject and cancel reads its invite), on PostgreSQL through the pool.
    async fn read_invite(
        &self,
        sql: &'static str,
        args: &[&str],
    ) -> Result<Option<InviteRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(fast) => sqlite::read_invite(fast, sql, args),
            Backend::Postgres => fetch_invite(self, sql, args).await,
        }
    }
}
