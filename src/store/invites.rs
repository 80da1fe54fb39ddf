//! Call invites and their per-device deliveries: the outbox written in one transaction when
//! an invite is accepted, read back to resume work after a restart.

use super::{Store, StoreError};
use crate::domain::{AccountSid, CallSid, Identity, InviteSid};

/// An invite as stored.
#[derive(Debug, Clone)]
pub struct InviteRecord {
    pub sid: InviteSid,
    pub account_sid: AccountSid,
    pub call_sid: CallSid,
    pub to_identity: Identity,
    pub caller: String,
    /// `twi_params`: custom parameters as a URL query string.
    pub params: Option<String>,
    pub status: String,
    pub status_callback: Option<String>,
    /// The API key that created the invite; its secret signs status callbacks.
    pub api_key_sid: Option<String>,
    /// The registration that answered, once one did.
    pub answered_by: Option<String>,
    /// `voip` to send legacy cancel pushes when the call ends unanswered on a device.
    pub cancel_push: Option<String>,
    pub expires_at: i64,
    pub date_created: i64,
    pub date_updated: i64,
}

/// One push of an invite to one registration.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Lowercase UUID, also the push's `apns-id`.
    pub id: String,
    pub invite_sid: String,
    pub registration_sid: String,
    pub credential_sid: String,
    pub device_token: String,
    pub environment: String,
    pub status: String,
    pub attempts: i64,
    pub apns_status: Option<i64>,
    pub apns_reason: Option<String>,
    pub apns_id: Option<String>,
    pub accepted_at: Option<i64>,
    pub date_updated: i64,
}

/// What [`Store::create_invite`] did.
#[derive(Debug)]
pub enum CreateInvite {
    /// The invite and its deliveries were written.
    Created,
    /// An invite with the same call SID already existed; nothing was written.
    Existing(Box<InviteRecord>),
}

#[derive(sqlx::FromRow)]
struct InviteRow {
    sid: String,
    account_sid: String,
    call_sid: String,
    to_identity: String,
    caller: String,
    params: Option<String>,
    status: String,
    status_callback: Option<String>,
    api_key_sid: Option<String>,
    answered_by: Option<String>,
    cancel_push: Option<String>,
    expires_at: i64,
    date_created: i64,
    date_updated: i64,
}

impl From<InviteRow> for InviteRecord {
    fn from(r: InviteRow) -> Self {
        Self {
            sid: InviteSid::trusted(r.sid),
            account_sid: AccountSid::trusted(r.account_sid),
            call_sid: CallSid::trusted(r.call_sid),
            to_identity: Identity::trusted(r.to_identity),
            caller: r.caller,
            params: r.params,
            status: r.status,
            status_callback: r.status_callback,
            api_key_sid: r.api_key_sid,
            answered_by: r.answered_by,
            cancel_push: r.cancel_push,
            expires_at: r.expires_at,
            date_created: r.date_created,
            date_updated: r.date_updated,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    invite_sid: String,
    registration_sid: String,
    credential_sid: String,
    device_token: String,
    environment: String,
    status: String,
    attempts: i64,
    apns_status: Option<i64>,
    apns_reason: Option<String>,
    apns_id: Option<String>,
    accepted_at: Option<i64>,
    date_updated: i64,
}

impl From<DeliveryRow> for DeliveryRecord {
    fn from(r: DeliveryRow) -> Self {
        Self {
            id: r.id,
            invite_sid: r.invite_sid,
            registration_sid: r.registration_sid,
            credential_sid: r.credential_sid,
            device_token: r.device_token,
            environment: r.environment,
            status: r.status,
            attempts: r.attempts,
            apns_status: r.apns_status,
            apns_reason: r.apns_reason,
            apns_id: r.apns_id,
            accepted_at: r.accepted_at,
            date_updated: r.date_updated,
        }
    }
}

macro_rules! select_invite {
    ($tail:literal) => {
        concat!(
            "SELECT sid, account_sid, call_sid, to_identity, caller, params, status, \
             status_callback, api_key_sid, answered_by, cancel_push, expires_at, date_created, \
             date_updated FROM invites ",
            $tail
        )
    };
}

macro_rules! select_delivery {
    ($tail:literal) => {
        concat!(
            "SELECT id, invite_sid, registration_sid, credential_sid, device_token, environment, \
             status, attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated \
             FROM deliveries ",
            $tail
        )
    };
}

/// Rows per multi-row INSERT (13 parameters each keeps well under SQLite's limit).
const INSERT_CHUNK: usize = 200;

/// `($1, …, $w), ($w+1, …)` for `rows` rows of `width` values.
fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Writes an invite and its deliveries in one transaction — unless the account already
    /// has an invite with this call SID, which is then returned and nothing is written.
    pub async fn create_invite(
        &self,
        invite: &InviteRecord,
        deliveries: &[DeliveryRecord],
    ) -> Result<CreateInvite, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO invites (sid, account_sid, call_sid, to_identity, caller, params, status, \
             status_callback, api_key_sid, cancel_push, expires_at, date_created, date_updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (account_sid, call_sid) DO NOTHING",
        )
        .bind(invite.sid.as_str())
        .bind(invite.account_sid.as_str())
        .bind(invite.call_sid.as_str())
        .bind(invite.to_identity.as_str())
        .bind(&invite.caller)
        .bind(invite.params.clone())
        .bind(&invite.status)
        .bind(invite.status_callback.clone())
        .bind(invite.api_key_sid.clone())
        .bind(invite.cancel_push.clone())
        .bind(invite.expires_at)
        .bind(invite.date_created)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            let existing = self
                .invite_by_call(&invite.account_sid, &invite.call_sid)
                .await?
                .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
            return Ok(CreateInvite::Existing(Box::new(existing)));
        }
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            // `$n` placeholders work on both backends (sqlx's builder would emit `?` for Any).
            let sql = format!(
                "INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, \
                 device_token, environment, status, attempts, date_updated) VALUES {}",
                placeholders(chunk.len(), 9)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                query = query
                    .bind(d.id.clone())
                    .bind(d.invite_sid.clone())
                    .bind(d.registration_sid.clone())
                    .bind(d.credential_sid.clone())
                    .bind(d.device_token.clone())
                    .bind(d.environment.clone())
                    .bind(d.status.clone())
                    .bind(d.attempts)
                    .bind(d.date_updated);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(CreateInvite::Created)
    }

