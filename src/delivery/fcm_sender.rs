//! The FCM [`PushSender`]: the credential's access-token source from [`FcmCredentials`], the
//! call as a high-priority data message (the same `twi_*` keys as the APNs payload, every
//! value a string; `ttl` = the seconds the call has left, `collapse_key` = the call SID),
//! FCM's classified answer turned into a [`Verdict`], and the FCM request metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::clients::ClientError;
use super::fcm_clients::FcmCredentials;
use super::job::DeliveryJob;
use super::payload::call_fields;
use super::sender::{PushSender, Sent};
use super::verdict::{Answer, Verdict};
use crate::auth::bridge_token::BridgeTokens;
use crate::clock::now_ms;
use crate::domain::CredentialSid;
use crate::fcm::{CredentialReason, FcmMessage, FcmOutcome, FcmResponse, Priority};
use crate::metrics::Metrics;

/// Sends through this process's FCM client with each credential's access tokens.
pub struct FcmSender {
    credentials: Arc<FcmCredentials>,
    bridge: BridgeTokens,
    metrics: Metrics,
}

impl FcmSender {
    /// A sender over `credentials`, signing bridge tokens with `bridge`, counting FCM
    /// exchanges in `metrics`.
    pub fn new(credentials: Arc<FcmCredentials>, bridge: BridgeTokens, metrics: Metrics) -> Self {
        Self {
            credentials,
            bridge,
            metrics,
        }
    }
}

impl PushSender for FcmSender {
    fn send<'a>(&'a self, job: &'a DeliveryJob) -> BoxFuture<'a, Result<Sent, ClientError>> {
        Box::pin(async move {
            let entry = self
                .credentials
                .get(&job.invite.account_sid, &job.credential_sid)
                .await?;
            let message = call_message(job, &self.bridge);
            let started = Instant::now();
            let sent_at = now_ms();
            let outcome = self
                .credentials
                .client()
                .send(entry.project_id(), entry.tokens.as_ref(), &message)
                .await;
            observe(&self.metrics, &outcome, started.elapsed());
            Ok(Sent {
                verdict: verdict(&outcome, sent_at),
                pushes: 1,
                moved_to: None,
            })
        })
    }

    fn credential_rejected(&self, sid: &CredentialSid, reason: &str) {
        self.credentials.mark_rejected(sid, reason);
    }
}

/// `job`'s call invite as an FCM data message.
pub fn call_message(job: &DeliveryJob, bridge: &BridgeTokens) -> FcmMessage {
    let left = Duration::from_millis((job.invite.expires_at - now_ms()).max(0) as u64);
    let mut message = FcmMessage::new(job.device_token.as_str())
        .priority(Priority::High)
        // Whole seconds, rounded up: a call with 0.4 s left still rings.
        .ttl(Duration::from_secs(left.as_millis().div_ceil(1000) as u64))
        .collapse_key(job.invite.call_sid.to_string());
    if let Some(relayed) = &job.invite.relayed {
        // Twilio's notification, every key and value as received.
        for (k, v) in relayed.fields.iter() {
            message = message.data(k.clone(), v.clone());
        }
        return message;
    }
    let token = bridge.sign(
        &job.invite.sid,
        &job.registration_sid,
        job.invite.expires_at,
    );
    for (k, v) in call_fields(job, &token) {
        message = message.data(k, v);
    }
    message
}

/// What FCM's classified answer means for the delivery sent at `sent_at` (epoch ms): a
/// registration refreshed after the send began keeps its token.
pub fn verdict(outcome: &FcmOutcome, sent_at: i64) -> Verdict {
    let answer = |r: Option<&FcmResponse>| Answer {
        status: r.map(|r| r.status),
        reason: r
            .and_then(|r| r.error_code.as_ref().map(|c| c.as_str().to_owned()))
            .or_else(|| Some(outcome.label().to_owned())),
        provider_id: None,
    };
    match outcome {
        FcmOutcome::Accepted { name, .. } => Verdict::Accepted {
            provider_id: Some(name.clone()),
        },
        FcmOutcome::Retry {
            cause,
            after,
            response,
        } => Verdict::Retry {
            cause: cause.label(),
            after: *after,
            answer: Answer {
                reason: response
                    .as_ref()
                    .and_then(|r| r.error_code.as_ref().map(|c| c.as_str().to_owned()))
                    .or_else(|| Some(cause.label().to_owned())),
                ..answer(response.as_ref())
            },
        },
        FcmOutcome::TokenDead { reason, response } => Verdict::RetireToken {
            since_ms: Some(sent_at),
            answer: Answer {
                reason: Some(match reason {
                    crate::fcm::DeadReason::Unregistered => "UNREGISTERED".to_owned(),
                    crate::fcm::DeadReason::InvalidToken => "INVALID_ARGUMENT".to_owned(),
                }),
                ..answer(Some(response))
            },
        },
        FcmOutcome::SenderMismatch { response } => Verdict::InvalidRegistration {
            reason: "SENDER_ID_MISMATCH".into(),
            answer: answer(Some(response)),
        },
        FcmOutcome::CredentialRejected { reason, response } => Verdict::CredentialRejected {
            reason: rejection(reason),
            answer: answer(response.as_ref()),
        },
        FcmOutcome::OurBug { response, .. } => Verdict::Failed {
            answer: answer(response.as_ref()),
        },
        FcmOutcome::Refused { refusal } => Verdict::Failed {
            answer: Answer {
                reason: Some(format!("refused: {}", refusal.label())),
                ..Answer::default()
            },
        },
    }
}

/// The rejection as the credential records it (and `health_reason` shows).
fn rejection(reason: &CredentialReason) -> String {
    match reason {
        CredentialReason::TokenRefused { error, description } => match description {
            Some(d) => format!(
                "token endpoint refused the service account: {} ({d})",
                error.as_str()
            ),
            None => format!(
                "token endpoint refused the service account: {}",
                error.as_str()
            ),
        },
        CredentialReason::Unauthenticated => {
            "FCM refused the access token (UNAUTHENTICATED)".into()
        }
        CredentialReason::ThirdPartyAuth => "FCM: THIRD_PARTY_AUTH_ERROR".into(),
        CredentialReason::PermissionDenied => {
            "FCM: PERMISSION_DENIED (the service account may not send for this project)".into()
        }
        CredentialReason::TokenResponseMalformed => {
            "the token endpoint's answer could not be read".into()
        }
        CredentialReason::KeyUnusable => "the service account's key cannot sign".into(),
    }
}

/// FCM's statuses as a metric label; anything else is `other`, so the label stays closed.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// Counts and times one `messages:send` exchange.
fn observe(metrics: &Metrics, outcome: &FcmOutcome, elapsed: Duration) {
    let (status, error) = match outcome.response() {
        _ if outcome.is_accepted() => ("200", ""),
        Some(r) => (
            status_label(r.status),
            r.error_code.as_ref().map_or("", |c| c.label()),
        ),
        None => ("none", outcome.label()),
    };
    metrics
        .fcm_requests
        .with_label_values(&[status, error])
        .inc();
    metrics
        .fcm_duration
        .with_label_values::<&str>(&[])
        .observe(elapsed.as_secs_f64());
}
