//! What an APNs client certificate says: subject `UID` (the default topic),
//! Apple's environment extensions and the topic-list extension.
//!
//! Apple OIDs (prefix `1.2.840.113635.100.6.3`): `.1` development, `.2`
//! production, `.6` (and the older `.4`) the list of topics. A certificate
//! with neither environment OID is treated as valid in both (VoIP Services
//! certificates work in both environments).

use std::collections::BTreeSet;

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::X509Ref;

use super::config::{Environment, EnvironmentMode};

/// DER of the OID arc `1.2.840.113635.100.6.3` (without the last arc).
const APPLE_PUSH_OID_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x03];
const ARC_DEVELOPMENT: u8 = 1;
const ARC_PRODUCTION: u8 = 2;
const ARC_TOPICS_OLD: u8 = 4;
const ARC_TOPICS: u8 = 6;

/// The parts of a client certificate that matter to APNs.
#[derive(Debug, Clone)]
pub(crate) struct ClientCertInfo {
    /// One-line subject, e.g. `UID=com.example.app.voip, CN=VoIP Services: ...`.
    pub subject: String,
    /// Lowercase hex SHA-256 of the certificate's DER.
    pub fingerprint_sha256: String,
    /// The subject's `UID` entry.
    pub uid: Option<String>,
    /// Topics the certificate may push to (UID plus the topic extension).
    pub topics: BTreeSet<String>,
    /// Whether the topic extension listed more than one topic.
    pub multi_topic: bool,
    /// Environment OIDs present (development, production).
    pub development: bool,
    pub production: bool,
    /// Whether the chain verified against the configured client CA (always
    /// true when no client CA is configured).
    pub trusted: bool,
}

impl ClientCertInfo {
    /// Extracts the APNs-relevant facts from `cert`.
    pub fn from_x509(cert: &X509Ref, trusted: bool) -> ClientCertInfo {
        let uid = cert
            .subject_name()
            .entries_by_nid(Nid::USERID)
            .next()
            .and_then(|e| e.data().to_string().ok());
        let subject = cert
            .subject_name()
            .entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_default();
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let fingerprint_sha256 = cert
            .digest(MessageDigest::sha256())
            .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default();
        let mut info = ClientCertInfo {
            subject,
            fingerprint_sha256,
            uid: uid.clone(),
            topics: uid.into_iter().collect(),
            multi_topic: false,
            development: false,
            production: false,
            trusted,
        };
        if let Ok(der) = cert.to_der() {
            for (arc, value) in apple_extensions(&der) {
                match arc {
                    ARC_DEVELOPMENT => info.development = true,
                    ARC_PRODUCTION => info.production = true,
                    ARC_TOPICS | ARC_TOPICS_OLD => {
                        let listed = topic_list(value);
                        info.multi_topic |= listed.len() > 1;
                        info.topics.extend(listed);
                    }
                    _ => {}
                }
            }
        }
        info
    }

    /// Whether this certificate may be used against a listener in `mode`.
    pub fn allowed_in(&self, mode: EnvironmentMode) -> bool {
        if !self.development && !self.production {
            return true;
        }
        match mode {
            EnvironmentMode::Both => true,
            EnvironmentMode::Production => self.production,
            EnvironmentMode::Development => self.development,
        }
    }

    /// The environment the certificate pins a push to, if it names only one.
    pub fn sole_environment(&self) -> Option<Environment> {
        match (self.development, self.production) {
            (true, false) => Some(Environment::Sandbox),
            (false, true) => Some(Environment::Production),
            _ => None,
        }
    }

    /// The topic APNs infers when `apns-topic` is absent.
    pub fn default_topic(&self) -> Option<&str> {
        if self.multi_topic || self.topics.len() != 1 {
            return None;
        }
        self.topics.iter().next().map(|s| s.as_str())
    }
}

/// Reads one DER TLV: (tag, contents, rest). `None` if malformed.
pub(crate) fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Iterates over the TLVs in `input`, stopping at the first malformed one.
fn tlvs(mut input: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, content, rest) = read_tlv(input)?;
        input = rest;
        Some((tag, content))
    })
}

/// Apple push extensions of a DER certificate: (last OID arc, extnValue).
fn apple_extensions(cert_der: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let Some((0x30, cert, _)) = read_tlv(cert_der) else {
        return out;
    };
    let Some((0x30, tbs, _)) = read_tlv(cert) else {
        return out;
    };
    // Extensions are the context-specific constructed [3] element of tbs.
    let Some((_, exts)) = tlvs(tbs).find(|(tag, _)| *tag == 0xa3) else {
        return out;
    };
    let Some((0x30, list, _)) = read_tlv(exts) else {
        return out;
    };
    for (tag, ext) in tlvs(list) {
        if tag != 0x30 {
            continue;
        }
        let mut fields = tlvs(ext);
        let Some((0x06, oid)) = fields.next() else {
            continue;
        };
        let value = fields.find(|(t, _)| *t == 0x04).map(|(_, v)| v);
        if let (Some(value), Some((&arc, prefix))) = (value, oid.split_last())
            && prefix == APPLE_PUSH_OID_PREFIX
        {
            out.push((arc, value));
        }
    }
    out
}

/// Topic strings at the top level of the topic extension's SEQUENCE
/// (nested SEQUENCEs, which hold the push types, are skipped).
fn topic_list(ext_value: &[u8]) -> Vec<String> {
    let Some((0x30, seq, _)) = read_tlv(ext_value) else {
        return Vec::new();
    };
    tlvs(seq)
        // UTF8String, PrintableString, IA5String
        .filter(|(tag, _)| matches!(tag, 0x0c | 0x13 | 0x16))
        .filter_map(|(_, s)| std::str::from_utf8(s).ok().map(str::to_string))
        .collect()
}
