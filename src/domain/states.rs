//! The states a call, a delivery and a registration move through, and the small closed sets
//! that travel with them (environment, platform, legacy cancel pushes). Each is stored as the
//! lowercase text the database's CHECK constraints allow; rows decode into these at the store
//! edge and nothing past it compares strings.

use std::fmt;
use std::str::FromStr;

/// A stored text that names none of a type's values (a database written by something else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// A closed set of values stored as lowercase text: `as_str`, `Display`, `FromStr` and serde
/// as that text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)*),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text $(| $alias)* => Ok($name::$variant),)+
                    other => Err(UnknownValue { what: $what, value: other.to_owned() }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

text_enum! {
    /// Where a call invite is. Open: `queued` (written, nothing sent), `sending` (pushes in
    /// flight), `delivered` (a device accepted the push: ringing). Final: everything else.
    InviteStatus, "invite status" {
        Queued = "queued",
        Sending = "sending",
        Delivered = "delivered",
        Answered = "answered",
        Rejected = "rejected",
        Canceled = "canceled",
        Expired = "expired",
        Failed = "failed",
    }
}

impl InviteStatus {
    /// The states in which the call can still be answered, rejected or canceled.
    pub const OPEN: [InviteStatus; 3] = [
        InviteStatus::Queued,
        InviteStatus::Sending,
        InviteStatus::Delivered,
    ];

    /// Whether the call can still be answered, rejected or canceled.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// Whether the call has ended (its event stream ends here).
    pub fn is_final(self) -> bool {
        !self.is_open()
    }

    /// The event name phones and status callbacks see.
    pub fn event_name(self) -> &'static str {
        match self {
            InviteStatus::Queued | InviteStatus::Sending => "pending",
            InviteStatus::Delivered => "ringing",
            other => other.as_str(),
        }
    }
}

/// How a call ended (the final states a lifecycle operation sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEnd {
    Answered,
    Rejected,
    Canceled,
    Expired,
}

impl From<CallEnd> for InviteStatus {
    fn from(end: CallEnd) -> Self {
        match end {
            CallEnd::Answered => InviteStatus::Answered,
            CallEnd::Rejected => InviteStatus::Rejected,
            CallEnd::Canceled => InviteStatus::Canceled,
            CallEnd::Expired => InviteStatus::Expired,
        }
    }
}

impl CallEnd {
    /// The stored text of the state it sets.
    pub fn as_str(self) -> &'static str {
        InviteStatus::from(self).as_str()
    }
}

text_enum! {
    /// Where one device's push is. Open: `queued`, `retrying`; final: `accepted` (by the
    /// provider), `failed`, `expired`.
    DeliveryStatus, "delivery status" {
        Queued = "queued",
        Retrying = "retrying",
        Accepted = "accepted",
        Failed = "failed",
        Expired = "expired",
    }
}

impl DeliveryStatus {
    /// Whether the delivery still waits for an outcome.
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryStatus::Queued | DeliveryStatus::Retrying)
    }
}

text_enum! {
    /// Whether a registration rings: `active`, or `invalid` (the provider refused its token
    /// for this credential; kept, with the reason, so the app sees why).
    RegistrationState, "registration state" {
        Active = "active",
        Invalid = "invalid",
    }
}

text_enum! {
    /// A provider environment. APNs has two hosts; the simulator serves either or both.
    /// Written as `production` / `sandbox`; `development` (Apple's name) is read as sandbox.
    Environment, "environment" {
        /// `api.push.apple.com`: App Store, TestFlight and ad-hoc builds.
        Production = "production",
        /// `api.sandbox.push.apple.com`: development builds.
        Sandbox = "sandbox" | "development",
    }
}

impl Environment {
    /// The other environment (for the one-time `BadDeviceToken` retry).
    pub fn other(self) -> Self {
        match self {
            Environment::Production => Environment::Sandbox,
            Environment::Sandbox => Environment::Production,
        }
    }
}

text_enum! {
    /// The push platform a registration, a credential and a delivery belong to. Stored as the
    /// registration's binding type (`apn`, as Twilio names it).
    Platform, "platform" {
        /// Apple Push Notification service (VoIP pushes through PushKit).
        Apns = "apn",
        /// Firebase Cloud Messaging HTTP v1 (high-priority data messages to Android).
        Fcm = "fcm",
    }
}

