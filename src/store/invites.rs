//! Call invites and their per-device deliveries: the outbox written in one transaction when
//! an invite is accepted, read back to resume work after a restart.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use rusqlite::ToSql;

use super::{Store, StoreError, sqlite};
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
    /// The API key that created the invite (callbacks are signed with the account's webhook
    /// secret, not with this key).
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
pub(super) struct DeliveryRow {
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

/// Inserts `rows` deliveries (9 values each). Run by both backends.
fn insert_deliveries_sql(rows: usize) -> String {
    format!(
        "INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, \
         device_token, environment, status, attempts, date_updated) VALUES {}",
        placeholders(rows, 9)
    )
}

/// Looks up an invite by account and call SID. Run by both backends.
const INVITE_BY_CALL: &str = select_invite!("WHERE account_sid = $1 AND call_sid = $2");

impl InviteRow {
    /// A row of [`select_invite!`] read by rusqlite (columns in its order).
    fn from_rusqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            sid: r.get(0)?,
            account_sid: r.get(1)?,
            call_sid: r.get(2)?,
            to_identity: r.get(3)?,
            caller: r.get(4)?,
            params: r.get(5)?,
            status: r.get(6)?,
            status_callback: r.get(7)?,
            api_key_sid: r.get(8)?,
            answered_by: r.get(9)?,
            cancel_push: r.get(10)?,
            expires_at: r.get(11)?,
            date_created: r.get(12)?,
            date_updated: r.get(13)?,
        })
    }
}

/// Rows per INSERT on the SQLite writer thread.
const SQLITE_CHUNK: usize = 1;

/// [`Store::write_invites`] on the SQLite writer thread, inside its transaction.
fn write_invites_sqlite(
    tx: &rusqlite::Connection,
    batch: &[(InviteRecord, Vec<DeliveryRecord>)],
) -> rusqlite::Result<Vec<CreateInvite>> {
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
                invite.status.to_sql()?,
                invite.status_callback.to_sql()?,
                invite.api_key_sid.to_sql()?,
                invite.cancel_push.to_sql()?,
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
        let mut args = Vec::with_capacity(chunk.len() * 9);
        for d in chunk {
            args.extend([
                d.id.to_sql()?,
                d.invite_sid.to_sql()?,
                d.registration_sid.to_sql()?,
                d.credential_sid.to_sql()?,
                d.device_token.to_sql()?,
                d.environment.to_sql()?,
                d.status.to_sql()?,
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
        .next()
        .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        results.push(CreateInvite::Existing(Box::new(existing.into())));
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
                .write(gate, move |tx| {
                    write_invites_sqlite(tx, &batch).map_err(sqlite::map_err)
                })
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
                    .bind(&invite.status)
                    .bind(invite.status_callback.clone())
                    .bind(invite.api_key_sid.clone())
                    .bind(invite.cancel_push.clone())
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
