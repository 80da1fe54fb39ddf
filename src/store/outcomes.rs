//! Recording what happened to pushes: delivery outcomes, their effects on registrations and
//! credentials, and the invites' resulting status — many at once, in one transaction, so the
//! store keeps up with the push rate.

use super::{Store, StoreError, decode};
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

/// A row returned by a status update: `RETURNING sid, status, status_callback`.
#[derive(sqlx::FromRow)]
pub(super) struct StatusRow {
    pub(super) sid: String,
    pub(super) status: String,
    pub(super) status_callback: Option<String>,
}

impl TryFrom<StatusRow> for InviteStatusChange {
    type Error = StoreError;
    fn try_from(r: StatusRow) -> Result<Self, StoreError> {
        Ok(Self {
            sid: InviteSid::trusted(r.sid),
            status: decode(&r.status)?,
            status_callback: r.status_callback,
        })
    }
}

impl BatchResult {
    /// Notes a 410's effect on `registration`: retired if its row was deleted (`gone`), else
    /// kept (it was refreshed after the 410's timestamp).
    pub(super) fn retire(&mut self, registration: &RegistrationSid, gone: u64) {
        let list = if gone > 0 {
            &mut self.retired
        } else {
            &mut self.kept
        };
        list.push(registration.clone());
    }
}

impl Store {
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
