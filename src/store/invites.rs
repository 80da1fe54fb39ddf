//! Call invites and their per-device deliveries: the outbox written in one transaction when
//! an invite is accepted, read back to resume work after a restart.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use rusqlite::ToSql;

use super::{Store, StoreError, decode, sqlite};
use crate::domain::{
    AccountSid, ApiKeySid, CallEnd, CallSid, CancelPush, CredentialSid, DeliveryId, DeliveryStatus,
    DeviceToken, Environment, Identity, InviteSid, InviteStatus, Platform, RegistrationSid,
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
            "SELECT id, invite_sid, registration_sid, credential_sid, platform, device_token, \
             environment, status, attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated \
             FROM deliveries ",
            $tail
        )
    };
}

/// Rows per multi-row INSERT (13 parameters each keeps well under SQLite's limit).
const INSERT_CHUNK: usize = 200;
/// Invites per multi-row INSERT (10 parameters each).
const INVITE_CHUNK: usize = 200;

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

/// Inserts `rows` invites (12 values each; `date_updated` = `date_created`), skipping call
/// SIDs the account already has, and returns the SIDs written. Run by both backends: `$n`
/// placeholders work on both (sqlx's builder would emit `?` for Any).
fn insert_invites_sql(rows: usize) -> String {
    let rows: Vec<String> = (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=12).map(|c| format!("${}", r * 12 + c)).collect();
            // date_updated = date_created
            format!("({}, ${})", cols.join(", "), r * 12 + 12)
        })
        .collect();
    format!(
        "INSERT INTO invites (sid, account_sid, call_sid, to_identity, caller, params, \
         status, status_callback, api_key_sid, cancel_push, expires_at, date_created, \
         date_updated) VALUES {} \
         ON CONFLICT (account_sid, call_sid) DO NOTHING RETURNING sid",
        rows.join(", ")
    )
}

/// Inserts `rows` deliveries (10 values each). Run by both backends.
fn insert_deliveries_sql(rows: usize) -> String {
    format!(
        "INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, platform, \
         device_token, environment, status, attempts, date_updated) VALUES {}",
        placeholders(rows, 10)
    )
}

/// An optional text as an owned SQLite value.
fn owned_text(v: Option<&str>) -> rusqlite::types::ToSqlOutput<'static> {
    rusqlite::types::ToSqlOutput::Owned(v.map(str::to_owned).into())
}

/// The stored form of `cancel_push`: NULL for `none`, as earlier versions wrote it.
fn cancel_push_column(c: CancelPush) -> Option<&'static str> {
    (c != CancelPush::None).then(|| c.as_str())
}

/// Looks up an invite by account and call SID. Run by both backends.
const INVITE_BY_CALL: &str = select_invite!("WHERE account_sid = $1 AND call_sid = $2");

impl InviteRow {
    /// A row of [`select_invite!`] read by rusqlite.
    fn from_rusqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
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
            expires_at: r.get("expires_at")?,
            date_created: r.get("date_created")?,
            date_updated: r.get("date_updated")?,
        })
    }
}

/// Rows per INSERT on the SQLite writer thread.
const SQLITE_CHUNK: usize = 1;

