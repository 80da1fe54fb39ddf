//! The one development set-up of a push certificate for [`devcerts`](super): what an
//! Apple-like client certificate looks like ([`LeafOptions`], with its variants as
//! options) and a self-made CA with a VoIP certificate signed by it ([`VoipPair`]) — used
//! by the demo, the benchmark and every test that needs a certificate.

use secrecy::SecretString;

use super::{AppleEnvironment, DevCert, KeyKind, Result, generate_ca, issue_leaf};
use crate::credentials::manage::Material;

/// Options for [`issue_leaf`] and [`VoipPair`]. Start from [`LeafOptions::voip`] or
/// [`LeafOptions::apple_push`] and adjust fields (or use the `with_*` methods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafOptions {
    /// Subject UID (the topic), e.g. `com.example.app.voip`; empty = no UID attribute.
    pub uid: String,
    /// Subject CN, e.g. `VoIP Services: com.example.app`.
    pub common_name: String,
    /// Environment extensions to include.
    pub environment: AppleEnvironment,
    /// Topics for the `1.2.840.113635.100.6.3.6` extension; empty = no extension.
    pub topics: Vec<String>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Key algorithm of the leaf.
    pub key: KeyKind,
}

impl LeafOptions {
    /// A universal `VoIP Services: <bundle>` certificate with UID `<bundle>.voip`, RSA
    /// 2048, valid from a day before `now_unix` for a year, no topic extension.
    pub fn voip(bundle_id: &str, now_unix: i64) -> Self {
        Self {
            uid: format!("{bundle_id}.voip"),
            common_name: format!("VoIP Services: {bundle_id}"),
            environment: AppleEnvironment::Universal,
            topics: Vec::new(),
            not_before: now_unix - 86_400,
            not_after: now_unix + 365 * 86_400,
            key: KeyKind::Rsa2048,
        }
    }

    /// A universal `Apple Push Services: <bundle>` certificate with UID `<bundle>` and a
    /// topic list of the bundle and its `.voip` topic, otherwise like [`Self::voip`].
    pub fn apple_push(bundle_id: &str, now_unix: i64) -> Self {
        Self {
            uid: bundle_id.to_owned(),
            common_name: format!("Apple Push Services: {bundle_id}"),
            topics: vec![bundle_id.to_owned(), format!("{bundle_id}.voip")],
            ..Self::voip(bundle_id, now_unix)
        }
    }

    /// These options with a key of `kind` (EC P-256 is the fast choice for tests).
    pub fn with_key(self, kind: KeyKind) -> Self {
        Self { key: kind, ..self }
    }

    /// These options with the environment extensions of `environment`.
    pub fn with_environment(self, environment: AppleEnvironment) -> Self {
        Self {
            environment,
            ..self
        }
    }

    /// These options with subject UID `uid`.
    pub fn with_uid(self, uid: &str) -> Self {
        Self {
            uid: uid.to_owned(),
            ..self
        }
    }

    /// These options with the topic list `topics` (empty = no topic extension).
    pub fn with_topics(self, topics: &[&str]) -> Self {
        Self {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            ..self
        }
    }
}

/// A self-made CA and an Apple-style push certificate it signed.
#[derive(Debug)]
pub struct VoipPair {
    /// The CA (trust it in a simulator to accept [`leaf`](Self::leaf)).
    pub ca: DevCert,
    /// The push client certificate and its key.
    pub leaf: DevCert,
}

impl VoipPair {
    /// Common name of every CA made here.
    pub const CA_NAME: &'static str = "pushgate development CA";

    /// A fresh CA and a universal `VoIP Services: <bundle_id>` certificate (UID
    /// `<bundle_id>.voip`, EC P-256 key, valid from a day ago for a year): what the demo
    /// and the benchmark upload and what most tests need.
    pub fn issue(bundle_id: &str) -> Result<Self> {
        let now = crate::clock::now_secs();
        Self::issue_with(&Self::voip(bundle_id, now), now)
    }

    /// The options [`issue`](Self::issue) uses: [`LeafOptions::voip`] with an EC P-256
    /// key. Adjust them for a variant and pass them to [`issue_with`](Self::issue_with)
    /// or [`sibling`](Self::sibling).
    pub fn voip(bundle_id: &str, now_unix: i64) -> LeafOptions {
        LeafOptions::voip(bundle_id, now_unix).with_key(KeyKind::EcP256)
    }

    /// A fresh CA, valid from a day before `now_unix` for ten years, and a certificate
    /// as `opts` describe (another environment, odd topics, an expired window, RSA…).
    pub fn issue_with(opts: &LeafOptions, now_unix: i64) -> Result<Self> {
        let ca = generate_ca(Self::CA_NAME, now_unix)?;
        let leaf = issue_leaf(&ca, opts)?;
        Ok(Self { ca, leaf })
    }

    /// Another certificate as `opts` describe, signed by this pair's CA.
    pub fn sibling(&self, opts: &LeafOptions) -> Result<DevCert> {
        issue_leaf(&self.ca, opts)
    }

    /// The CA certificate as PEM (what a simulator's `client_ca` trusts).
    pub fn ca_pem(&self) -> Result<String> {
        self.ca.cert_pem()
    }

    /// The leaf certificate and its unencrypted PKCS#8 key, as PEM (an upload's
    /// `certificate` and `private_key`).
    pub fn leaf_pem(&self) -> Result<(String, SecretString)> {
        Ok((self.leaf.cert_pem()?, self.leaf.key_pkcs8_pem()?))
    }

    /// The leaf as credential material to create or rotate a credential with.
    pub fn material(&self) -> Result<Material> {
        let (certificate, private_key) = self.leaf_pem()?;
        Ok(Material::CertificatePem {
            certificate,
            private_key,
        })
    }
}
