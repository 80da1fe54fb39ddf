//! The hot paths on SQLite, through rusqlite: each write is one job on the writer thread (in
//! a transaction shared with the jobs waiting with it, see `store::sqlite_writer`); the active
//! registrations are read on a pooled read connection, synchronously (see `store::sqlite`).
//! Statements are prepared once per connection and cached; rows are read by column name.

use std::collections::HashSet;

use rusqlite::ToSql;
use rusqlite::types::ToSqlOutput;

use super::group::NewInvite;
use super::sql;
use super::sql::{END_ONE, EXPIRE_DUE_SQLITE};
use crate::store::EndRequest;

/// The single-row INSERTs the writer thread runs for every invite and delivery, built once
/// (the statement cache is keyed by this text).
static INSERT_INVITE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| sql::insert_invites(1));
static INSERT_DELIVERY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| sql::insert_deliveries(1));
use crate::domain::{AccountSid, Identity};
use crate::store::invites::{INVITE_BY_CALL, InviteRow};
use crate::store::outcomes::{CredentialRejection, StatusRow};
use crate::store::registrations::{ACTIVE, RegistrationRow};
use crate::store::sqlite::{self, Fast};
use crate::store::{
    BatchResult, CreateInvite, DeliveryUpdate, InviteRecord, Registration, RegistrationEffect,
    StoreError,
};

/// [`Store::write_invites`](crate::store::Store) on SQLite.
pub(super) async fn write_invites(
    fast: &Fast,
    batch: &[NewInvite],
) -> Result<Vec<CreateInvite>, StoreError> {
    let batch = batch.to_vec();
    fast.write(move |tx| write_invites_in(tx, &batch)).await
}

/// [`Store::write_ends`](crate::store::Store) on SQLite: one compare-and-set per end, in
/// order, in one job on the writer thread.
pub(super) async fn write_ends(
    fast: &Fast,
    batch: &[EndRequest],
) -> Result<Vec<Option<InviteRow>>, StoreError> {
    let batch = batch.to_vec();
    fast.write(move |tx| {
        let mut ended = Vec::with_capacity(batch.len());
        for end in &batch {
            let args: [&dyn ToSql; 4] = [
                &end.to.as_str(),
                &end.answered_by.as_ref().map(|r| r.as_str()),
                &end.now,
                &end.sid.as_str(),
            ];
            ended.push(sqlite::query(tx, END_ONE, &args, invite_row)?.pop());
        }
        Ok(ended)
    })
    .await
}

/// [`Store::expire_due`](crate::store::Store) on SQLite, on the writer thread.
pub(super) async fn expire_due(
    fast: &Fast,
    now: i64,
    limit: usize,
) -> Result<Vec<InviteRow>, StoreError> {
    let limit = limit as i64;
    fast.write(move |tx| {
        Ok(sqlite::query(
            tx,
            EXPIRE_DUE_SQLITE,
            &[&now, &limit],
            invite_row,
        )?)
    })
    .await
}

