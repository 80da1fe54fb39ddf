//! Recording what happened to pushes: delivery outcomes, their effects on registrations and
//! credentials, and the invites' resulting status — many at once, in one transaction, so the
//! store keeps up with the push rate.

use super::{Store, StoreError, decode, sqlite};
use crate::domain::{
    CredentialSid, DeliveryId, DeliveryStatus, Environment, InviteSid, InviteStatus,
    RegistrationSid,
};

/// What a delivery's outcome does to its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEffect {
    /// APNs accepted a push: the registration is in use (resets its time to live).
    Touch,
    /// APNs accepted it in the other environment: remember that one, and touch.
    SetEnvironment(Environment),
    /// APNs says the token is dead since `since_ms`: delete the registration unless it was
    /// refreshed after that.
    Retire { since_ms: Option<i64> },
    /// A misconfiguration (e.g. token for another topic): stop sending, keep the row.
    Invalid { reason: String },
}

/// A delivery's new state.
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    pub id: DeliveryId,
    pub invite_sid: InviteSid,
    pub registration_sid: RegistrationSid,
    /// `retrying`, `accepted`, `failed` or `expired`.
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub environment: Environment,
    pub apns_status: Option<i64>,
    pub apns_reason: Option<String>,
    pub apns_id: Option<String>,
    pub accepted_at: Option<i64>,
    pub effect: Option<RegistrationEffect>,
    /// When the invite was created (epoch ms; for the first-push metric, not stored).
    pub invite_created: i64,
}

/// A credential APNs refused.
#[derive(Debug, Clone)]
pub struct CredentialRejection {
    pub sid: CredentialSid,
    pub reason: String,
}

/// What a recorded batch changed, for events, logs and metrics.
#[derive(Debug, Default)]
pub struct BatchResult {
    /// Invites whose status was recomputed.
    pub invites: Vec<InviteStatusChange>,
    /// Registrations deleted because APNs reported their token dead.
    pub retired: Vec<RegistrationSid>,
    /// Registrations kept despite a 410 because they were refreshed after its timestamp.
    pub kept: Vec<RegistrationSid>,
}

/// An invite whose status a batch of outcomes moved.
#[derive(Debug, Clone)]
pub struct InviteStatusChange {
    pub sid: InviteSid,
    pub status: InviteStatus,
    pub status_callback: Option<String>,
}

impl InviteStatusChange {
    pub(super) fn decode(
        (sid, status, status_callback): (String, String, Option<String>),
    ) -> Result<Self, StoreError> {
        Ok(Self {
            sid: InviteSid::trusted(sid),
            status: decode(&status)?,
            status_callback,
        })
    }
}

impl BatchResult {
    /// Notes a 410's effect on `registration`: retired if its row was deleted (`gone`), else
    /// kept (it was refreshed after the 410's timestamp).
    fn retire(&mut self, registration: &RegistrationSid, gone: u64) {
        let list = if gone > 0 {
            &mut self.retired
        } else {
            &mut self.kept
        };
        list.push(registration.clone());
    }
}

/// Recomputes the status of the invites whose SIDs are bound from `$2` on (`{}` is their
/// placeholder list), if still open.
const FINAL_CHECK: &str = "UPDATE invites SET status = CASE \
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.invite_sid = invites.sid \
      AND d.status = 'accepted') THEN 'delivered' \
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.invite_sid = invites.sid \
      AND d.status IN ('queued', 'retrying')) THEN 'sending' \
    WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.invite_sid = invites.sid \
      AND d.status = 'expired') THEN 'expired' \
    ELSE 'failed' END, date_updated = $1 \
    WHERE sid IN ({}) AND status IN ('queued', 'sending') \
    RETURNING sid, status, status_callback";

/// A delivery's new state; a final outcome is never overwritten (at-least-once delivery may
/// repeat one). The statements here are run by both backends.
const UPDATE_DELIVERY: &str = "UPDATE deliveries SET status = $1, attempts = $2, \
    environment = $3, apns_status = COALESCE($4, apns_status), \
    apns_reason = COALESCE($5, apns_reason), apns_id = COALESCE($6, apns_id), \
    accepted_at = COALESCE($7, accepted_at), date_updated = $8 \
    WHERE id = $9 AND status IN ('queued', 'retrying')";
const SET_ENVIRONMENT: &str =
    "UPDATE registrations SET last_used = $1, environment = $2 WHERE sid = $3";
const RETIRE: &str = "DELETE FROM registrations WHERE sid = $1 AND date_updated <= $2";
const INVALIDATE: &str =
    "UPDATE registrations SET state = 'invalid', state_reason = $1 WHERE sid = $2";
const REJECT_CREDENTIAL: &str = "UPDATE credentials SET rejected_reason = $1 WHERE sid = $2";

/// Sets `last_used` = `$1` on the registrations bound from `$2` on.
fn touch_sql(n: usize) -> String {
    format!(
        "UPDATE registrations SET last_used = $1 WHERE sid IN ({})",
        sid_list(n)
    )
}

/// SIDs per statement for the batched registration touches and invite status checks.
const SID_CHUNK: usize = 500;

