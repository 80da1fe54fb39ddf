//! Twilio-style resource identifiers: a two-letter prefix and 32 lowercase hex characters.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{DomainError, random_bytes};

/// The kind of resource a [`Sid`] names; fixes its prefix.
pub trait SidKind {
    /// Two uppercase letters, e.g. `AC`.
    const PREFIX: &'static str;
    /// Human name used in error messages, e.g. `account SID`.
    const WHAT: &'static str;
}

macro_rules! sid_kind {
    ($marker:ident, $alias:ident, $prefix:literal, $what:literal) => {
        #[doc = concat!("Marker for ", $what, "s (`", $prefix, "…`).")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $marker {}
        impl SidKind for $marker {
            const PREFIX: &'static str = $prefix;
            const WHAT: &'static str = $what;
        }
        #[doc = concat!("A ", $what, ".")]
        pub type $alias = Sid<$marker>;
    };
}

sid_kind!(Account, AccountSid, "AC", "account SID");
sid_kind!(ApiKey, ApiKeySid, "SK", "API key SID");
sid_kind!(Credential, CredentialSid, "CR", "credential SID");
sid_kind!(Binding, RegistrationSid, "BS", "registration SID");
sid_kind!(Call, CallSid, "CA", "call SID");
sid_kind!(Invite, InviteSid, "IV", "invite SID");
sid_kind!(Application, ApplicationSid, "AP", "TwiML application SID");

/// A validated identifier of the resource kind `K`.
pub struct Sid<K> {
    value: String,
    kind: PhantomData<K>,
}

impl<K: SidKind> Sid<K> {
    /// A fresh random SID.
    pub fn generate() -> Self {
        let bytes: [u8; 16] = random_bytes();
        Self::trusted(format!("{}{}", K::PREFIX, hex::encode(bytes)))
    }

    /// A fresh SID that sorts by creation time, for rows written at call rate (invites,
    /// calls): 12 hex characters of the Unix time in milliseconds, then 20 random ones (80
    /// bits), like a UUIDv7. Keyed by random SIDs, every new row lands on a random page of
    /// each index over its key: on SQLite those pages were 60 % of all WAL writes
    /// (bench/README.md). Keyed by these, new rows go to the end of the index.
    pub fn generate_ordered() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            & 0xffff_ffff_ffff;
        let bytes: [u8; 10] = random_bytes();
        Self::trusted(format!("{}{ms:012x}{}", K::PREFIX, hex::encode(bytes)))
    }

    /// Parses `value`, which must be the prefix followed by 32 lowercase hex characters.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let ok = value.len() == 34
            && value.starts_with(K::PREFIX)
            && value[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self::trusted(value.to_owned()))
        } else {
            Err(DomainError::InvalidSid {
                what: K::WHAT,
                prefix: K::PREFIX,
            })
        }
    }

    /// Wraps a value read back from our own store, which only ever holds parsed SIDs.
    pub(crate) fn trusted(value: String) -> Self {
        Self {
            value,
            kind: PhantomData,
        }
    }

    /// The SID as text.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The SID as an owned string.
    pub fn into_string(self) -> String {
        self.value
    }
}

impl<K> Clone for Sid<K> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Sid<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<K> Eq for Sid<K> {}

impl<K> std::hash::Hash for Sid<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}

impl<K> fmt::Display for Sid<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K> fmt::Debug for Sid<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K> Serialize for Sid<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.value)
    }
}

impl<'de, K: SidKind> Deserialize<'de> for Sid<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Sid::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_sids_parse_back_and_sort_by_time() {
        let first = InviteSid::generate_ordered();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = InviteSid::generate_ordered();
        assert_eq!(InviteSid::parse(first.as_str()).unwrap(), first);
        assert!(first.as_str() < second.as_str());
        // 80 random bits after the time.
        assert_ne!(
            first.as_str()[14..],
            InviteSid::generate_ordered().as_str()[14..]
        );
    }

    #[test]
    fn generated_sids_parse_back() {
        let sid = AccountSid::generate();
        assert!(sid.as_str().starts_with("AC"));
        assert_eq!(AccountSid::parse(sid.as_str()).unwrap(), sid);
    }

    #[test]
    fn rejects_wrong_prefix_case_and_length() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(ApiKeySid::parse(&format!("SK{hex}")).is_ok());
        assert!(ApiKeySid::parse(&format!("AC{hex}")).is_err());
        assert!(ApiKeySid::parse(&format!("SK{}", hex.to_uppercase())).is_err());
        assert!(ApiKeySid::parse(&format!("SK{hex}0")).is_err());
        assert!(ApiKeySid::parse("SK").is_err());
        assert!(ApiKeySid::parse("SKé123").is_err());
    }
}