/// [`write_invites`] on the writer thread, inside its transaction.
fn write_invites_in(
    tx: &rusqlite::Connection,
    batch: &[NewInvite],
) -> Result<Vec<CreateInvite>, StoreError> {
    let mut inserted = HashSet::new();
    // One cached single-row statement per row: no round trips to save on this thread, and
    // multi-row statements of each new size would be parsed again.
    for (invite, _) in batch {
        let args = [
            invite.sid.as_str().to_sql()?,
            invite.account_sid.as_str().to_sql()?,
            invite.call_sid.as_str().to_sql()?,
            invite.to_identity.as_str().to_sql()?,
            invite.caller.to_sql()?,
            invite.params.to_sql()?,
            invite.status.as_str().to_sql()?,
            invite.status_callback.to_sql()?,
            owned_text(invite.api_key_sid.as_ref().map(|k| k.as_str())),
            owned_text(sql::cancel_push_column(invite.cancel_push)),
            invite.kind.as_str().to_sql()?,
            invite.payload.to_sql()?,
            invite.expires_at.to_sql()?,
            invite.date_created.to_sql()?,
        ];
        let args: Vec<&dyn ToSql> = args.iter().map(|a| a as &dyn ToSql).collect();
        inserted.extend(sqlite::query(tx, &INSERT_INVITE, &args, |r| {
            r.get::<String>("sid")
        })?);
    }
    let deliveries = batch
        .iter()
        .filter(|(invite, _)| inserted.contains(invite.sid.as_str()))
        .flat_map(|(_, deliveries)| deliveries.iter());
    for d in deliveries {
        let id = d.id.to_string();
        let args: [&dyn ToSql; 10] = [
            &id,
            &d.invite_sid.as_str(),
            &d.registration_sid.as_str(),
            &d.credential_sid.as_str(),
            &d.platform.as_str(),
            &d.device_token.as_hex(),
            &d.environment.as_str(),
            &d.status.as_str(),
            &d.attempts,
            &d.date_updated,
        ];
        sqlite::execute(tx, &INSERT_DELIVERY, &args)?;
    }
    let mut results = Vec::with_capacity(batch.len());
    for (invite, _) in batch {
        if inserted.contains(invite.sid.as_str()) {
            results.push(CreateInvite::Created);
            continue;
        }
        // Read inside the same transaction: it can't have gone since the INSERT skipped it.
        let existing = sqlite::query(
            tx,
            INVITE_BY_CALL,
            &[&invite.account_sid.as_str(), &invite.call_sid.as_str()],
            invite_row,
        )?
        .into_iter()
        .next()
        .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        results.push(CreateInvite::Existing(Box::new(existing.try_into()?)));
    }
    Ok(results)
}

/// An optional text as an owned SQLite value.
fn owned_text(v: Option<&str>) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(v.map(str::to_owned).into())
}

/// [`Store::record_deliveries`](crate::store::Store) on SQLite: the statements of the
/// PostgreSQL backend, in the same order, in one job on the writer thread.
pub(super) async fn record_deliveries(
    fast: &Fast,
    updates: &[DeliveryUpdate],
    rejections: &[CredentialRejection],
    now: i64,
) -> Result<BatchResult, StoreError> {
    let (updates, rejections) = (updates.to_vec(), rejections.to_vec());
    fast.write(move |tx| record_deliveries_in(tx, &updates, &rejections, now))
        .await
}

/// [`record_deliveries`] on the writer thread, inside its transaction.
fn record_deliveries_in(
    tx: &rusqlite::Connection,
    updates: &[DeliveryUpdate],
    rejections: &[CredentialRejection],
    now: i64,
) -> Result<BatchResult, StoreError> {
    let mut result = BatchResult::default();
    let mut touched: Vec<&str> = Vec::new();
    let mut used = Vec::new();
    for u in updates {
        sqlite::execute(
            tx,
            sql::UPDATE_DELIVERY,
            &[
                &u.status.as_str(),
                &u.attempts,
                &u.environment.as_str(),
                &u.apns_status,
                &u.apns_reason,
                &u.apns_id,
                &u.accepted_at,
                &now,
                &u.id.to_string(),
            ],
        )?;
        if !touched.contains(&u.invite_sid.as_str()) {
            touched.push(u.invite_sid.as_str());
        }
        let sid = u.registration_sid.as_str();
        match &u.effect {
            None => {}
            Some(RegistrationEffect::Touch) => used.push(sid),
            Some(RegistrationEffect::SetEnvironment(env)) => {
                sqlite::execute(tx, sql::SET_ENVIRONMENT, &[&now, &env.as_str(), &sid])?;
            }
            Some(RegistrationEffect::Retire { since_ms }) => {
                let since = since_ms.unwrap_or(i64::MAX);
                let gone = sqlite::execute(tx, sql::RETIRE, &[&sid, &since])?;
                result.retire(&u.registration_sid, gone as u64);
            }
            Some(RegistrationEffect::Invalid { reason }) => {
                sqlite::execute(tx, sql::INVALIDATE, &[reason, &sid])?;
            }
        }
    }
    for r in rejections {
        sqlite::execute(tx, sql::REJECT_CREDENTIAL, &[&r.reason, &r.sid.as_str()])?;
    }
    for chunk in used.chunks(sql::SID_CHUNK) {
        let mut args: Vec<&dyn ToSql> = vec![&now];
        args.extend(chunk.iter().map(|sid| sid as &dyn ToSql));
        sqlite::execute(tx, &sql::touch(chunk.len()), &args)?;
    }
    for chunk in touched.chunks(sql::SID_CHUNK) {
        let mut args: Vec<&dyn ToSql> = vec![&now];
        args.extend(chunk.iter().map(|sid| sid as &dyn ToSql));
        let rows = sqlite::query(tx, &sql::final_check(chunk.len()), &args, |r| {
            Ok(StatusRow {
                sid: r.get("sid")?,
                status: r.get("status")?,
                status_callback: r.get("status_callback")?,
            })
        })?;
        for row in rows {
            result.invites.push(row.try_into()?);
        }
    }
    Ok(result)
}