/// `$2, $3, …` for `n` values.
fn sid_list(n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Records a batch of delivery outcomes and their effects in one transaction.
    pub async fn record_deliveries(
        &self,
        updates: &[DeliveryUpdate],
        rejections: &[CredentialRejection],
        now: i64,
    ) -> Result<BatchResult, StoreError> {
        if let Some(fast) = &self.fast {
            let gate = self.writer.clone().lock_owned().await;
            let (updates, rejections) = (updates.to_vec(), rejections.to_vec());
            return fast
                .write(gate, move |tx| {
                    record_deliveries_sqlite(tx, &updates, &rejections, now)
                })
                .await;
        }
        let mut result = BatchResult::default();
        let mut tx = self.begin_write().await?;
        let mut touched = Vec::new();
        let mut used = Vec::new();
        for u in updates {
            // A final outcome is never overwritten (at-least-once delivery may repeat one).
            sqlx::query(UPDATE_DELIVERY)
                .bind(u.status.as_str())
                .bind(u.attempts)
                .bind(u.environment.as_str())
                .bind(u.apns_status)
                .bind(u.apns_reason.clone())
                .bind(u.apns_id.clone())
                .bind(u.accepted_at)
                .bind(now)
                .bind(u.id.to_string())
                .execute(&mut *tx)
                .await?;
            if !touched.contains(&u.invite_sid) {
                touched.push(u.invite_sid.clone());
            }
            match &u.effect {
                None => {}
                // Written below in one statement: setting last_used commutes with the other
                // effects (a deleted row is simply not updated).
                Some(RegistrationEffect::Touch) => used.push(u.registration_sid.as_str()),
                Some(RegistrationEffect::SetEnvironment(env)) => {
                    sqlx::query(SET_ENVIRONMENT)
                        .bind(now)
                        .bind(env.as_str())
                        .bind(u.registration_sid.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                Some(RegistrationEffect::Retire { since_ms }) => {
                    let since = since_ms.unwrap_or(i64::MAX);
                    let gone = sqlx::query(RETIRE)
                        .bind(u.registration_sid.as_str())
                        .bind(since)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    result.retire(&u.registration_sid, gone as u64);
                }
                Some(RegistrationEffect::Invalid { reason }) => {
                    sqlx::query(INVALIDATE)
                        .bind(reason)
                        .bind(u.registration_sid.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        for r in rejections {
            sqlx::query(REJECT_CREDENTIAL)
                .bind(&r.reason)
                .bind(r.sid.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for chunk in used.chunks(SID_CHUNK) {
            let sql = touch_sql(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for sid in chunk {
                query = query.bind(*sid);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in touched.chunks(SID_CHUNK) {
            let sql = FINAL_CHECK.replace("{}", &sid_list(chunk.len()));
            let mut query =
                sqlx::query_as::<_, (String, String, Option<String>)>(sqlx::AssertSqlSafe(sql))
                    .bind(now);
            for sid in chunk {
                query = query.bind(sid.as_str());
            }
            for row in query.fetch_all(&mut *tx).await? {
                result.invites.push(InviteStatusChange::decode(row)?);
            }
        }
        tx.commit().await?;
        Ok(result)
    }

    /// Deletes registrations not refreshed or pushed to since `cutoff`; returns how many.
    pub async fn sweep_unused_registrations(&self, cutoff: i64) -> Result<u64, StoreError> {
        let gone = sqlx::query("DELETE FROM registrations WHERE last_used < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(gone)
    }
}

/// [`Store::record_deliveries`] on the SQLite writer thread, inside its transaction: the
/// same statements in the same order.
fn record_deliveries_sqlite(
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
            UPDATE_DELIVERY,
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
        match &u.effect {
            None => {}
            Some(RegistrationEffect::Touch) => used.push(u.registration_sid.as_str()),
            Some(RegistrationEffect::SetEnvironment(env)) => {
                let sid = u.registration_sid.as_str();
                sqlite::execute(tx, SET_ENVIRONMENT, &[&now, &env.as_str(), &sid])?;
            }
            Some(RegistrationEffect::Retire { since_ms }) => {
                let since = since_ms.unwrap_or(i64::MAX);
                let gone = sqlite::execute(tx, RETIRE, &[&u.registration_sid.as_str(), &since])?;
                result.retire(&u.registration_sid, gone as u64);
            }
            Some(RegistrationEffect::Invalid { reason }) => {
                sqlite::execute(tx, INVALIDATE, &[reason, &u.registration_sid.as_str()])?;
            }
        }
    }
    for r in rejections {
        sqlite::execute(tx, REJECT_CREDENTIAL, &[&r.reason, &r.sid.as_str()])?;
    }
    for chunk in used.chunks(SID_CHUNK) {
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&now];
        args.extend(chunk.iter().map(|sid| sid as &dyn rusqlite::ToSql));
        sqlite::execute(tx, &touch_sql(chunk.len()), &args)?;
    }
    for chunk in touched.chunks(SID_CHUNK) {
        let sql = FINAL_CHECK.replace("{}", &sid_list(chunk.len()));
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&now];
        args.extend(chunk.iter().map(|sid| sid as &dyn rusqlite::ToSql));
        let rows = sqlite::query(tx, &sql, &args, |r| {
            Ok((r.get("sid")?, r.get("status")?, r.get("status_callback")?))
        })?;
        for row in rows {
            result.invites.push(InviteStatusChange::decode(row)?);
        }
    }
    Ok(result)
}
