//! The hot paths on PostgreSQL, on the store's typed pool: every batch binds one array per
//! column (`pg_sql.rs`), so a statement has one text whatever the batch size and runs from
//! each connection's prepared-statement cache; a burst of invites with their deliveries is
//! one statement.
//!
//! Outcome batches arrive sorted by delivery id (`delivery::recorder`), so concurrent
//! batches take their row locks in one order and never deadlock.

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;
use sqlx::Row as _;

use super::group::NewInvite;
use super::{pg_sql, sql};
use crate::domain::{AccountSid, Identity};
use crate::store::EndRequest;
use crate::store::invites::{INVITE_BY_CALL, InviteRecord, InviteRow};
use crate::store::outcomes::{CredentialRejection, StatusRow};
use crate::store::registrations::{ACTIVE, RegistrationRow};
use crate::store::{
    BatchResult, CreateInvite, DeliveryUpdate, Registration, RegistrationEffect, StoreError,
};

/// [`Store::write_invites`](crate::store::Store) on PostgreSQL: one statement (row locks, no
/// writer gate).
pub(super) async fn write_invites(
    pool: &PgPool,
    batch: &[NewInvite],
) -> Result<Vec<CreateInvite>, StoreError> {
    let invites = || batch.iter().map(|(invite, _)| invite);
    let text = |f: fn(&InviteRecord) -> &str| invites().map(f).collect::<Vec<_>>();
    let optional = |f: fn(&InviteRecord) -> Option<&str>| invites().map(f).collect::<Vec<_>>();
    let deliveries: Vec<_> = batch.iter().flat_map(|(_, d)| d.iter()).collect();
    let column = |f: fn(&crate::store::DeliveryRecord) -> String| {
        deliveries.iter().map(|d| f(d)).collect::<Vec<_>>()
    };
    let rows = sqlx::query(pg_sql::WRITE_INVITES)
        .bind(text(|i| i.sid.as_str()))
        .bind(text(|i| i.account_sid.as_str()))
        .bind(text(|i| i.call_sid.as_str()))
        .bind(text(|i| i.to_identity.as_str()))
        .bind(text(|i| &i.caller))
        .bind(optional(|i| i.params.as_deref()))
        .bind(text(|i| i.status.as_str()))
        .bind(optional(|i| i.status_callback.as_deref()))
        .bind(
            invites()
                .map(|i| i.api_key_sid.as_ref().map(|k| k.to_string()))
                .collect::<Vec<_>>(),
        )
        .bind(optional(|i| sql::cancel_push_column(i.cancel_push)))
        .bind(text(|i| i.kind.as_str()))
        .bind(optional(|i| i.payload.as_deref()))
        .bind(invites().map(|i| i.expires_at).collect::<Vec<_>>())
        .bind(invites().map(|i| i.date_created).collect::<Vec<_>>())
        .bind(column(|d| d.id.to_string()))
        .bind(column(|d| d.invite_sid.as_str().to_owned()))
        .bind(column(|d| d.registration_sid.as_str().to_owned()))
        .bind(column(|d| d.credential_sid.as_str().to_owned()))
        .bind(column(|d| d.platform.as_str().to_owned()))
        .bind(column(|d| d.device_token.as_hex().to_owned()))
        .bind(column(|d| d.environment.as_str().to_owned()))
        .bind(column(|d| d.status.as_str().to_owned()))
        .bind(deliveries.iter().map(|d| d.attempts).collect::<Vec<_>>())
        .bind(
            deliveries
                .iter()
                .map(|d| d.date_updated)
                .collect::<Vec<_>>(),
        )
        .fetch_all(pool)
        .await?;
    let mut inserted = HashSet::with_capacity(rows.len());
    for row in rows {
        inserted.insert(row.try_get::<String, _>("sid")?);
    }
    let mut results = Vec::with_capacity(batch.len());
    for (invite, _) in batch {
        if inserted.remove(invite.sid.as_str()) {
            results.push(CreateInvite::Created);
            continue;
        }
        let existing: InviteRow = sqlx::query_as(INVITE_BY_CALL)
            .bind(invite.account_sid.as_str())
            .bind(invite.call_sid.as_str())
            .fetch_one(pool)
            .await?;
        results.push(CreateInvite::Existing(Box::new(existing.try_into()?)));
    }
    Ok(results)
}