/// [`Store::active_registrations`](crate::store::Store) on SQLite, synchronously on this
/// thread: an indexed read is cheaper than a wake-up.
pub(super) fn active_registrations(
    fast: &Fast,
    account: &AccountSid,
    identity: &Identity,
) -> Result<Vec<Registration>, StoreError> {
    let rows = fast.read(|conn| {
        sqlite::query(
            conn,
            ACTIVE,
            &[&account.as_str(), &identity.as_str()],
            registration_row,
        )
    })?;
    rows.into_iter().map(Registration::try_from).collect()
}

/// One invite by a lookup of `store::invites` (`Store::read_invite`), on a pooled read
/// connection.
pub(super) fn read_invite(
    fast: &Fast,
    sql: &str,
    args: &[&str],
) -> Result<Option<InviteRecord>, StoreError> {
    let params: Vec<&dyn ToSql> = args.iter().map(|a| a as &dyn ToSql).collect();
    let mut rows = fast.read(|conn| sqlite::query(conn, sql, &params, invite_row))?;
    rows.pop().map(InviteRecord::try_from).transpose()
}

/// A row of `invites::select_invite!`.
fn invite_row(r: &sqlite::Named<'_, '_>) -> rusqlite::Result<InviteRow> {
    Ok(InviteRow {
        sid: r.get("sid")?,
        account_sid: r.get("account_sid")?,
        call_sid: r.get("call_sid")?,
        to_identity: r.get("to_identity")?,
        caller: r.get("caller")?,
        params: r.get("params")?,
        status: r.get("status")?,
        status_callback: r.get("status_callback")?,
        api_key_sid: r.get("api_key_sid")?,
        answered_by: r.get("answered_by")?,
        cancel_push: r.get("cancel_push")?,
        kind: r.get("kind")?,
        payload: r.get("payload")?,
        expires_at: r.get("expires_at")?,
        date_created: r.get("date_created")?,
        date_updated: r.get("date_updated")?,
    })
}

/// A row of `registrations::select!`.
fn registration_row(r: &sqlite::Named<'_, '_>) -> rusqlite::Result<RegistrationRow> {
    Ok(RegistrationRow {
        sid: r.get("sid")?,
        account_sid: r.get("account_sid")?,
        credential_sid: r.get("credential_sid")?,
        identity: r.get("identity")?,
        binding_type: r.get("binding_type")?,
        device_token: r.get("device_token")?,
        environment: r.get("environment")?,
        state: r.get("state")?,
        state_reason: r.get("state_reason")?,
        date_created: r.get("date_created")?,
        date_updated: r.get("date_updated")?,
        last_used: r.get("last_used")?,
    })
}
