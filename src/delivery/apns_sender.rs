//! The APNs [`PushSender`]: the credential's client from [`Clients`], the VoIP notification
//! (payload, bridge token, expiry, collapse id), one retry in the other environment for a
//! universal credential whose token APNs places elsewhere, and the APNs request metrics.
//! [`DirectApnsSender`] sends the same pushes through one fixed client (the bench's ceiling).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::clients::{ClientError, Clients};
use super::job::DeliveryJob;
use super::payload::apns_payload;
use super::sender::{PushSender, Sent};
use super::verdict::{Answer, Verdict};
use crate::apns::{ApnsClient, Notification, Outcome};
use crate::auth::bridge_token::BridgeTokens;
use crate::domain::{CredentialSid, Environment};
use crate::metrics::Metrics;

/// Sends through the per-credential clients of this process.
pub struct ApnsSender {
    clients: Arc<Clients>,
    bridge: BridgeTokens,
    metrics: Metrics,
}

impl ApnsSender {
    /// A sender over `clients`, signing bridge tokens with `bridge`, counting APNs exchanges
    /// in `metrics`.
    pub fn new(clients: Arc<Clients>, bridge: BridgeTokens, metrics: Metrics) -> Self {
        Self {
            clients,
            bridge,
            metrics,
        }
    }
}

impl PushSender for ApnsSender {
    fn send<'a>(&'a self, job: &'a DeliveryJob) -> BoxFuture<'a, Result<Sent, ClientError>> {
        Box::pin(async move {
            let entry = self
                .clients
                .get(&job.invite.account_sid, &job.credential_sid)
                .await?;
            let via = Via {
                client: &entry.client,
                topic: &entry.record.voip_topic,
                bridge: &self.bridge,
                metrics: &self.metrics,
            };
            let mut environment = job.environment;
            let mut pushes = 1;
            let mut outcome = via.push(job, environment).await;
            if matches!(outcome, Outcome::WrongEnvironment { .. }) && entry.universal() {
                // The token may belong to the other environment: try there once.
                environment = environment.other();
                pushes += 1;
                outcome = via.push(job, environment).await;
            }
            Ok(Sent {
                verdict: verdict(&outcome),
                pushes,
                moved_to: (environment != job.environment).then_some(environment),
            })
        })
    }

    fn credential_rejected(&self, sid: &CredentialSid, reason: &str) {
        self.clients.mark_rejected(sid, reason);
    }
}

/// Sends through one APNs client with one topic, without credentials from the store: the
/// bench's ceiling, which loads the simulator through the same sending code as the worker.
pub struct DirectApnsSender {
    client: ApnsClient,
    topic: String,
    bridge: BridgeTokens,
    metrics: Metrics,
}

impl DirectApnsSender {
    /// A sender pushing to `topic` through `client`, signing bridge tokens with `bridge`,
    /// counting in `metrics`.
    pub fn new(
        client: ApnsClient,
        topic: impl Into<String>,
        bridge: BridgeTokens,
        metrics: Metrics,
    ) -> Self {
        Self {
            client,
            topic: topic.into(),
            bridge,
            metrics,
        }
    }
}

impl PushSender for DirectApnsSender {
    fn send<'a>(&'a self, job: &'a DeliveryJob) -> BoxFuture<'a, Result<Sent, ClientError>> {
        Box::pin(async move {
            let via = Via {
                client: &self.client,
                topic: &self.topic,
                bridge: &self.bridge,
                metrics: &self.metrics,
            };
            let outcome = via.push(job, job.environment).await;
            Ok(Sent {
                verdict: verdict(&outcome),
                pushes: 1,
                moved_to: None,
            })
        })
    }

    fn credential_rejected(&self, _sid: &CredentialSid, _reason: &str) {}
}

/// What APNs's classified answer means for the delivery.
fn verdict(outcome: &Outcome) -> Verdict {
    let answer = || Answer {
        status: outcome.response().map(|r| r.status),
        reason: outcome
            .reason()
            .map(|r| r.to_string())
            .or_else(|| Some(outcome.label().to_owned())),
        provider_id: outcome
            .response()
            .and_then(|r| r.apns_id)
            .map(|u| u.to_string()),
    };
    match outcome {
        Outcome::Accepted { apns_id, .. } => Verdict::Accepted {
            provider_id: apns_id.map(|u| u.to_string()),
        },
        Outcome::Retry { cause, after, .. } => Verdict::Retry {
            cause: cause.label(),
            after: *after,
            answer: Answer {
                status: outcome.response().map(|r| r.status),
                reason: outcome
                    .reason()
                    .map(|r| r.to_string())
                    .or_else(|| Some(cause.label().to_owned())),
                provider_id: None,
            },
        },
        Outcome::WrongEnvironment { .. } => Verdict::RetireToken {
            since_ms: None,
            answer: answer(),
        },
        Outcome::TokenDead { since_ms, .. } => Verdict::RetireToken {
            since_ms: *since_ms,
            answer: answer(),
        },
        Outcome::NotForTopic { .. } => Verdict::InvalidRegistration {
            reason: "DeviceTokenNotForTopic".into(),
            answer: answer(),
        },
        Outcome::CredentialRejected { detail, .. } => Verdict::CredentialRejected {
            reason: outcome
                .reason()
                .map(|r| r.to_string())
                .or_else(|| detail.clone())
                .unwrap_or_else(|| "rejected".into()),
            answer: answer(),
        },
        Outcome::OurBug { .. } | Outcome::Refused { .. } => Verdict::Failed { answer: answer() },
    }
}

/// What one push goes through: a credential's client and topic.
struct Via<'a> {
    client: &'a ApnsClient,
    topic: &'a str,
    bridge: &'a BridgeTokens,
    metrics: &'a Metrics,
}

impl Via<'_> {
    /// Sends `job`'s VoIP push to `environment` and counts it.
    async fn push(&self, job: &DeliveryJob, environment: Environment) -> Outcome {
        let notification = Notification {
            apns_id: Some(job.delivery_id.uuid()),
            expiration: Some((job.invite.expires_at / 1000).max(0) as u64),
            collapse_id: Some(job.invite.call_sid.to_string()),
            ..Notification::voip(
                job.device_token.as_hex().to_owned(),
                environment,
                self.topic.to_owned(),
                apns_payload(job, self.bridge),
            )
        };
        let sent = Instant::now();
        let outcome = self.client.send(notification).await;
        observe(self.metrics, environment, &outcome, sent.elapsed());
        outcome
    }
}

/// APNs's documented statuses as a metric label; anything else (a misbehaving endpoint) is
/// `other`, so the label stays a closed set.
fn status_label(status: u16) -> &'static str {
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
fn observe(metrics: &Metrics, environment: Environment, outcome: &Outcome, elapsed: Duration) {
    let env = environment.as_str();
    let (status, reason) = match outcome.response() {
        _ if outcome.is_accepted() => ("200", ""),
        Some(r) => (
            status_label(r.status),
            match &r.reason {
                Some(reason) if reason.is_unknown() => "other",
                Some(reason) => reason.as_str(),
                None => "",
            },
        ),
        None => ("none", outcome.label()),
    };
    metrics
        .apns_requests
        .with_label_values(&[env, status, reason])
        .inc();
    metrics
        .apns_duration
        .with_label_values(&[env])
        .observe(elapsed.as_secs_f64());
}
