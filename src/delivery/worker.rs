//! Sending one delivery and acting on the classified outcome: record it, retry what is
//! transient within the invite's lifetime, retire dead tokens correctly, mark
//! misconfigurations, and stop using credentials APNs refuses.

use std::sync::Arc;

use crate::apns::{Notification, Outcome};
use crate::auth::bridge_token::BridgeTokens;
use crate::clock::now_ms;
use crate::domain::DeliveryStatus;
use crate::store::{CredentialRejection, DeliveryUpdate, RegistrationEffect};

use super::clients::{ClientError, Clients, Entry};
use super::job::DeliveryJob;
use super::payload::call_payload;
use super::queue::Queue;
use super::recorder::Recorder;
use super::retry;
use crate::metrics::Metrics;

/// What every worker shares.
pub struct Worker {
    pub clients: Arc<Clients>,
    pub recorder: Recorder,
    pub queue: Queue,
    pub bridge: BridgeTokens,
    /// Where APNs exchanges and retries are counted.
    pub metrics: Metrics,
}

impl Worker {
    /// Sends `job` and records what happened.
    pub async fn process(&self, mut job: DeliveryJob) {
        if now_ms() >= job.invite.expires_at {
            return self.finish(&job, DeliveryStatus::Expired, None, None);
        }
        let entry = match self
            .clients
            .get(&job.invite.account_sid, &job.credential_sid)
            .await
        {
            Ok(entry) => entry,
            Err(ClientError::Store(e)) => {
                tracing::warn!(error = %e, "credential lookup failed; will retry");
                return self.retry_or_expire(job, None, None);
            }
            Err(e) => {
                let reason = match &e {
                    ClientError::Deleted => "credential_deleted".to_owned(),
                    ClientError::Rejected(reason) => format!("credential_rejected: {reason}"),
                    other => other.to_string(),
                };
                return self.finish(&job, DeliveryStatus::Failed, None, Some((None, reason)));
            }
        };
        let mut switched = false;
        loop {
            job.attempts += 1;
            let sent = std::time::Instant::now();
            let outcome = entry.client.send(self.notification(&job, &entry)).await;
            observe_apns(&self.metrics, &job, &outcome, sent.elapsed());
            let apns = |o: &Outcome| {
                o.response().map(|r| {
                    (
                        Some(i64::from(r.status)),
                        r.reason.as_ref().map(|x| x.to_string()),
                    )
                })
            };
            match outcome {
                Outcome::Accepted { apns_id, .. } => {
                    let effect = if switched {
                        RegistrationEffect::SetEnvironment(job.environment)
                    } else {
                        RegistrationEffect::Touch
                    };
                    return self.record(
                        &job,
                        DeliveryStatus::Accepted,
                        Some(effect),
                        Some(200),
                        None,
                        apns_id,
                    );
                }
                Outcome::Retry {
                    after, ref cause, ..
                } => {
                    self.metrics
                        .apns_retries
                        .with_label_values(&[cause.label()])
                        .inc();
                    let (status, reason) = apns(&outcome).unwrap_or((None, None));
                    let reason = reason.or_else(|| Some(cause.label().to_owned()));
                    return self.retry_or_expire(job, after, Some((status, reason)));
                }
                Outcome::WrongEnvironment { .. } if entry.universal() && !switched => {
                    // The token may belong to the other environment: try there once.
                    switched = true;
                    job.environment = job.environment.other();
                }
                Outcome::WrongEnvironment { .. } => {
                    let effect = RegistrationEffect::Retire { since_ms: None };
                    return self.with_apns(&job, DeliveryStatus::Failed, Some(effect), &outcome);
                }
                Outcome::TokenDead { since_ms, .. } => {
                    let effect = RegistrationEffect::Retire { since_ms };
                    return self.with_apns(&job, DeliveryStatus::Failed, Some(effect), &outcome);
                }
                Outcome::NotForTopic { .. } => {
                    let effect = RegistrationEffect::Invalid {
                        reason: "DeviceTokenNotForTopic".into(),
                    };
                    return self.with_apns(&job, DeliveryStatus::Failed, Some(effect), &outcome);
                }
                Outcome::CredentialRejected { ref detail, .. } => {
                    let reason = outcome
                        .reason()
                        .map(|r| r.to_string())
                        .or_else(|| detail.clone())
                        .unwrap_or_else(|| "rejected".into());
                    tracing::error!(credential = %job.credential_sid, %reason,
                        "APNs rejected the credential; its pushes stop until it is rotated");
                    self.clients.mark_rejected(&job.credential_sid, &reason);
                    self.recorder.rejection(CredentialRejection {
                        sid: job.credential_sid.clone(),
                        reason,
                    });
                    return self.with_apns(&job, DeliveryStatus::Failed, None, &outcome);
                }
                Outcome::OurBug { .. } | Outcome::Refused { .. } => {
                    tracing::error!(delivery = %job.delivery_id, outcome = outcome.label(),
                        reason = ?outcome.reason(), "push refused as malformed: a pushgate bug");
                    return self.with_apns(&job, DeliveryStatus::Failed, None, &outcome);
                }
            }
        }
    }