/// [`Store::write_ends`](crate::store::Store) on PostgreSQL: one statement. An invite named
/// twice in a batch is ended by its first request (as if they ran one after the other: the
/// later one would find it ended); the later ones get `None`.
pub(super) async fn write_ends(
    pool: &PgPool,
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
    let rows: Vec<InviteRow> = sqlx::query_as(pg_sql::END_MANY)
        .bind(first.iter().map(|e| e.sid.as_str()).collect::<Vec<_>>())
        .bind(first.iter().map(|e| e.to.as_str()).collect::<Vec<_>>())
        .bind(
            first
                .iter()
                .map(|e| e.answered_by.as_ref().map(|r| r.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(first.iter().map(|e| e.now).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    let mut ended: HashMap<String, InviteRow> =
        rows.into_iter().map(|row| (row.sid.clone(), row)).collect();
    Ok(batch
        .iter()
        .map(|end| ended.remove(end.sid.as_str()))
        .collect())
}

/// [`Store::record_deliveries`](crate::store::Store) on PostgreSQL: one transaction.
pub(super) async fn record_deliveries(
    pool: &PgPool,
    updates: &[DeliveryUpdate],
    rejections: &[CredentialRejection],
    now: i64,
) -> Result<BatchResult, StoreError> {
    let mut result = BatchResult::default();
    let mut tx = pool.begin().await?;
    let chosen = one_per_delivery(updates);
    if !chosen.is_empty() {
        // Row locks first, in id order (the batch is sorted by id; the enqueue mark locks in
        // the same order).
        let ids: Vec<String> = chosen.iter().map(|u| u.id.to_string()).collect();
        sqlx::query(pg_sql::LOCK_DELIVERIES)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        sqlx::query(pg_sql::UPDATE_DELIVERIES)
            .bind(now)
            .bind(&ids)
            .bind(chosen.iter().map(|u| u.status.as_str()).collect::<Vec<_>>())
            .bind(chosen.iter().map(|u| u.attempts).collect::<Vec<_>>())
            .bind(
                chosen
                    .iter()
                    .map(|u| u.environment.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(chosen.iter().map(|u| u.apns_status).collect::<Vec<_>>())
            .bind(
                chosen
                    .iter()
                    .map(|u| u.apns_reason.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                chosen
                    .iter()
                    .map(|u| u.apns_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(chosen.iter().map(|u| u.accepted_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
    }
    let mut touched: Vec<&str> = Vec::new();
    let mut seen = HashSet::new();
    let mut used: Vec<&str> = Vec::new();
    for u in updates {
        if seen.insert(u.invite_sid.as_str()) {
            touched.push(u.invite_sid.as_str());
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
    // Registrations touched in SID order (the invites are locked in SID order by the check).
    touched.sort_unstable();
    used.sort_unstable();
    used.dedup();
    if !used.is_empty() {
        sqlx::query(pg_sql::TOUCH)
            .bind(now)
            .bind(&used)
            .execute(&mut *tx)
            .await?;
    }
    if !touched.is_empty() {
        let rows: Vec<StatusRow> = sqlx::query_as(pg_sql::FINAL_CHECK)
            .bind(now)
            .bind(&touched)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            result.invites.push(row.try_into()?);
        }
    }
    tx.commit().await?;
    Ok(result)
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

/// [`Store::active_registrations`](crate::store::Store) on PostgreSQL.
pub(super) async fn active_registrations(
    pool: &PgPool,
    account: &AccountSid,
    identity: &Identity,
) -> Result<Vec<Registration>, StoreError> {
    let rows: Vec<RegistrationRow> = sqlx::query_as(ACTIVE)
        .bind(account.as_str())
        .bind(identity.as_str())
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(Registration::try_from).collect()
}

/// One invite by a lookup of `invites.rs`.
pub(super) async fn read_invite(
    pool: &PgPool,
    sql: &'static str,
    args: &[&str],
) -> Result<Option<InviteRow>, StoreError> {
    let mut query = sqlx::query_as::<_, InviteRow>(sql);
    for arg in args {
        query = query.bind(*arg);
    }
    Ok(query.fetch_optional(pool).await?)
}

/// [`Store::expire_due`](crate::store::Store) on PostgreSQL: one statement.
pub(super) async fn expire_due(
    pool: &PgPool,
    now: i64,
    limit: usize,
) -> Result<Vec<InviteRow>, StoreError> {
    Ok(sqlx::query_as(pg_sql::EXPIRE_DUE)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(pool)
        .await?)
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
