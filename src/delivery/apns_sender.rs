//! The APNs [`PushSender`]: the credential's client from [`Clients`], the VoIP notification
//! (payload, bridge token, expiry, collapse id), one retry in the other environment for a
//! universal credential whose token APNs places elsewhere, and the APNs request metrics.
//! [`DirectApnsSender`] sends the same pushes through one fixed client (the bench's ceiling).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::clients::{ClientError, Clients};
use super::job::DeliveryJob;
use super::payload::call_payload;
use super::sender::{PushSender, Sent};
use crate::apns::{ApnsClient, Environment, Notification, Outcome};
use crate::auth::bridge_token::BridgeTokens;
use crate::domain::{AccountSid, CredentialSid};
use crate::metrics::METRICS;

/// Sends through the per-credential clients of this process.
pub struct ApnsSender {
    clients: Arc<Clients>,
    bridge: BridgeTokens,
}

impl ApnsSender {
    /// A sender over `clients`, signing bridge tokens with `bridge`.
    pub fn new(clients: Arc<Clients>, bridge: BridgeTokens) -> Self {
        Self { clients, bridge }
    }
}

impl PushSender for ApnsSender {
    fn send<'a>(&'a self, job: &'a DeliveryJob) -> BoxFuture<'a, Result<Sent, ClientError>> {
        Box::pin(async move {
            let account = AccountSid::trusted(job.invite.account_sid.clone());
            let credential = CredentialSid::trusted(job.credential_sid.clone());
            let entry = self.clients.get(&account, &credential).await?;
            let topic = &entry.record.voip_topic;
            let mut environment = job.environment;
            let mut pushes = 1;
            let mut outcome = push(&entry.client, &self.bridge, job, environment, topic).await;
            if matches!(outcome, Outcome::WrongEnvironment { .. }) && entry.universal() {
                // The token may belong to the other environment: try there once.
                environment = environment.other();
                pushes += 1;
                outcome = push(&entry.client, &self.bridge, job, environment, topic).await;
            }
            Ok(Sent {
                outcome,
                pushes,
                moved_to: (environment != job.environment).then_some(environment),
            })
        })
    }

    fn credential_rejected(&self, sid: &str, reason: &str) {
        self.clients.mark_rejected(sid, reason);
    }
}

/// Sends through one APNs client with one topic, without credentials from the store: the
/// bench's ceiling, which loads the simulator through the same sending code as the worker.
pub struct DirectApnsSender {
    client: ApnsClient,
    topic: String,
    bridge: BridgeTokens,
}

impl DirectApnsSender {
    /// A sender pushing to `topic` through `client`, signing bridge tokens with `bridge`.
    pub fn new(client: ApnsClient, topic: impl Into<String>, bridge: BridgeTokens) -> Self {
        Self {
            client,
            topic: topic.into(),
            bridge,
        }
    }
}

impl PushSender for DirectApnsSender {
    fn send<'a>(&'a self, job: &'a DeliveryJob) -> BoxFuture<'a, Result<Sent, ClientError>> {
        Box::pin(async move {
            let env = job.environment;
            let outcome = push(&self.client, &self.bridge, job, env, &self.topic).await;
            Ok(Sent {
                outcome,
                pushes: 1,
                moved_to: None,
            })
        })
    }

    fn credential_rejected(&self, _sid: &str, _reason: &str) {}
}

/// Sends `job`'s VoIP push to `environment` and counts it.
async fn push(
    client: &ApnsClient,
    bridge: &BridgeTokens,
    job: &DeliveryJob,
    environment: Environment,
    topic: &str,
) -> Outcome {
    let token = bridge.sign(
        &job.invite.sid,
        &job.registration_sid,
        job.invite.expires_at,
    );
    let notification = Notification {
        apns_id: Some(job.delivery_id),
        expiration: Some((job.invite.expires_at / 1000).max(0) as u64),
        collapse_id: Some(job.invite.call_sid.clone()),
        ..Notification::voip(
            job.device_token.clone(),
            environment,
            topic.to_owned(),
            call_payload(job, &token),
        )
    };
    let sent = Instant::now();
    let outcome = client.send(notification).await;
    observe(environment, &outcome, sent.elapsed());
    outcome
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
fn observe(environment: Environment, outcome: &Outcome, elapsed: Duration) {
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
    METRICS
        .apns_requests
        .with_label_values(&[env, status, reason])
        .inc();
    METRICS
        .apns_duration
        .with_label_values(&[env])
        .observe(elapsed.as_secs_f64());
}
