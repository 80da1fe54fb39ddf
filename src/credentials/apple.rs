//! Apple-specific meaning of push certificates and bundle ids.
//!
//! Owns: reading the subject `UID` (the topic) and `CN`, detecting the environment
//! extensions (`1.2.840.113635.100.6.3.1` development, `.3.2` production), extracting the
//! topic list (`.3.6`, `.3.4`), bundle-id syntax, and the `<bundle>.voip` topic rule.

use openssl::nid::Nid;
use openssl::x509::X509Ref;

use super::der;

/// Arcs of `1.2.840.113635.100.6.3.x`, Apple's push-certificate extensions.
const APPLE_PUSH_ARCS: [u64; 7] = [1, 2, 840, 113_635, 100, 6, 3];
/// Last arc of the development-environment extension.
pub(crate) const ARC_DEVELOPMENT: u64 = 1;
/// Last arc of the production-environment extension.
pub(crate) const ARC_PRODUCTION: u64 = 2;
/// Last arc of the older topic-list extension.
pub(crate) const ARC_TOPICS_LEGACY: u64 = 4;
/// Last arc of the topic-list extension.
pub(crate) const ARC_TOPICS: u64 = 6;
/// Longest bundle id accepted.
pub(crate) const MAX_BUNDLE_ID_LEN: usize = 155;
/// Suffix Apple uses for VoIP topics.
pub(crate) const VOIP_SUFFIX: &str = ".voip";
/// CN prefix of VoIP Services certificates.
pub(crate) const VOIP_CN_PREFIX: &str = "VoIP Services:";

/// Dotted OID text of Apple push extension `arc` (for OpenSSL APIs and scripts).
pub(crate) fn apple_oid_text(arc: u64) -> String {
    format!("1.2.840.113635.100.6.3.{arc}")
}

/// DER content octets of Apple push extension `arc`.
pub(crate) fn apple_oid_content(arc: u64) -> Vec<u8> {
    let mut arcs = APPLE_PUSH_ARCS.to_vec();
    arcs.push(arc);
    der::oid_content(&arcs)
}

/// What a certificate says about its Apple push use.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppleInfo {
    pub uid: Option<String>,
    pub common_name: Option<String>,
    pub development: bool,
    pub production: bool,
    /// `Some` if a topic extension was present (possibly with zero usable topics).
    pub topics: Option<Vec<String>>,
    /// A topic extension was present but not fully well-formed.
    pub topics_malformed: bool,
}

impl AppleInfo {
    /// True when the CN marks a VoIP Services certificate.
    pub fn is_voip_services(&self) -> bool {
        self.common_name
            .as_deref()
            .is_some_and(|cn| cn.starts_with(VOIP_CN_PREFIX))
    }
}

/// Reads the Apple push fields of `cert`. `Err(())` means the DER could not be walked.
pub(crate) fn inspect(cert: &X509Ref) -> Result<AppleInfo, ()> {
    let der_bytes = cert.to_der().map_err(|_| ())?;
    let extensions = der::certificate_extensions(&der_bytes).map_err(|_| ())?;
    let dev = apple_oid_content(ARC_DEVELOPMENT);
    let prod = apple_oid_content(ARC_PRODUCTION);
    let topic_oids = [
        apple_oid_content(ARC_TOPICS),
        apple_oid_content(ARC_TOPICS_LEGACY),
    ];
    let mut info = AppleInfo {
        uid: first_entry(cert, Nid::USERID),
        common_name: first_entry(cert, Nid::COMMONNAME),
        ..AppleInfo::default()
    };
    for ext in &extensions {
        if ext.oid == dev.as_slice() {
            info.development = true;
        } else if ext.oid == prod.as_slice() {
            info.production = true;
        } else if topic_oids.iter().any(|o| o.as_slice() == ext.oid) {
            let (strings, ok) = der::collect_strings(ext.value, 8);
            info.topics_malformed |= !ok;
            let topics = info.topics.get_or_insert_with(Vec::new);
            for s in strings {
                if looks_like_topic(&s) && !topics.contains(&s) {
                    topics.push(s);
                }
            }
        }
    }
    Ok(info)
}

fn first_entry(cert: &X509Ref, nid: Nid) -> Option<String> {
    let entry = cert.subject_name().entries_by_nid(nid).next()?;
    entry.data().to_string().ok()
}

/// Apple's topic list interleaves topics with their kinds ("app", "voip", …):
/// a topic is a valid bundle id containing at least one dot.
fn looks_like_topic(s: &str) -> bool {
    s.contains('.') && is_valid_bundle_id(s)
}

/// Bundle-id syntax: non-empty, at most 155 characters of `[A-Za-z0-9.-]`.
pub(crate) fn is_valid_bundle_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_BUNDLE_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Splits a UID/bundle id into `(bundle_id, voip_topic)`:
/// `com.x.voip` → (`com.x`, `com.x.voip`); `com.x` → (`com.x`, `com.x.voip`).
/// Returns `None` if the resulting bundle id is not valid.
pub(crate) fn bundle_and_voip_topic(uid: &str) -> Option<(String, String)> {
    let bundle = uid.strip_suffix(VOIP_SUFFIX).unwrap_or(uid);
    if !is_valid_bundle_id(bundle) {
        return None;
    }
    Some((bundle.to_owned(), format!("{bundle}{VOIP_SUFFIX}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voip_topic_rule() {
        assert_eq!(
            bundle_and_voip_topic("com.example.app.voip"),
            Some(("com.example.app".into(), "com.example.app.voip".into()))
        );
        assert_eq!(
            bundle_and_voip_topic("com.example.app"),
            Some(("com.example.app".into(), "com.example.app.voip".into()))
        );
        assert_eq!(bundle_and_voip_topic(".voip"), None);
        assert_eq!(bundle_and_voip_topic("com.exa mple"), None);
        assert_eq!(bundle_and_voip_topic(&"a".repeat(156)), None);
        assert!(is_valid_bundle_id(&"a".repeat(155)));
    }

    #[test]
    fn oid_text_matches_content() {
        let obj = openssl::asn1::Asn1Object::from_str(&apple_oid_text(ARC_TOPICS)).unwrap();
        assert_eq!(obj.to_string(), "1.2.840.113635.100.6.3.6");
        assert_eq!(
            apple_oid_content(ARC_DEVELOPMENT),
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x03, 0x01]
        );
    }
}
