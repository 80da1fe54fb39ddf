//! [`Verdict`]: what a provider's classified answer means for one delivery, in terms the
//! worker acts on whichever provider gave it. Each provider classifies its own answers (in
//! `crate::apns`, `crate::fcm`); its sender turns that classification into a verdict.

use std::time::Duration;

/// The provider's answer as the delivery records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The provider's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The provider's reason (APNs `reason`, FCM `errorCode`), else the outcome's label.
    pub reason: Option<String>,
    /// The provider's id of the push (APNs `apns-id`, FCM message `name`).
    pub provider_id: Option<String>,
}

/// What to do with a delivery after one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The provider took the push.
    Accepted {
        /// The provider's id of the push.
        provider_id: Option<String>,
    },
    /// Transient: try again (with backoff, within the invite's lifetime).
    Retry {
        /// A stable label of why (a closed set per provider, for metrics).
        cause: &'static str,
        /// How long the provider asked us to wait, if it did.
        after: Option<Duration>,
        answer: Answer,
    },
    /// The token is dead: retire the registration unless it was registered again after
    /// `since_ms` (epoch milliseconds; `None`: retire it).
    RetireToken {
        since_ms: Option<i64>,
        answer: Answer,
    },
    /// The token is fine but not for this credential: mark the registration invalid (kept).
    InvalidRegistration {
        /// Why, as the registration records it.
        reason: String,
        answer: Answer,
    },
    /// The provider refuses the credential: stop using it until it is rotated.
    CredentialRejected {
        /// Why, as the credential records it.
        reason: String,
        answer: Answer,
    },
    /// A request the provider calls malformed, or refused locally: a pushgate bug. The
    /// delivery fails; the token is kept.
    Failed { answer: Answer },
}

impl Verdict {
    /// True for [`Verdict::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Accepted { .. })
    }
}