    fn notification(&self, job: &DeliveryJob, entry: &Entry) -> Notification {
        let token = self.bridge.sign(
            &job.invite.sid,
            &job.registration_sid,
            job.invite.expires_at,
        );
        Notification {
            apns_id: Some(job.delivery_id.uuid()),
            expiration: Some((job.invite.expires_at / 1000).max(0) as u64),
            collapse_id: Some(job.invite.call_sid.to_string()),
            ..Notification::voip(
                job.device_token.as_hex().to_owned(),
                job.environment,
                entry.record.voip_topic.clone(),
                call_payload(job, &token),
            )
        }
    }

    fn retry_or_expire(
        &self,
        job: DeliveryJob,
        suggested: Option<std::time::Duration>,
        apns: Option<(Option<i64>, Option<String>)>,
    ) {
        let delay = retry::delay(job.attempts.max(1), suggested);
        let (status, reason) = apns.unwrap_or((None, None));
        if now_ms() + delay.as_millis() as i64 >= job.invite.expires_at {
            return self.record(
                &job,
                DeliveryStatus::Expired,
                None,
                status.map(|s| s as u16),
                reason,
                None,
            );
        }
        self.record_then(
            &job,
            DeliveryStatus::Retrying,
            None,
            (status.map(|s| s as u16), reason, None),
            Some(delay),
        );
    }

    fn with_apns(
        &self,
        job: &DeliveryJob,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        outcome: &Outcome,
    ) {
        let code = outcome.response().map(|r| r.status);
        let reason = outcome
            .reason()
            .map(|r| r.to_string())
            .or_else(|| Some(outcome.label().to_owned()));
        let apns_id = outcome.response().and_then(|r| r.apns_id);
        self.record(job, status, effect, code, reason, apns_id);
    }

    fn finish(
        &self,
        job: &DeliveryJob,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        reason: Option<(Option<u16>, String)>,
    ) {
        let (code, reason) = reason.map_or((None, None), |(c, r)| (c, Some(r)));
        self.record(job, status, effect, code, reason, None);
    }

    fn record(
        &self,
        job: &DeliveryJob,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        apns_status: Option<u16>,
        apns_reason: Option<String>,
        apns_id: Option<uuid::Uuid>,
    ) {
        self.record_then(
            job,
            status,
            effect,
            (apns_status, apns_reason, apns_id),
            None,
        );
    }

    /// Gives up on a stream entry handed out too often without an outcome: records the
    /// delivery as failed, then moves the entry to the dead-letter stream.
    pub fn dead_letter(&self, job: &DeliveryJob, reason: String) {
        tracing::error!(delivery = %job.delivery_id, invite = %job.invite.sid, %reason,
            "delivery dead-lettered");
        let then = match &self.queue {
            super::queue::Queue::Redis(q) => Some(q.dead_letter(job, reason.clone())),
            super::queue::Queue::Embedded(..) => None,
        };
        self.write(
            job,
            DeliveryStatus::Failed,
            None,
            (None, Some(reason), None),
            then,
        );
    }

    /// Records an outcome; once it is written, the queue acknowledges the job (and schedules
    /// the next attempt after `retry`).
    fn record_then(
        &self,
        job: &DeliveryJob,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        apns: (Option<u16>, Option<String>, Option<uuid::Uuid>),
        retry: Option<std::time::Duration>,
    ) {
        let then = self.queue.after_recorded(job, retry);
        self.write(job, status, effect, apns, then);
    }

    fn write(
        &self,
        job: &DeliveryJob,
        status: DeliveryStatus,
        effect: Option<RegistrationEffect>,
        (apns_status, apns_reason, apns_id): (Option<u16>, Option<String>, Option<uuid::Uuid>),
        then: Option<super::queue::OnWritten>,
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
                apns_id: apns_id.map(|u| u.to_string()),
                accepted_at,
                effect,
                invite_created: job.invite.date_created,
            },
            then,
        );
    }
}

/// APNs's documented statuses as a metric label; anything else (a misbehaving endpoint) is
/// `other`, so the label stays a closed set.
fn apns_status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        403 => "403",
        404 => "404",
        405 => "405",
        410 => "410",
        413 => "413",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// Counts and times one APNs exchange. (The invite's first push is timed by the recorder, when
/// the store moves the invite to `delivered` — exactly once, whichever replica sent it.)
fn observe_apns(
    metrics: &Metrics,
    job: &DeliveryJob,
    outcome: &Outcome,
    elapsed: std::time::Duration,
) {
    let env = job.environment.as_str();
    let (status, reason) = match outcome.response() {
        _ if outcome.is_accepted() => ("200".to_owned(), ""),
        Some(r) => (
            apns_status_label(r.status).to_owned(),
            match &r.reason {
                Some(reason) if reason.is_unknown() => "other",
                Some(reason) => reason.as_str(),
                None => "",
            },
        ),
        None => ("none".to_owned(), outcome.label()),
    };
    metrics
        .apns_requests
        .with_label_values(&[env, &status, reason])
        .inc();
    metrics
        .apns_duration
        .with_label_values(&[env])
        .observe(elapsed.as_secs_f64());
}
