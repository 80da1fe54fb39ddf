//! Parsed domain types: ids, identities, device tokens, and the states of calls, deliveries and
//! registrations. Handlers, services and the store only ever see these, never raw strings, so
//! invalid input cannot reach the database and a stored typo cannot pass for a state.

mod device_token;
mod fcm_account;
mod identity;
mod sid;
mod states;

pub use device_token::{DeviceToken, shorten};
pub use fcm_account::FcmAccount;
pub use identity::Identity;
pub use sid::{
    AccountSid, ApiKeySid, ApplicationSid, CallSid, CredentialSid, InviteSid, RegistrationSid, Sid,
    SidKind,
};
pub use states::{
    CallEnd, CallProgressEvent, CancelPush, CredentialType, DeliveryId, DeliveryStatus,
    Environment, InviteKind, InviteStatus, Platform, RegistrationState, UnknownValue,
};

/// Why a value from outside could not be turned into a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{what} must be '{prefix}' followed by 32 lowercase hex characters")]
    InvalidSid {
        what: &'static str,
        prefix: &'static str,
    },
    #[error("device token {0}")]
    InvalidDeviceToken(&'static str),
    #[error("identity {0}")]
    InvalidIdentity(&'static str),
}

/// `n` bytes from OpenSSL's CSPRNG.
///
/// Panics only if the operating system's random source is unavailable, in which case no
/// secret could be generated safely anyway.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    openssl::rand::rand_bytes(&mut buf).expect("the OS random number generator failed");
    buf
}