text_enum! {
    /// What a push credential is, as Twilio's `Type` names it.
    CredentialType, "credential type" {
        /// An APNs client certificate (PEM or .p12).
        Apn = "apn",
        /// An APNs token key (.p8): provider tokens signed with ES256.
        ApnToken = "apn_token",
        /// A Firebase service account: OAuth 2.0 access tokens for FCM HTTP v1.
        Fcm = "fcm",
    }
}

impl Platform {
    /// The metric label: `apns` or `fcm` (a closed set).
    pub fn label(self) -> &'static str {
        match self {
            Platform::Apns => "apns",
            Platform::Fcm => "fcm",
        }
    }
}

impl CredentialType {
    /// The platform the credential pushes to.
    pub fn platform(self) -> Platform {
        match self {
            CredentialType::Apn | CredentialType::ApnToken => Platform::Apns,
            CredentialType::Fcm => Platform::Fcm,
        }
    }
}

text_enum! {
    /// Where an invite came from, which decides what its phones receive.
    InviteKind, "invite kind" {
        /// pushgate's own call (the API, the quickstart, Twilio's Calls shape): pushgate's
        /// payload with its bridge token; phones accept and reject through pushgate.
        Call = "call",
        /// A notification from Twilio's Call Notification webhook, relayed unchanged (Twilio's
        /// own bridge token; the SDK answers through Twilio).
        TwilioWebhook = "twilio_webhook",
    }
}

text_enum! {
    /// Whether the end of a call also sends legacy `twilio.voice.cancel` VoIP pushes.
    CancelPush, "cancel_push" {
        /// The default: phones learn of the end over the invite's event stream.
        None = "none",
        /// Also send cancel pushes (apps on the older pattern).
        Voip = "voip",
    }
}

text_enum! {
    /// A call progress event a backend asks Twilio's Calls API to report
    /// (`StatusCallbackEvent`): kept with the call, in Twilio's words.
    CallProgressEvent, "call progress event" {
        Initiated = "initiated",
        Ringing = "ringing",
        Answered = "answered",
        Completed = "completed",
    }
}

/// One push of an invite to one registration: a UUID, also the push's `apns-id` and
/// `twi_message_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub uuid::Uuid);

impl DeliveryId {
    /// A new id: a UUIDv7 (time-ordered, 74 random bits), so deliveries are added at the end
    /// of their primary key's index rather than on a random page (see `Sid::generate_ordered`).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The UUID.
    pub fn uuid(self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lowercase hyphenated, as stored and sent.
        self.0.fmt(f)
    }
}

impl FromStr for DeliveryId {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| UnknownValue {
                what: "delivery id",
                value: s.chars().take(64).collect(),
            })
    }
}

impl serde::Serialize for DeliveryId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeliveryId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text() {
        for s in InviteStatus::ALL {
            assert_eq!(s.as_str().parse::<InviteStatus>(), Ok(*s));
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>(), Ok(*s));
        }
        for e in Environment::ALL {
            assert_eq!(e.as_str().parse::<Environment>(), Ok(*e));
        }
        assert_eq!("development".parse(), Ok(Environment::Sandbox));
        assert!("Production".parse::<Environment>().is_err());
        assert!("prod".parse::<Environment>().is_err());
        assert_eq!("apn".parse::<Platform>(), Ok(Platform::Apns));
    }

    #[test]
    fn open_final_and_event_names() {
        use InviteStatus::*;
        assert!(Queued.is_open() && Sending.is_open() && Delivered.is_open());
        for s in [Answered, Rejected, Canceled, Expired, Failed] {
            assert!(s.is_final());
            assert_eq!(s.event_name(), s.as_str());
        }
        assert_eq!(Queued.event_name(), "pending");
        assert_eq!(Delivered.event_name(), "ringing");
        assert!(DeliveryStatus::Retrying.is_open() && !DeliveryStatus::Expired.is_open());
    }

    #[test]
    fn delivery_ids_are_lowercase_uuids() {
        let id = DeliveryId::generate();
        let text = id.to_string();
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.parse::<DeliveryId>(), Ok(id));
        assert!("not-a-uuid".parse::<DeliveryId>().is_err());
    }
}
