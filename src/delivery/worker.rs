//! Sending one delivery and acting on the classified outcome: record it, retry what is
//! transient within the invite's lifetime, retire dead tokens correctly, mark
//! misconfigurations, and stop using credentials the provider refuses. The worker gets a
//! [`Delivery`] and settles it through its acker: it never knows which queue fed it, nor
//! (beyond the outcome enum) which provider sent it.

use std::time::Duration;

use crate::clock::now_ms;
use crate::domain::{DeliveryStatus, Platform};
use crate::store::{CredentialRejection, DeliveryUpdate, RegistrationEffect};

use super::clients::ClientError;
use super::job::DeliveryJob;
use super::queue::{Acker, Delivery, OnWritten};
use super::recorder::Recorder;
use super::retry;
use super::sender::Senders;
use super::verdict::{Answer, Verdict};
use crate::metrics::Metrics;

/// A provider's answer as stored: status code, reason, the provider's id of the push.
type Response = (Option<u16>, Option<String>, Option<String>);

/// What every worker shares.
pub struct Worker {
    pub senders: Senders,
    pub recorder: Recorder,
    /// Where retries are counted.
    pub metrics: Metrics,
}

impl Worker {
    /// Sends the delivery's push and records what happened.
    pub async fn process(&self, Delivery { mut job, acker }: Delivery) {
        if let Some(reason) = acker.give_up() {
            let reason = reason.to_owned();
            return self.dead_letter(&job, acker, reason);
        }
        if now_ms() >= job.invite.expires_at {
            return self.finish(&job, acker, DeliveryStatus::Expired, None, None);
        }
        let sender = self.senders.for_job(&job);
        let sent = match sender.send(&job).await {
            Ok(sent) => sent,
            Err(ClientError::Store(e)) => {
                tracing::warn!(error = %e, "credential lookup failed; will retry");
                return self.retry_or_expire(job, acker, None, None);
            }
            Err(e) => {
                let reason = match &e {
                    ClientError::Deleted => "credential_deleted".to_owned(),
                    ClientError::Rejected(reason) => format!("credential_rejected: {reason}"),
                    other => other.to_string(),
                };
                return self.finish(
                    &job,
                    acker,
                    DeliveryStatus::Failed,
                    None,
                    Some((None, reason)),
                );
            }
        };
        job.attempts += sent.pushes;
        if let Some(environment) = sent.moved_to {
            job.environment = environment;
        }
        match sent.verdict {
            Verdict::Accepted { provider_id } => {
                let effect = if sent.moved_to.is_some() {
                    RegistrationEffect::SetEnvironment(job.environment)
                } else {
                    RegistrationEffect::Touch
                };
                let then = acker.done(&job);
                self.write(
                    &job,
                    DeliveryStatus::Accepted,
                    Some(effect),
                    (Some(200), None, provider_id),
                    then,
                );
            }
            Verdict::Retry {
                cause,
                after,
                answer,
            } => {
                let retries = match job.platform {
                    Platform::Apns => &self.metrics.apns_retries,
                    Platform::Fcm => &self.metrics.fcm_retries,
                };
                retries.with_label_values(&[cause]).inc();
                let status = answer.status.map(i64::from);
                self.retry_or_expire(job, acker, after, Some((status, answer.reason)));
            }
            Verdict::RetireToken { since_ms, answer } => {
                let effect = RegistrationEffect::Retire { since_ms };
                self.answered(&job, acker, DeliveryStatus::Failed, Some(effect), answer);
            }
            Verdict::InvalidRegistration { reason, answer } => {
                let effect = RegistrationEffect::Invalid { reason };
                self.answered(&job, acker, DeliveryStatus::Failed, Some(effect), answer);
            }
            Verdict::CredentialRejected { reason, answer } => {
                tracing::error!(credential = %job.credential_sid, platform = %job.platform,
                    %reason, "the provider rejected the credential; its pushes stop until it \
                    is rotated");
                sender.credential_rejected(&job.credential_sid, &reason);
                self.recorder.rejection(CredentialRejection {
                    sid: job.credential_sid.clone(),
                    reason,
                });
                self.answered(&job, acker, DeliveryStatus::Failed, None, answer);
            }
            Verdict::Failed { answer } => {
                tracing::error!(delivery = %job.delivery_id, platform = %job.platform,
                    status = ?answer.status, reason = ?answer.reason,
                    "push refused as malformed: a pushgate bug");
                self.answered(&job, acker, DeliveryStatus::Failed, None, answer);
            }
        }
    }

    fn retry_or_expire(
        &self,
        job: DeliveryJob,
        acker: Acker,
        suggested: Option<Duration>,
        response: Option<(Option<i64>, Option<String>)>,
    ) {
        let delay = retry::delay(job.attempts.max(1), suggested);
        let (status, reason) = response.unwrap_or((None, None));
        let status = status.map(|s| s as u16);
        if now_ms() + delay.as_millis() as i64 >= job.invite.expires_at {
            let then = acker.done(&job);
            return self.write(
                &job,
                DeliveryStatus::Expired,
                None,
                (status, reason, None),
                then,
            );
        }
        // Settled before writing: the embedded queue arms its timer at once; Redis schedules
        // the retry together with the acknowledgement, once the outcome is written.
        let then = acker.retry(&job, delay);
        self.write(
            &job,
            DeliveryStatus::Retrying,
            None,
            (status, reason, None),
            then,
        );
    }

    fn answered(
        &self,
        job: &DeliveryJob,
        acker: Acker,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        answer: Answer,
    ) {
        let then = acker.done(job);
        let response = (answer.status, answer.reason, answer.provider_id);
        self.write(job, status, effect, response, then);
    }

    fn finish(
        &self,
        job: &DeliveryJob,
        acker: Acker,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        reason: Option<(Option<u16>, String)>,
    ) {
        let (code, reason) = reason.map_or((None, None), |(c, r)| (c, Some(r)));
        let then = acker.done(job);
        self.write(job, status, effect, (code, reason, None), then);
    }

    /// Gives up on a delivery its queue handed out too often without an outcome: records it
    /// as failed, then the queue keeps it as a dead letter.
    fn dead_letter(&self, job: &DeliveryJob, acker: Acker, reason: String) {
        tracing::error!(delivery = %job.delivery_id, invite = %job.invite.sid, %reason,
            "delivery dead-lettered");
        let then = acker.dead_letter(job, reason.clone());
        self.write(
            job,
            DeliveryStatus::Failed,
            None,
            (None, Some(reason), None),
            then,
        );
    }

    /// Queues an outcome for writing; `then` (the queue's acknowledgement) runs once it is in
    /// the store.
    fn write(
        &self,
        job: &DeliveryJob,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        (apns_status, apns_reason, apns_id): Response,
        then: Option<OnWritten>,
    ) {
        let accepted_at = (status == DeliveryStatus::Accepted).then(now_ms);
        if !matches!(status, DeliveryStatus::Accepted | DeliveryStatus::Retrying) {
            tracing::info!(delivery = %job.delivery_id, invite = %job.invite.sid,
                token = %job.device_token.short(),
                status = status.as_str(), reason = ?apns_reason, "delivery final");
        }
        self.recorder.delivery(
            DeliveryUpdate {
                id: job.delivery_id,
                invite_sid: job.invite.sid.clone(),
                registration_sid: job.registration_sid.clone(),
                status,
                attempts: i64::from(job.attempts),
                environment: job.environment,
                apns_status: apns_status.map(i64::from),
                apns_reason,
                apns_id,
                accepted_at,
                effect,
                invite_created: job.invite.date_created,
            },
            then,
        );
    }
}
