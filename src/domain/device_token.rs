//! Device tokens: APNs's hex tokens (stored lowercase) and FCM registration tokens (stored as
//! given), never displayed whole.

use std::fmt;

use super::DomainError;

/// Shortest token accepted, in bytes (APNs tokens are 32 bytes today).
const MIN_BYTES: usize = 32;
/// Longest token accepted, in bytes; Apple says to assume nothing about the length.
const MAX_BYTES: usize = 100;
/// Shortest FCM registration token accepted (real ones are about 150–200 characters).
const FCM_MIN_CHARS: usize = 32;
/// Longest FCM registration token accepted (Google documents no limit; 4 KiB bounds it).
const FCM_MAX_CHARS: usize = 4096;

/// A device token as APNs expects it in `/3/device/<token>`.
///
/// `Display` and `Debug` show only a shortened form so a token can't be logged whole by
/// accident; [`DeviceToken::as_hex`] gives the full value to the store and the APNs client.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceToken(String);

impl DeviceToken {
    /// Parses a hex token of 32–100 bytes, in either case, ignoring surrounding ASCII
    /// whitespace.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        // ASCII whitespace only: the API description's pattern states exactly this.
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if raw.is_empty() {
            return Err(DomainError::InvalidDeviceToken("is empty"));
        }
        if !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::InvalidDeviceToken(
                "must contain only hexadecimal characters (0-9, a-f)",
            ));
        }
        if !raw.len().is_multiple_of(2) {
            return Err(DomainError::InvalidDeviceToken(
                "must have an even number of hex characters",
            ));
        }
        let bytes = raw.len() / 2;
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
            return Err(DomainError::InvalidDeviceToken(
                "must be between 32 and 100 bytes (64 to 200 hex characters)",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// Parses a token of `platform`'s kind (see [`Self::parse`] and [`Self::parse_fcm`]).
    pub fn parse_for(platform: super::Platform, raw: &str) -> Result<Self, DomainError> {
        match platform {
            super::Platform::Apns => Self::parse(raw),
            super::Platform::Fcm => Self::parse_fcm(raw),
        }
    }

    /// Parses an FCM registration token: 32–4096 characters of the set FCM tokens use
    /// (`A-Z a-z 0-9 - _ :`), case kept, surrounding ASCII whitespace ignored.
    pub fn parse_fcm(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if raw.is_empty() {
            return Err(DomainError::InvalidDeviceToken("is empty"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
        {
            return Err(DomainError::InvalidDeviceToken(
                "must contain only the characters of FCM registration tokens (A-Z, a-z, 0-9, \
                 '-', '_', ':')",
            ));
        }
        if !(FCM_MIN_CHARS..=FCM_MAX_CHARS).contains(&raw.len()) {
            return Err(DomainError::InvalidDeviceToken(
                "must be between 32 and 4096 characters (an FCM registration token)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The full token as stored and sent (lowercase hex for APNs).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a token read back from our own store.
    pub(crate) fn trusted(value: String) -> Self {
        Self(value)
    }

    /// The full lowercase hex token.
    pub fn as_hex(&self) -> &str {
        &self.0
    }

    /// A shortened form safe for logs and responses: the first 8 and last 4 characters.
    pub fn short(&self) -> String {
        shorten(&self.0)
    }
}

/// Shortens any token-like string for logs: first 8 and last 4 characters.
pub fn shorten(token: &str) -> String {
    if token.len() <= 12 || !token.is_ascii() {
        return "…".to_owned();
    }
    format!("{}…{}", &token[..8], &token[token.len() - 4..])
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceToken({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hex_and_lowercases() {
        let t = DeviceToken::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(t.as_hex(), "ab".repeat(32));
    }

    #[test]
    fn rejects_bad_tokens() {
        for bad in [
            "",
            "zz".repeat(32).as_str(),
            &"a".repeat(65),
            &"ab".repeat(31),
            &"ab".repeat(101),
        ] {
            assert!(DeviceToken::parse(bad).is_err(), "{bad}");
        }
        assert!(DeviceToken::parse(&"ab".repeat(100)).is_ok());
    }

    #[test]
    fn fcm_tokens() {
        let real = format!("dGVzdC10b2tlbg:APA91b{}", "Hx-_9".repeat(28));
        assert_eq!(DeviceToken::parse_fcm(&real).unwrap().as_str(), real);
        for bad in [
            "",
            "short:APA91b",
            &"a b".repeat(20),
            &"x".repeat(4097),
            "ab/cd=".repeat(8).as_str(),
        ] {
            assert!(DeviceToken::parse_fcm(bad).is_err(), "{bad}");
        }
        assert!(DeviceToken::parse_for(super::super::Platform::Apns, &real).is_err());
    }

    #[test]
    fn display_and_debug_never_show_the_whole_token() {
        let hex = "0123456789abcdef".repeat(4);
        let t = DeviceToken::parse(&hex).unwrap();
        assert!(!format!("{t}").contains(&hex));
        assert!(!format!("{t:?}").contains(&hex));
        assert_eq!(t.short(), "01234567…cdef");
    }
}
