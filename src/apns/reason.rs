//! The `reason` strings APNs puts in error bodies (and GOAWAY debug data).
//!
//! Every reason Apple documents has a variant; anything else is kept as
//! [`ApnsReason::Other`] (truncated, so a misbehaving peer cannot flood logs).

use std::fmt;

/// Longest unknown reason string kept verbatim.
const MAX_OTHER_LEN: usize = 64;

macro_rules! reasons {
    ($($variant:ident),+ $(,)?) => {
        /// A reason string from an APNs error response.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ApnsReason {
            $(
                #[doc = concat!("`", stringify!($variant), "`")]
                $variant,
            )+
            /// A reason this client does not know (truncated to 64 bytes).
            Other(String),
        }

        impl ApnsReason {
            /// Every documented reason, for exhaustive tests and metric pre-registration.
            pub const KNOWN: &'static [ApnsReason] = &[$(ApnsReason::$variant),+];

            /// Parses a reason string; unknown strings become [`ApnsReason::Other`].
            pub fn parse(s: &str) -> Self {
                match s {
                    $(stringify!($variant) => ApnsReason::$variant,)+
                    other => ApnsReason::Other(truncate(other)),
                }
            }

            /// The reason as APNs spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ApnsReason::$variant => stringify!($variant),)+
                    ApnsReason::Other(s) => s,
                }
            }
        }
    };
}

reasons!(
    BadCollapseId,
    BadDeviceToken,
    BadExpirationDate,
    BadMessageId,
    BadPriority,
    BadTopic,
    DeviceTokenNotForTopic,
    DuplicateHeaders,
    IdleTimeout,
    InvalidPushType,
    MissingDeviceToken,
    MissingTopic,
    PayloadEmpty,
    TopicDisallowed,
    BadPayload,
    BadCertificate,
    BadCertificateEnvironment,
    ExpiredProviderToken,
    Forbidden,
    InvalidProviderToken,
    MissingProviderToken,
    UnrelatedKeyIdInToken,
    BadEnvironmentKeyIdInToken,
    BadPath,
    MethodNotAllowed,
    ExpiredToken,
    Unregistered,
    PayloadTooLarge,
    TooManyProviderTokenUpdates,
    TooManyRequests,
    InternalServerError,
    ServiceUnavailable,
    Shutdown,
);

fn truncate(s: &str) -> String {
    if s.len() <= MAX_OTHER_LEN {
        return s.to_owned();
    }
    let mut end = MAX_OTHER_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl ApnsReason {
    /// True for reasons that are not in Apple's documentation.
    pub fn is_unknown(&self) -> bool {
        matches!(self, ApnsReason::Other(_))
    }
}

impl fmt::Display for ApnsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_known_reason() {
        assert_eq!(ApnsReason::KNOWN.len(), 33);
        for reason in ApnsReason::KNOWN {
            assert_eq!(&ApnsReason::parse(reason.as_str()), reason);
            assert!(!reason.is_unknown());
        }
    }

    #[test]
    fn unknown_reasons_are_kept_but_bounded() {
        assert_eq!(
            ApnsReason::parse("SomethingNew"),
            ApnsReason::Other("SomethingNew".into())
        );
        let long = "é".repeat(100);
        let parsed = ApnsReason::parse(&long);
        assert!(parsed.is_unknown());
        assert!(parsed.as_str().len() <= MAX_OTHER_LEN);
        assert_eq!(parsed.to_string(), parsed.as_str());
    }
}
