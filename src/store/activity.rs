//! What an operator looks at (the console): an account's recent invites with each one's
//! delivery tally, its settled pushes of the last hour by outcome and reason, and its
//! registrations counted by platform, environment and state. Every query is bounded: by a
//! `LIMIT`, or by the `invites_recent` index on `(account_sid, date_created)` (migration 0016).

use sqlx::Row as _;

use super::invites::{InviteRow, invite_columns};
use super::{InviteRecord, RegistrationCount, Store, StoreError, decode};
use crate::domain::{AccountSid, CredentialSid, DeliveryStatus, InviteSid};

/// How many of an invite's deliveries are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryTally {
    pub open: i64,
    pub accepted: i64,
    pub failed: i64,
    pub expired: i64,
}

impl DeliveryTally {
    /// Counts `n` deliveries of `status`.
    pub fn add(&mut self, status: DeliveryStatus, n: i64) {
        match status {
            DeliveryStatus::Queued | DeliveryStatus::Retrying => self.open += n,
            DeliveryStatus::Accepted => self.accepted += n,
            DeliveryStatus::Failed => self.failed += n,
            DeliveryStatus::Expired => self.expired += n,
        }
    }

    /// Every delivery counted.
    pub fn total(&self) -> i64 {
        self.open + self.accepted + self.failed + self.expired
    }
}

/// Settled pushes of one outcome and reason within one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    /// Index of the bucket from the window's start (0 = oldest).
    pub bucket: i64,
    pub status: DeliveryStatus,
    /// The provider's reason (APNs `reason`, FCM `errorCode`, or pushgate's label).
    pub reason: Option<String>,
    pub count: i64,
}

/// Registrations counted by platform, environment and state, and whether the count stopped
/// at its bound.
#[derive(Debug, Clone, Default)]
pub struct AccountRegistrationCounts {
    pub counts: Vec<RegistrationCount>,
    pub truncated: bool,
}

/// The longest an invite rings (`MAX_TTL`): deliveries settling in a window belong to
/// invites created at most this long before it.
const MAX_RING_MS: i64 = 300_000;

impl Store {
    /// The account's `limit` most recent invites, newest first, each with its tally.
    pub async fn recent_invites(
        &self,
        account: &AccountSid,
        limit: i64,
    ) -> Result<Vec<(InviteRecord, DeliveryTally)>, StoreError> {
        let sql = concat!(
            "SELECT ",
            invite_columns!(),
            " FROM invites WHERE account_sid = $1 ORDER BY date_created DESC, sid DESC LIMIT $2"
        );
        let rows: Vec<InviteRow> = sqlx::query_as(sql)
            .bind(account.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let tallies = sqlx::query(
            "SELECT invite_sid, status, COUNT(*) AS n FROM deliveries WHERE invite_sid IN \
             (SELECT sid FROM invites WHERE account_sid = $1 \
              ORDER BY date_created DESC, sid DESC LIMIT $2) \
             GROUP BY invite_sid, status",
        )
        .bind(account.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut by_invite = std::collections::HashMap::<String, DeliveryTally>::new();
        for r in &tallies {
            let status: String = r.try_get("status")?;
            by_invite
                .entry(r.try_get("invite_sid")?)
                .or_default()
                .add(decode(&status)?, r.try_get("n")?);
        }
        rows.into_iter()
            .map(|row| {
                let invite = InviteRecord::try_from(row)?;
                let tally = by_invite.remove(invite.sid.as_str()).unwrap_or_default();
                Ok((invite, tally))
            })
            .collect()
    }

    /// The tally of one invite's deliveries.
    pub async fn delivery_tally(&self, invite: &InviteSid) -> Result<DeliveryTally, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE invite_sid = $1 GROUP BY status",
        )
        .bind(invite.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut tally = DeliveryTally::default();
        for r in &rows {
            let status: String = r.try_get("status")?;
            tally.add(decode(&status)?, r.try_get("n")?);
        }
        Ok(tally)
    }

    /// The account's deliveries that settled (accepted, failed, expired) from `since` (epoch
    /// ms), counted per `bucket_ms` bucket, outcome and reason.
    pub async fn settled_outcomes(
        &self,
        account: &AccountSid,
        since: i64,
        bucket_ms: i64,
    ) -> Result<Vec<OutcomeCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT (d.date_updated - $2) / $3 AS bucket, d.status AS status, \
             d.apns_reason AS reason, COUNT(*) AS n \
             FROM deliveries d JOIN invites i ON i.sid = d.invite_sid \
             WHERE i.account_sid = $1 AND i.date_created >= $4 AND d.date_updated >= $2 \
             AND d.status IN ('accepted', 'failed', 'expired') \
             GROUP BY 1, 2, 3",
        )
        .bind(account.as_str())
        .bind(since)
        .bind(bucket_ms.max(1))
        .bind(since - MAX_RING_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                Ok(OutcomeCount {
                    bucket: r.try_get("bucket")?,
                    status: decode(&status)?,
                    reason: r.try_get("reason")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// The account's registrations by platform, environment and state, counting at most
    /// `cap` rows (`truncated` when there were more).
    pub async fn account_registration_counts(
        &self,
        account: &AccountSid,
        cap: i64,
    ) -> Result<AccountRegistrationCounts, StoreError> {
        let rows = sqlx::query(
            "SELECT platform, environment, state, COUNT(*) AS n FROM \
             (SELECT binding_type AS platform, COALESCE(environment, 'default') AS environment, \
              state FROM registrations WHERE account_sid = $1 LIMIT $2) r \
             GROUP BY platform, environment, state ORDER BY platform, environment, state",
        )
        .bind(account.as_str())
        .bind(cap + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut out = AccountRegistrationCounts::default();
        let mut seen = 0;
        for r in &rows {
            let platform: String = r.try_get("platform")?;
            let environment: String = r.try_get("environment")?;
            let state: String = r.try_get("state")?;
            let count: i64 = r.try_get("n")?;
            seen += count;
            out.counts.push(RegistrationCount {
                platform: decode(&platform)?,
                environment: match environment.as_str() {
                    "default" => None,
                    other => Some(decode(other)?),
                },
                state: decode(&state)?,
                count,
            });
        }
        out.truncated = seen > cap;
        Ok(out)
    }

    /// How many registrations use the account's credential `sid` (what deleting it removes).
    pub async fn credential_registrations(
        &self,
        account: &AccountSid,
        sid: &CredentialSid,
    ) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM registrations WHERE account_sid = $1 AND credential_sid = $2",
        )
        .bind(account.as_str())
        .bind(sid.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }
}
