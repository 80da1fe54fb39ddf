//! What the operator console shows of an account's calls: the most recent invites with
//! their delivery tallies, and the pushes that settled in the last hour, accepted or failed
//! (by reason), per time bucket. Read-only; every query is bounded (see `store/activity.rs`).

use std::collections::BTreeMap;

use super::{InviteError, Invites};
use crate::clock::now_ms;
use crate::domain::{AccountSid, DeliveryStatus, InviteSid};
use crate::store::{DeliveryTally, InviteRecord};

/// Most recent invites the console lists.
pub const MAX_RECENT: i64 = 200;

/// Pushes settled in one bucket of the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Epoch ms of the bucket's start.
    pub start: i64,
    pub accepted: i64,
    /// Failed or expired.
    pub failed: i64,
}

/// The pushes settled over a window: per bucket, and the failures by reason.
#[derive(Debug, Clone, Default)]
pub struct PushActivity {
    pub buckets: Vec<Bucket>,
    /// Failed or expired pushes by provider reason (`expired` for expiries without one),
    /// most frequent first.
    pub failed_by_reason: Vec<(String, i64)>,
}

impl PushActivity {
    pub fn accepted(&self) -> i64 {
        self.buckets.iter().map(|b| b.accepted).sum()
    }

    pub fn failed(&self) -> i64 {
        self.buckets.iter().map(|b| b.failed).sum()
    }
}

impl Invites {
    /// The account's `limit` (at most [`MAX_RECENT`]) newest invites with their tallies.
    pub async fn recent(
        &self,
        account: &AccountSid,
        limit: i64,
    ) -> Result<Vec<(InviteRecord, DeliveryTally)>, InviteError> {
        Ok(self
            .store
            .recent_invites(account, limit.clamp(1, MAX_RECENT))
            .await?)
    }

    /// The account's invite `sid` as it is now, with its tally (for live updates).
    pub async fn with_tally(
        &self,
        account: &AccountSid,
        sid: &InviteSid,
    ) -> Result<(InviteRecord, DeliveryTally), InviteError> {
        let invite = self
            .store
            .invite(account, sid)
            .await?
            .ok_or(InviteError::NotFound)?;
        let tally = self.store.delivery_tally(sid).await?;
        Ok((invite, tally))
    }

    /// Pushes of the account settled over the last `buckets` × `bucket_ms` milliseconds.
    pub async fn push_activity(
        &self,
        account: &AccountSid,
        buckets: usize,
        bucket_ms: i64,
    ) -> Result<PushActivity, InviteError> {
        let now = now_ms();
        let since = now - buckets as i64 * bucket_ms;
        let counts = self
            .store
            .settled_outcomes(account, since, bucket_ms)
            .await?;
        let mut activity = PushActivity {
            buckets: (0..buckets)
                .map(|i| Bucket {
                    start: since + i as i64 * bucket_ms,
                    ..Bucket::default()
                })
                .collect(),
            failed_by_reason: Vec::new(),
        };
        let mut reasons = BTreeMap::<String, i64>::new();
        for c in counts {
            let Some(bucket) = usize::try_from(c.bucket)
                .ok()
                .and_then(|i| activity.buckets.get_mut(i))
            else {
                continue;
            };
            if c.status == DeliveryStatus::Accepted {
                bucket.accepted += c.count;
            } else {
                bucket.failed += c.count;
                let reason = c.reason.unwrap_or_else(|| c.status.as_str().to_owned());
                *reasons.entry(reason).or_default() += c.count;
            }
        }
        activity.failed_by_reason = reasons.into_iter().collect();
        activity
            .failed_by_reason
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(activity)
    }
}
