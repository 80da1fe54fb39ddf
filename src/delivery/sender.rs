//! The provider seam: one [`PushSender`] per platform sends a delivery's push with its
//! credential and returns a [`Verdict`] made from the provider's own classification; the
//! worker acts on that without knowing the provider. APNs ([`super::apns_sender`]) and FCM
//! ([`super::fcm_sender`]) are the senders in [`Senders`].

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::clients::ClientError;
use super::job::DeliveryJob;
use super::verdict::Verdict;
use crate::domain::{CredentialSid, Environment, Platform};

/// What a sender did with one delivery.
#[derive(Debug)]
pub struct Sent {
    /// What the last push's answer means for the delivery.
    pub verdict: Verdict,
    /// Pushes made (two when the token was tried again in the other environment).
    pub pushes: u32,
    /// The environment of the last push, when the sender moved the token to the other one.
    pub moved_to: Option<Environment>,
}

/// Sends pushes on one platform.
pub trait PushSender: Send + Sync {
    /// Sends `job`'s push with its credential. `Err` when the credential can't be used (a
    /// store error is transient, anything else final).
    fn send<'a>(&'a self, job: &'a DeliveryJob) -> BoxFuture<'a, Result<Sent, ClientError>>;

    /// The provider refused credential `sid` (`reason`): stop using it until it is rotated.
    fn credential_rejected(&self, sid: &CredentialSid, reason: &str);
}

/// The sender of each platform.
#[derive(Clone)]
pub struct Senders {
    apns: Arc<dyn PushSender>,
    fcm: Arc<dyn PushSender>,
}

impl Senders {
    /// The registry with `apns` as the APNs sender and `fcm` as the FCM sender.
    pub fn new(apns: Arc<dyn PushSender>, fcm: Arc<dyn PushSender>) -> Self {
        Self { apns, fcm }
    }

    /// The sender for `job`'s platform.
    pub fn for_job(&self, job: &DeliveryJob) -> &dyn PushSender {
        match job.platform {
            Platform::Apns => self.apns.as_ref(),
            Platform::Fcm => self.fcm.as_ref(),
        }
    }
}
