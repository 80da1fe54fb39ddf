//! The hot paths on PostgreSQL, through sqlx: multi-row INSERTs (a burst of invites costs a
//! few statements and one commit), one transaction per batch, rows read by column name.
//!
//! Outcome batches arrive sorted by delivery id (`delivery::recorder`), so concurrent
//! batches take their row locks in one order and never deadlock.

use std::collections::HashSet;

use sqlx::Row as _;

use super::group::NewInvite;
use super::sql;
use super::sql::end_many;
use crate::domain::{AccountSid, Identity};
use crate::store::EndRequest;
use crate::store::invites::{INVITE_BY_CALL, InviteRow};
use crate::store::outcomes::{CredentialRejection, StatusRow};
use crate::store::registrations::{ACTIVE, RegistrationRow};
use crate::store::{
    BatchResult, CreateInvite, DeliveryRecord, DeliveryUpdate, Registration, RegistrationEffect,
    Store, StoreError,
};

/// [`Store::write_invites`] on PostgreSQL.
pub(super) async fn write_invites(
    store: &Store,
    batch: &[NewInvite],
) -> Result<Vec<CreateInvite>, StoreError> {
    // Row locks, no writer gate.
    let mut tx = store.pool.begin().await?;
    let mut inserted = HashSet::new();
    for chunk in batch.chunks(sql::INVITE_CHUNK) {
        let text = sql::insert_invites(chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for (invite, _) in chunk {
            query = query
                .bind(invite.sid.as_str())
                .bind(invite.account_sid.as_str())
                .bind(invite.call_sid.as_str())
                .bind(invite.to_identity.as_str())
                .bind(&invite.caller)
                .bind(invite.params.clone())
                .bind(invite.status.as_str())
                .bind(invite.status_callback.clone())
                .bind(invite.api_key_sid.as_ref().map(|k| k.to_string()))
                .bind(sql::cancel_push_column(invite.cancel_push))
                .bind(invite.kind.as_str())
                .bind(invite.payload.clone())
                .bind(invite.expires_at)
                .bind(invite.date_created);
        }
        for row in query.fetch_all(&mut *tx).await? {
            inserted.insert(row.try_get::<String, _>("sid")?);
        }
    }
    let deliveries: Vec<&DeliveryRecord> = batch
        .iter()
        .filter(|(invite, _)| inserted.contains(invite.sid.as_str()))
        .flat_map(|(_, deliveries)| deliveries.iter())
        .collect();
    for chunk in deliveries.chunks(sql::DELIVERY_CHUNK) {
        let text = sql::insert_deliveries(chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for d in chunk {
            query = query
                .bind(d.id.to_string())
                .bind(d.invite_sid.as_str())
                .bind(d.registration_sid.as_str())
                .bind(d.credential_sid.as_str())
                .bind(d.platform.as_str())
                .bind(d.device_token.as_hex())
                .bind(d.environment.as_str())
                .bind(d.status.as_str())
                .bind(d.attempts)
                .bind(d.date_updated);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let mut results = Vec::with_capacity(batch.len());
    for (invite, _) in batch {
        if inserted.contains(invite.sid.as_str()) {
            results.push(CreateInvite::Created);
            continue;
        }
        let existing: InviteRow = sqlx::query_as(INVITE_BY_CALL)
            .bind(invite.account_sid.as_str())
            .bind(invite.call_sid.as_str())
            .fetch_one(&store.pool)
            .await?;
        results.push(CreateInvite::Existing(Box::new(existing.try_into()?)));
    }
    Ok(results)
}

/// [`Store::write_ends`] on PostgreSQL: one statement per chunk. An invite named twice in a
/// batch is ended by its first request (as if they ran one after the other: the later one
/// would find it ended); the later ones get `None`.
pub(super) async fn write_ends(
    store: &Store,
    batch: &[EndRequest],
) -> Result<Vec<Option<InviteRow>>, StoreError> {
    let mut first: Vec<&EndRequest> = Vec::with_capacity(batch.len());
    let mut seen = HashSet::new();
    for end in batch {
        if seen.insert(end.sid.as_str()) {
            first.push(end);
        }
    }
    // Row locks taken in one order, so concurrent batches (other replicas) can't deadlock.
    first.sort_by(|a, b| a.sid.as_str().cmp(b.sid.as_str()));
    let mut ended: std::collections::HashMap<String, InviteRow> = Default::default();
    let mut tx = store.pool.begin().await?;
    for chunk in first.chunks(sql::INVITE_CHUNK) {
        if first.len() > 1 {
            lock_invites(&mut tx, chunk.iter().map(|end| end.sid.as_str())).await?;
        }
        let mut query = sqlx::query_as::<_, InviteRow>(sqlx::AssertSqlSafe(end_many(chunk.len())));
        for end in chunk {
            query = query
                .bind(end.sid.as_str())
                .bind(end.to.as_str())
                .bind(end.answered_by.as_ref().map(|r| r.as_str()))
                .bind(end.now);
        }
        for row in query.fetch_all(&mut *tx).await? {
            ended.insert(row.sid.clone(), row);
        }
    }
    tx.commit().await?;
    Ok(batch
        .iter()
        .map(|end| ended.remove(end.sid.as_str()))
        .collect())
}

/// [`Store::record_deliveries`] on PostgreSQL.
pub(super) async fn record_deliveries(
    store: &Store,
    updates: &[DeliveryUpdate],
    rejections: &[CredentialRejection],
    now: i64,
) -> Result<BatchResult, StoreError> {
    let mut result = BatchResult::default();
    let mut tx = store.pool.begin().await?;
    let mut touched = Vec::new();
    let mut used = Vec::new();
    for chunk in one_per_delivery(updates).chunks(sql::DELIVERY_CHUNK) {
        // Row locks first, in id order (the batch is sorted by id; the enqueue mark locks in
        // the same order): a join may lock in heap order and deadlock with them.
        let text = sql::lock_deliveries(chunk.len());
        let mut lock = sqlx::query(sqlx::AssertSqlSafe(text));
        for u in chunk {
            lock = lock.bind(u.id.to_string());
        }
        lock.execute(&mut *tx).await?;
        let text = sql::update_deliveries(chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text)).bind(now);
        for u in chunk {
            query = query
                .bind(u.id.to_string())
                .bind(u.status.as_str())
                .bind(u.attempts)
                .bind(u.environment.as_str())
                .bind(u.apns_status)
                .bind(u.apns_reason.clone())
                .bind(u.apns_id.clone())
                .bind(u.accepted_at);
        }
        query.execute(&mut *tx).await?;
    }
    for u in updates {
        if !touched.contains(&u.invite_sid) {
            touched.push(u.invite_sid.clone());
        }
        match &u.effect {
            None => {}
            // Written below in one statement: setting last_used commutes with the other
            // effects (a deleted row is simply not updated).
            Some(RegistrationEffect::Touch) => used.push(u.registration_sid.as_str()),
            Some(RegistrationEffect::SetEnvironment(env)) => {
                sqlx::query(sql::SET_ENVIRONMENT)
                    .bind(now)
                    .bind(env.as_str())
                    .bind(u.registration_sid.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            Some(RegistrationEffect::Retire { since_ms }) => {
                let gone = sqlx::query(sql::RETIRE)
                    .bind(u.registration_sid.as_str())
                    .bind(since_ms.unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                result.retire(&u.registration_sid, gone);
            }
            Some(RegistrationEffect::Invalid { reason }) => {
                sqlx::query(sql::INVALIDATE)
                    .bind(reason)
                    .bind(u.registration_sid.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    for r in rejections {
        sqlx::query(sql::REJECT_CREDENTIAL)
            .bind(&r.reason)
            .bind(r.sid.as_str())
            .execute(&mut *tx)
            .await?;
    }
    for chunk in used.chunks(sql::SID_CHUNK) {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql::touch(chunk.len()))).bind(now);
        for sid in chunk {
            query = query.bind(*sid);
        }
        query.execute(&mut *tx).await?;
    }
    // Their invites locked in SID order, as the call ends lock them.
    touched.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    for chunk in touched.chunks(sql::SID_CHUNK) {
        if touched.len() > 1 {
            lock_invites(&mut tx, chunk.iter().map(|sid| sid.as_str())).await?;
        }
        let text = sql::final_check(chunk.len());
        let mut query = sqlx::query_as::<_, StatusRow>(sqlx::AssertSqlSafe(text)).bind(now);
        for sid in chunk {
            query = query.bind(sid.as_str());
        }
        for row in query.fetch_all(&mut *tx).await? {
            result.invites.push(row.try_into()?);
        }
    }
    tx.commit().await?;
    Ok(result)
}

/// Locks these invites (given in SID order) in that order: see [`sql::lock_invites`]. Only
/// needed when a transaction updates more than one invite: one that locks a single invite
/// holds no invite another is waiting for, so it can't close a cycle (and at 1,000 invites/s
/// most batches are of one).
async fn lock_invites<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sids: impl ExactSizeIterator<Item = &'a str>,
) -> Result<(), StoreError> {
    let mut lock = sqlx::query(sqlx::AssertSqlSafe(sql::lock_invites(sids.len())));
    for sid in sids {
        lock = lock.bind(sid);
    }
    lock.execute(&mut **tx).await?;
    Ok(())
}

/// The update that one statement writes for each delivery, as if `updates` ran one after
/// the other (at-least-once delivery can report a delivery twice): a final outcome is never
/// overwritten, so the first final one stands; otherwise the last (a later retry) does.
fn one_per_delivery(updates: &[DeliveryUpdate]) -> Vec<&DeliveryUpdate> {
    let mut chosen: Vec<&DeliveryUpdate> = Vec::with_capacity(updates.len());
    let mut at: std::collections::HashMap<crate::domain::DeliveryId, usize> = Default::default();
    for u in updates {
        match at.get(&u.id) {
            None => {
                at.insert(u.id, chosen.len());
                chosen.push(u);
            }
            Some(&i) if chosen[i].status.is_open() => chosen[i] = u,
            Some(_) => {}
        }
    }
    chosen
}

/// [`Store::active_registrations`] on PostgreSQL.
pub(super) async fn active_registrations(
    store: &Store,
    account: &AccountSid,
    identity: &Identity,
) -> Result<Vec<Registration>, StoreError> {
    let rows: Vec<RegistrationRow> = sqlx::query_as(ACTIVE)
        .bind(account.as_str())
        .bind(identity.as_str())
        .fetch_all(&store.pool)
        .await?;
    rows.into_iter().map(Registration::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryId, DeliveryStatus, Environment, InviteSid, RegistrationSid};

    fn update(id: DeliveryId, status: DeliveryStatus, attempts: i64) -> DeliveryUpdate {
        DeliveryUpdate {
            id,
            invite_sid: InviteSid::generate(),
            registration_sid: RegistrationSid::generate(),
            status,
            attempts,
            environment: Environment::Production,
            apns_status: None,
            apns_reason: None,
            apns_id: None,
            accepted_at: None,
            effect: None,
            invite_created: 0,
        }
    }

    #[test]
    fn a_delivery_reported_twice_keeps_what_running_both_in_order_would() {
        let (a, b) = (DeliveryId::generate(), DeliveryId::generate());
        let updates = [
            update(a, DeliveryStatus::Retrying, 1),
            update(a, DeliveryStatus::Accepted, 2),
            update(a, DeliveryStatus::Retrying, 3),
            update(b, DeliveryStatus::Failed, 1),
            update(b, DeliveryStatus::Accepted, 2),
        ];
        let chosen: Vec<_> = one_per_delivery(&updates)
            .into_iter()
            .map(|u| (u.id, u.attempts))
            .collect();
        assert_eq!(chosen, [(a, 2), (b, 1)]);
    }
}