/// [`Store::write_invites`] on the SQLite writer thread, inside its transaction.
fn write_invites_sqlite(
    tx: &rusqlite::Connection,
    batch: &[(InviteRecord, Vec<DeliveryRecord>)],
) -> Result<Vec<CreateInvite>, StoreError> {
    let mut inserted = HashSet::new();
    // One cached single-row statement per row: no round trips to save on this thread, and
    // multi-row statements of each new size would be parsed again.
    for chunk in batch.chunks(SQLITE_CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 12);
        for (invite, _) in chunk {
            args.extend([
                invite.sid.as_str().to_sql()?,
                invite.account_sid.as_str().to_sql()?,
                invite.call_sid.as_str().to_sql()?,
                invite.to_identity.as_str().to_sql()?,
                invite.caller.to_sql()?,
                invite.params.to_sql()?,
                invite.status.as_str().to_sql()?,
                invite.status_callback.to_sql()?,
                owned_text(invite.api_key_sid.as_ref().map(|k| k.as_str())),
                owned_text(cancel_push_column(invite.cancel_push)),
                invite.expires_at.to_sql()?,
                invite.date_created.to_sql()?,
            ]);
        }
        let args: Vec<&dyn ToSql> = args.iter().map(|a| a as &dyn ToSql).collect();
        inserted.extend(sqlite::query(
            tx,
            &insert_invites_sql(chunk.len()),
            &args,
            |r| r.get::<_, String>(0),
        )?);
    }
    let deliveries: Vec<&DeliveryRecord> = batch
        .iter()
        .filter(|(invite, _)| inserted.contains(invite.sid.as_str()))
        .flat_map(|(_, deliveries)| deliveries.iter())
        .collect();
    for chunk in deliveries.chunks(SQLITE_CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 10);
        let ids: Vec<String> = chunk.iter().map(|d| d.id.to_string()).collect();
        for (d, id) in chunk.iter().zip(&ids) {
            args.extend([
                id.as_str().to_sql()?,
                d.invite_sid.as_str().to_sql()?,
                d.registration_sid.as_str().to_sql()?,
                d.credential_sid.as_str().to_sql()?,
                d.platform.as_str().to_sql()?,
                d.device_token.as_hex().to_sql()?,
                d.environment.as_str().to_sql()?,
                d.status.as_str().to_sql()?,
                d.attempts.to_sql()?,
                d.date_updated.to_sql()?,
            ]);
        }
        let args: Vec<&dyn ToSql> = args.iter().map(|a| a as &dyn ToSql).collect();
        sqlite::execute(tx, &insert_deliveries_sql(chunk.len()), &args)?;
    }
    let mut results = Vec::with_capacity(batch.len());
    for (invite, _) in batch {
        if inserted.contains(invite.sid.as_str()) {
            results.push(CreateInvite::Created);
            continue;
        }
        let existing = sqlite::query(
            tx,
            INVITE_BY_CALL,
            &[&invite.account_sid.as_str(), &invite.call_sid.as_str()],
            InviteRow::from_rusqlite,
        )?
        .into_iter()
        .map(InviteRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .next()
        .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        results.push(CreateInvite::Existing(Box::new(existing)));
    }
    Ok(results)
}

/// Most invites written in one group commit.
const GROUP_MAX: usize = 256;

/// An invite waiting for the group committer.
struct Pending {
    invite: InviteRecord,
    deliveries: Vec<DeliveryRecord>,
    done: oneshot::Sender<Result<CreateInvite, StoreError>>,
}

/// Handle to the task that writes concurrent invites together (see
/// [`Store::create_invite`]). The task ends when every handle is dropped.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit(mpsc::UnboundedSender<Pending>);

impl GroupCommit {
    /// Starts the committer on `store` (a handle without a committer of its own).
    pub(super) fn spawn(store: Store) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let pairs: Vec<_> = batch
                    .iter()
                    .map(|p| (&p.invite, &p.deliveries[..]))
                    .collect();
                match store.write_invites(&pairs).await {
                    Ok(results) => {
                        for (p, result) in batch.into_iter().zip(results) {
                            let _ = p.done.send(Ok(result));
                        }
                    }
                    // Alone, each invite gets its own outcome: one bad row can't fail others.
                    Err(_) if batch.len() > 1 => {
                        for p in batch {
                            let result = store.write_invites(&[(&p.invite, &p.deliveries)]).await;
                            let _ = p.done.send(result.map(|mut r| r.remove(0)));
                        }
                    }
                    Err(e) => {
                        if let Some(p) = batch.pop() {
                            let _ = p.done.send(Err(e));
                        }
                    }
                }
            }
        });
        GroupCommit(tx)
    }
}

impl Store {
    /// Writes an invite and its deliveries in one transaction — unless the account already
    /// has an invite with this call SID, which is then returned and nothing is written.
    ///
    /// Concurrent calls are written together (group commit): a task takes every invite
    /// waiting and writes them with multi-row INSERTs in one transaction, so a burst costs a
    /// few statements and one commit instead of four round trips and a commit each, while
    /// the write lock is held. Each call still returns only once its invite is committed.
    pub async fn create_invite(
        &self,
        invite: &InviteRecord,
        deliveries: &[DeliveryRecord],
    ) -> Result<CreateInvite, StoreError> {
        if let Some(GroupCommit(group)) = &self.invites {
            let (done, wait) = oneshot::channel();
            let pending = Pending {
                invite: invite.clone(),
                deliveries: deliveries.to_vec(),
                done,
            };
            if group.send(pending).is_ok()
                && let Ok(result) = wait.await
            {
                return result;
            }
            // The committer is gone (its runtime ended): write directly.
        }
        let mut results = self.write_invites(&[(invite, deliveries)]).await?;
        Ok(results.remove(0))
    }