    /// The account's invite with this call SID.
    pub async fn invite_by_call(
        &self,
        account: &AccountSid,
        call: &CallSid,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let row: Option<InviteRow> =
            sqlx::query_as(select_invite!("WHERE account_sid = $1 AND call_sid = $2"))
                .bind(account.as_str())
                .bind(call.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    /// One invite of `account`.
    pub async fn invite(
        &self,
        account: &AccountSid,
        sid: &InviteSid,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let row: Option<InviteRow> =
            sqlx::query_as(select_invite!("WHERE sid = $1 AND account_sid = $2"))
                .bind(sid.as_str())
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    /// An invite by SID alone (for the delivery engine).
    pub async fn invite_by_sid(&self, sid: &str) -> Result<Option<InviteRecord>, StoreError> {
        let row: Option<InviteRow> = sqlx::query_as(select_invite!("WHERE sid = $1"))
            .bind(sid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    /// The invite's deliveries.
    pub async fn deliveries(&self, invite: &InviteSid) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(select_delivery!(
            "WHERE invite_sid = $1 ORDER BY registration_sid"
        ))
        .bind(invite.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Invites still ringing (or about to), for resuming their expiry timers.
    pub async fn open_invites(&self) -> Result<Vec<InviteRecord>, StoreError> {
        let rows: Vec<InviteRow> = sqlx::query_as(select_invite!(
            "WHERE status IN ('queued', 'sending', 'delivered')"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Moves an open invite (queued, sending or delivered, not past `expires_at` unless
    /// `to` is `expired`) to the final state `to`, recording who answered. Returns the
    /// updated invite, or `None` if it was no longer open (someone else ended it first).
    pub async fn end_invite(
        &self,
        sid: &str,
        to: &str,
        answered_by: Option<&str>,
        now: i64,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let ended = sqlx::query(
            "UPDATE invites SET status = $1, answered_by = $2, date_updated = $3 \
             WHERE sid = $4 AND status IN ('queued', 'sending', 'delivered') \
             AND (expires_at > $3 OR $1 = 'expired')",
        )
        .bind(to)
        .bind(answered_by)
        .bind(now)
        .bind(sid)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if ended == 0 {
            return Ok(None);
        }
        self.invite_by_sid(sid).await
    }

    /// Deliveries not final yet (queued or waiting for a retry), oldest invites first.
    pub async fn open_deliveries(&self) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows: Vec<DeliveryRow> =
            sqlx::query_as(select_delivery!("WHERE status IN ('queued', 'retrying')"))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
