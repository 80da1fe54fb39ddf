//! Client identities (`alice`), as carried in access tokens and invites.

use std::fmt;

use super::DomainError;

/// Longest identity accepted, in characters (counted as JSON Schema's `maxLength` counts them,
/// so the API description can state the limit exactly).
pub const MAX_LEN: usize = 256;

/// A user identity: 1–256 characters of printable text (no control characters).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// Parses an identity; rejects empty, over-long and control-character values.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() {
            return Err(DomainError::InvalidIdentity("is empty"));
        }
        if raw.chars().count() > MAX_LEN {
            return Err(DomainError::InvalidIdentity(
                "is longer than 256 characters",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(DomainError::InvalidIdentity("contains control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps an identity read back from our own store.
    pub(crate) fn trusted(value: String) -> Self {
        Self(value)
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert!(Identity::parse("alice").is_ok());
        assert!(Identity::parse("client name with spaces").is_ok());
        assert!(Identity::parse("").is_err());
        assert!(Identity::parse("a\nb").is_err());
        assert!(Identity::parse(&"x".repeat(257)).is_err());
    }
}
