//! Call invites and their per-device deliveries: the outbox written in one transaction when
//! an invite is accepted, read back to resume work after a restart.

use super::{Store, StoreError, decode};
use crate::domain::{
    AccountSid, ApiKeySid, CallEnd, CallSid, CancelPush, CredentialSid, DeliveryId, DeliveryStatus,
    DeviceToken, Environment, Identity, InviteKind, InviteSid, InviteStatus, Platform,
    RegistrationSid,
};

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
    pub status: InviteStatus,
    pub status_callback: Option<String>,
    /// The API key that created the invite (callbacks are signed with the account's webhook
    /// secret, not with this key).
    pub api_key_sid: Option<ApiKeySid>,
    /// The registration that answered, once one did.
    pub answered_by: Option<RegistrationSid>,
    /// Whether legacy cancel pushes go out when the call ends (stored NULL for `none`).
    pub cancel_push: CancelPush,
    /// pushgate's own call, or a relayed Twilio notification.
    pub kind: InviteKind,
    /// For [`InviteKind::TwilioWebhook`]: Twilio's JSON body as received, what each phone gets.
    pub payload: Option<String>,
    pub expires_at: i64,
    pub date_created: i64,
    pub date_updated: i64,
}

/// One push of an invite to one registration.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Also the push's `apns-id`.
    pub id: DeliveryId,
    pub invite_sid: InviteSid,
    pub registration_sid: RegistrationSid,
    pub credential_sid: CredentialSid,
    pub platform: Platform,
    pub device_token: DeviceToken,
    pub environment: Environment,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub apns_status: Option<i64>,
    pub apns_reason: Option<String>,
    pub apns_id: Option<String>,
    pub accepted_at: Option<i64>,
    pub date_updated: i64,
}

/// One end to record: `sid` moves to `to` if still open (and, unless `to` is expired, not
/// past its expiry at `now`), recording who answered.
#[derive(Debug, Clone)]
pub struct EndRequest {
    pub sid: InviteSid,
    pub to: CallEnd,
    pub answered_by: Option<RegistrationSid>,
    pub now: i64,
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
pub(super) struct InviteRow {
    pub(super) sid: String,
    pub(super) account_sid: String,
    pub(super) call_sid: String,
    pub(super) to_identity: String,
    pub(super) caller: String,
    pub(super) params: Option<String>,
    pub(super) status: String,
    pub(super) status_callback: Option<String>,
    pub(super) api_key_sid: Option<String>,
    pub(super) answered_by: Option<String>,
    pub(super) cancel_push: Option<String>,
    pub(super) kind: String,
    pub(super) payload: Option<String>,
    pub(super) expires_at: i64,
    pub(super) date_created: i64,
    pub(super) date_updated: i64,
}

impl TryFrom<InviteRow> for InviteRecord {
    type Error = StoreError;
    fn try_from(r: InviteRow) -> Result<Self, StoreError> {
        Ok(Self {
            sid: InviteSid::trusted(r.sid),
            account_sid: AccountSid::trusted(r.account_sid),
            call_sid: CallSid::trusted(r.call_sid),
            to_identity: Identity::trusted(r.to_identity),
            caller: r.caller,
            params: r.params,
            status: decode(&r.status)?,
            status_callback: r.status_callback,
            api_key_sid: r.api_key_sid.map(ApiKeySid::trusted),
            answered_by: r.answered_by.map(RegistrationSid::trusted),
            cancel_push: r
                .cancel_push
                .as_deref()
                .map_or(Ok(CancelPush::None), decode)?,
            kind: decode(&r.kind)?,
            payload: r.payload,
            expires_at: r.expires_at,
            date_created: r.date_created,
            date_updated: r.date_updated,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    id: String,
    invite_sid: String,
    registration_sid: String,
    credential_sid: String,
    platform: String,
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

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: decode(&r.id)?,
            invite_sid: InviteSid::trusted(r.invite_sid),
            registration_sid: RegistrationSid::trusted(r.registration_sid),
            credential_sid: CredentialSid::trusted(r.credential_sid),
            platform: decode(&r.platform)?,
            device_token: DeviceToken::trusted(r.device_token),
            environment: decode(&r.environment)?,
            status: decode(&r.status)?,
            attempts: r.attempts,
            apns_status: r.apns_status,
            apns_reason: r.apns_reason,
            apns_id: r.apns_id,
            accepted_at: r.accepted_at,
            date_updated: r.date_updated,
        })
    }
}

/// The columns of an [`InviteRow`], as one SQL list (also after `RETURNING`).
macro_rules! invite_columns {
    () => {
        "sid, account_sid, call_sid, to_identity, caller, params, status, status_callback, \
         api_key_sid, answered_by, cancel_push, kind, payload, expires_at, date_created, \
         date_updated"
    };
}
pub(super) use invite_columns;

macro_rules! select_invite {
    ($tail:literal) => {
        concat!("SELECT ", invite_columns!(), " FROM invites ", $tail)
    };
}

macro_rules! select_delivery {
    ($tail:literal) => {
        concat!(
            "SELECT id, invite_sid, registration_sid, credential_sid, platform, device_token, \
             environment, status, attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated \
             FROM deliveries ",
            $tail
        )
    };
}

/// Looks up an invite by account and call SID (also run inside the SQLite invite writes).
pub(super) const INVITE_BY_CALL: &str = select_invite!("WHERE account_sid = $1 AND call_sid = $2");
/// Looks up an invite of an account by its SID.
pub(super) const INVITE_OF_ACCOUNT: &str = select_invite!("WHERE sid = $1 AND account_sid = $2");
/// Looks up an invite by its SID alone.
pub(super) const INVITE_BY_SID: &str = select_invite!("WHERE sid = $1");

/// One invite through the sqlx pool (PostgreSQL; SQLite reads on its read pool, `hot/`).
pub(super) async fn fetch_invite(
    store: &Store,
    sql: &'static str,
    args: &[&str],
) -> Result<Option<InviteRecord>, StoreError> {
    let mut query = sqlx::query_as::<_, InviteRow>(sql);
    for arg in args {
        query = query.bind(*arg);
    }
    let row = query.fetch_optional(&store.pool).await?;
    row.map(InviteRecord::try_from).transpose()
}

impl Store {
    /// The invite's deliveries.
    pub async fn deliveries(&self, invite: &InviteSid) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(select_delivery!(
            "WHERE invite_sid = $1 ORDER BY registration_sid"
        ))
        .bind(invite.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }

    /// Up to `limit` open deliveries last written before `before`, in (`date_updated`, id)
    /// order after `from` (keyset paging: each page is bounded, however many are open).
    pub async fn open_deliveries_page(
        &self,
        before: i64,
        from: Option<(i64, DeliveryId)>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let (from_time, from_id) =
            from.map_or((i64::MIN, String::new()), |(t, id)| (t, id.to_string()));
        let rows: Vec<DeliveryRow> = sqlx::query_as(select_delivery!(
            "WHERE status IN ('queued', 'retrying') AND date_updated < $1 \
             AND (date_updated > $2 OR (date_updated = $2 AND id > $3)) \
             ORDER BY date_updated, id LIMIT $4"
        ))
        .bind(before)
        .bind(from_time)
        .bind(from_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }
}
