//! Recording what happened to pushes: delivery outcomes, their effects on registrations and
//! credentials, and the invites' resulting status — many at once, in one transaction, so the
//! store keeps up with the push rate.

use super::{Store, StoreError};

/// What a delivery's outcome does to its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEffect {
    /// APNs accepted a push: the registration is in use (resets its time to live).
    Touch,
    /// APNs accepted it in the other environment: remember that one, and touch.
    SetEnvironment(String),
    /// APNs says the token is dead since `since_ms`: delete the registration unless it was
    /// refreshed after that.
    Retire { since_ms: Option<i64> },
    /// A misconfiguration (e.g. token for another topic): stop sending, keep the row.
    Invalid { reason: String },
}

/// A delivery's new state.
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    pub id: String,
    pub invite_sid: String,
    pub registration_sid: String,
    /// `retrying`, `accepted`, `failed` or `expired`.
    pub status: &'static str,
    pub attempts: i64,
    pub environment: String,
    pub apns_status: Option<i64>,
    pub apns_reason: Option<String>,
    pub apns_id: Option<String>,
    pub accepted_at: Option<i64>,
    pub effect: Option<RegistrationEffect>,
}

/// A credential APNs refused.
#[derive(Debug, Clone)]
pub struct CredentialRejection {
    pub sid: String,
    pub reason: String,
}

/// What a recorded batch changed, for events, logs and metrics.
#[derive(Debug, Default)]
pub struct BatchResult {
    /// Invites whose status was recomputed: (sid, status, status callback URL).
    pub invites: Vec<(String, String, Option<String>)>,
    /// Registrations deleted because APNs reported their token dead.
    pub retired: Vec<String>,
    /// Registrations kept despite a 410 because they were refreshed after its timestamp.
    pub kept: Vec<String>,
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
        let mut result = BatchResult::default();
        let mut tx = self.begin_write().await?;
        let mut touched = Vec::new();
        let mut used = Vec::new();
        for u in updates {
            // A final outcome is never overwritten (at-least-once delivery may repeat one).
            sqlx::query(
                "UPDATE deliveries SET status = $1, attempts = $2, environment = $3, \
                 apns_status = COALESCE($4, apns_status), apns_reason = COALESCE($5, apns_reason), \
                 apns_id = COALESCE($6, apns_id), accepted_at = COALESCE($7, accepted_at), \
                 date_updated = $8 WHERE id = $9 AND status IN ('queued', 'retrying')",
            )
            .bind(u.status)
            .bind(u.attempts)
            .bind(&u.environment)
            .bind(u.apns_status)
            .bind(u.apns_reason.clone())
            .bind(u.apns_id.clone())
            .bind(u.accepted_at)
            .bind(now)
            .bind(&u.id)
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
                    sqlx::query(
                        "UPDATE registrations SET last_used = $1, environment = $2 WHERE sid = $3",
                    )
                    .bind(now)
                    .bind(env)
                    .bind(&u.registration_sid)
                    .execute(&mut *tx)
                    .await?;
                }
                Some(RegistrationEffect::Retire { since_ms }) => {
                    let since = since_ms.unwrap_or(i64::MAX);
                    let gone = sqlx::query(
                        "DELETE FROM registrations WHERE sid = $1 AND date_updated <= $2",
                    )
                    .bind(&u.registration_sid)
                    .bind(since)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let list = if gone > 0 {
                        &mut result.retired
                    } else {
                        &mut result.kept
                    };
                    list.push(u.registration_sid.clone());
                }
                Some(RegistrationEffect::Invalid { reason }) => {
                    sqlx::query(
                        "UPDATE registrations SET state = 'invalid', state_reason = $1 WHERE sid = $2",
                    )
                    .bind(reason)
                    .bind(&u.registration_sid)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for r in rejections {
            sqlx::query("UPDATE credentials SET rejected_reason = $1 WHERE sid = $2")
                .bind(&r.reason)
                .bind(&r.sid)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in used.chunks(SID_CHUNK) {
            let sql = format!(
                "UPDATE registrations SET last_used = $1 WHERE sid IN ({})",
                sid_list(chunk.len())
            );
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
            result.invites.extend(query.fetch_all(&mut *tx).await?);
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