    /// Writes invites and their deliveries in one transaction; an invite whose call SID the
    /// account already has (or that repeats one earlier in `batch`) is not written, and its
    /// result is the existing invite.
    async fn write_invites(
        &self,
        batch: &[(&InviteRecord, &[DeliveryRecord])],
    ) -> Result<Vec<CreateInvite>, StoreError> {
        if let Some(fast) = &self.fast {
            let gate = self.writer.clone().lock_owned().await;
            let batch: Vec<(InviteRecord, Vec<DeliveryRecord>)> = batch
                .iter()
                .map(|(invite, deliveries)| ((*invite).clone(), deliveries.to_vec()))
                .collect();
            return fast
                .write(gate, move |tx| write_invites_sqlite(tx, &batch))
                .await;
        }
        let mut tx = self.begin_write().await?;
        let mut inserted = HashSet::new();
        for chunk in batch.chunks(INVITE_CHUNK) {
            let sql = insert_invites_sql(chunk.len());
            let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
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
                    .bind(cancel_push_column(invite.cancel_push))
                    .bind(invite.expires_at)
                    .bind(invite.date_created);
            }
            inserted.extend(
                query
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|(sid,)| sid),
            );
        }
        let deliveries: Vec<&DeliveryRecord> = batch
            .iter()
            .filter(|(invite, _)| inserted.contains(invite.sid.as_str()))
            .flat_map(|(_, deliveries)| deliveries.iter())
            .collect();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let sql = insert_deliveries_sql(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
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
            let existing = self
                .invite_by_call(&invite.account_sid, &invite.call_sid)
                .await?
                .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
            results.push(CreateInvite::Existing(Box::new(existing)));
        }
        Ok(results)
    }

    /// The account's invite with this call SID.
    pub async fn invite_by_call(
        &self,
        account: &AccountSid,
        call: &CallSid,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let row: Option<InviteRow> = sqlx::query_as(INVITE_BY_CALL)
            .bind(account.as_str())
            .bind(call.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(InviteRecord::try_from).transpose()
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
        row.map(InviteRecord::try_from).transpose()
    }

    /// An invite by SID alone (for the delivery engine).
    pub async fn invite_by_sid(&self, sid: &InviteSid) -> Result<Option<InviteRecord>, StoreError> {
        let row: Option<InviteRow> = sqlx::query_as(select_invite!("WHERE sid = $1"))
            .bind(sid.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(InviteRecord::try_from).transpose()
    }

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

    /// Invites still ringing (or about to), for resuming their expiry timers.
    pub async fn open_invites(&self) -> Result<Vec<InviteRecord>, StoreError> {
        let rows: Vec<InviteRow> = sqlx::query_as(select_invite!(
            "WHERE status IN ('queued', 'sending', 'delivered')"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(InviteRecord::try_from).collect()
    }

    /// Moves an open invite (queued, sending or delivered, not past `expires_at` unless
    /// `to` is `expired`) to the final state `to`, recording who answered. Returns the
    /// updated invite, or `None` if it was no longer open (someone else ended it first).
    pub async fn end_invite(
        &self,
        sid: &InviteSid,
        to: CallEnd,
        answered_by: Option<&RegistrationSid>,
        now: i64,
    ) -> Result<Option<InviteRecord>, StoreError> {
        let ended = sqlx::query(
            "UPDATE invites SET status = $1, answered_by = $2, date_updated = $3 \
             WHERE sid = $4 AND status IN ('queued', 'sending', 'delivered') \
             AND (expires_at > $3 OR $1 = 'expired')",
        )
        .bind(to.as_str())
        .bind(answered_by.map(|r| r.as_str()))
        .bind(now)
        .bind(sid.as_str())
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
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }
}
