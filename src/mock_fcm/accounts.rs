//! The service accounts the simulator knows: the one it generates at start (written as a
//! Firebase-format `service-account.json`), ones generated on request, and ones registered
//! by their public key or full JSON. The token endpoint verifies assertions against these.

use std::collections::HashMap;
use std::sync::RwLock;

use jsonwebtoken::DecodingKey;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Rsa;
use serde::{Deserialize, Serialize};

use super::config::{Error, valid_project_id};

/// Most service accounts (and keys per account) the registry holds.
const MAX_ACCOUNTS: usize = 10_000;
const MAX_KEYS_PER_ACCOUNT: usize = 10;

/// A Firebase / Google Cloud service-account key file, field for field (`Debug` leaves
/// the private key out).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceAccountJson {
    /// Always `service_account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Google Cloud project.
    pub project_id: String,
    /// Id of the key (the assertion's `kid`), 40 hex digits.
    pub private_key_id: String,
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) of the RSA key.
    pub private_key: String,
    /// `<name>@<project>.iam.gserviceaccount.com` (the assertion's `iss`).
    pub client_email: String,
    /// Numeric client id.
    pub client_id: String,
    /// Google's authorization URI.
    pub auth_uri: String,
    /// Where tokens are requested: the simulator's own `/token`.
    pub token_uri: String,
    /// Google's certificate URL.
    pub auth_provider_x509_cert_url: String,
    /// The account's certificate URL.
    pub client_x509_cert_url: String,
    /// `googleapis.com` (Google's auth libraries refuse token requests elsewhere).
    pub universe_domain: String,
}

impl std::fmt::Debug for ServiceAccountJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountJson")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// `POST /service-accounts`: a full key file, or an account known by its public key.
/// (`Debug` leaves the private key out.)
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct AccountRegistration {
    /// `service_account` when given.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The account's project.
    pub project_id: String,
    /// The account's e-mail (assertion `iss`).
    pub client_email: String,
    /// The key id (assertion `kid`).
    pub private_key_id: String,
    /// The private key (PKCS#8 or PKCS#1 PEM); the public half is kept.
    #[serde(default)]
    pub private_key: Option<String>,
    /// The public key (SPKI or PKCS#1 PEM).
    #[serde(default)]
    pub public_key_pem: Option<String>,
}

impl std::fmt::Debug for AccountRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRegistration")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

/// What the token endpoint needs to know about an account.
#[derive(Clone)]
pub(crate) struct Account {
    pub project_id: String,
    keys: HashMap<String, DecodingKey>,
}

impl Account {
    /// The key with id `kid`, or — without a `kid` — every key of the account.
    pub fn keys<'a>(&'a self, kid: Option<&'a str>) -> Vec<&'a DecodingKey> {
        match kid {
            Some(kid) => self.keys.get(kid).into_iter().collect(),
            None => self.keys.values().collect(),
        }
    }
}

/// The known service accounts, by `client_email`.
#[derive(Default)]
pub(crate) struct Accounts {
    by_email: RwLock<HashMap<String, Account>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.by_email.read().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Accounts").field("count", &n).finish()
    }
}

fn rsa_public(key: &PKey<Public>) -> Result<DecodingKey, Error> {
    if key.id() != Id::RSA {
        return Err(Error::InvalidInput("the key is not an RSA key".into()));
    }
    let rsa = key.rsa()?;
    if rsa.size() < 256 {
        return Err(Error::InvalidInput(
            "the RSA key is shorter than 2048 bits".into(),
        ));
    }
    Ok(DecodingKey::from_rsa_der(&rsa.public_key_to_der_pkcs1()?))
}

fn public_from_private(pem: &str) -> Result<PKey<Public>, Error> {
    let private = PKey::private_key_from_pem(pem.as_bytes())
        .map_err(|_| Error::InvalidInput("private_key is not a PEM private key".into()))?;
    let der = private.public_key_to_der()?;
    Ok(PKey::public_key_from_der(&der)?)
}

fn public_from_pem(pem: &str) -> Result<PKey<Public>, Error> {
    if let Ok(key) = PKey::public_key_from_pem(pem.as_bytes()) {
        return Ok(key);
    }
    let rsa = Rsa::public_key_from_pem_pkcs1(pem.as_bytes())
        .map_err(|_| Error::InvalidInput("public_key_pem is not a PEM public key".into()))?;
    Ok(PKey::from_rsa(rsa)?)
}

impl Accounts {
    /// Learns (or adds a key to) the account in `reg`.
    pub fn register(&self, reg: &AccountRegistration) -> Result<(), Error> {
        if reg.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(Error::InvalidInput("type must be service_account".into()));
        }
        if !valid_project_id(&reg.project_id) {
            return Err(Error::InvalidInput(format!(
                "project_id {:?} is not a project id (6-30 of a-z, 0-9, -)",
                reg.project_id
            )));
        }
        if !reg.client_email.contains('@') || reg.client_email.len() > 256 {
            return Err(Error::InvalidInput("client_email is not an e-mail".into()));
        }
        if reg.private_key_id.is_empty() || reg.private_key_id.len() > 128 {
            return Err(Error::InvalidInput(
                "private_key_id must be 1-128 chars".into(),
            ));
        }
        let public = match (&reg.private_key, &reg.public_key_pem) {
            (Some(private), _) => public_from_private(private)?,
            (None, Some(public)) => public_from_pem(public)?,
            (None, None) => {
                return Err(Error::InvalidInput(
                    "give private_key or public_key_pem".into(),
                ));
            }
        };
        let key = rsa_public(&public)?;
        let mut map = self.by_email.write().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&reg.client_email) && map.len() >= MAX_ACCOUNTS {
            return Err(Error::InvalidInput("too many service accounts".into()));
        }
        let account = map
            .entry(reg.client_email.clone())
            .or_insert_with(|| Account {
                project_id: reg.project_id.clone(),
                keys: HashMap::new(),
            });
        if account.project_id != reg.project_id {
            return Err(Error::InvalidInput(format!(
                "{} belongs to project {}",
                reg.client_email, account.project_id
            )));
        }
        if !account.keys.contains_key(&reg.private_key_id)
            && account.keys.len() >= MAX_KEYS_PER_ACCOUNT
        {
            return Err(Error::InvalidInput("too many keys for this account".into()));
        }
        account.keys.insert(reg.private_key_id.clone(), key);
        Ok(())
    }

    /// The account `client_email`, if known.
    pub fn get(&self, client_email: &str) -> Option<Account> {
        let map = self.by_email.read().unwrap_or_else(|e| e.into_inner());
        map.get(client_email).cloned()
    }

    /// Forgets every account except `keep` (the generated one).
    pub fn retain_only(&self, keep: &str) {
        let mut map = self.by_email.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|email, _| email == keep);
    }
}

fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(hex::encode(buf))
}

fn random_digits(n: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; n];
    openssl::rand::rand_bytes(&mut buf)?;
    let mut s: String = buf.iter().map(|b| char::from(b'0' + b % 10)).collect();
    s.replace_range(0..1, "1");
    Ok(s)
}

/// A new RSA 2048 service account `name@project_id.iam.gserviceaccount.com` whose key
/// file points its `token_uri` at `token_uri`.
pub(crate) fn generate(
    project_id: &str,
    name: &str,
    token_uri: &str,
) -> Result<ServiceAccountJson, Error> {
    if !valid_project_id(project_id) {
        return Err(Error::InvalidInput(format!(
            "project_id {project_id:?} is not a project id (6-30 of a-z, 0-9, -)"
        )));
    }
    let key: PKey<Private> = PKey::from_rsa(Rsa::generate(2048)?)?;
    let private_key = String::from_utf8(key.private_key_to_pem_pkcs8()?)
        .map_err(|_| Error::Config("PEM is not UTF-8".into()))?;
    let client_email = format!("{name}@{project_id}.iam.gserviceaccount.com");
    let encoded_email = client_email.replace('@', "%40");
    Ok(ServiceAccountJson {
        kind: "service_account".into(),
        project_id: project_id.into(),
        private_key_id: random_hex(20)?,
        private_key,
        client_id: random_digits(21)?,
        auth_uri: "https://accounts.google.com/o/oauth2/auth".into(),
        token_uri: token_uri.into(),
        auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs".into(),
        client_x509_cert_url: format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{encoded_email}"
        ),
        client_email,
        universe_domain: "googleapis.com".into(),
    })
}

impl From<&ServiceAccountJson> for AccountRegistration {
    fn from(sa: &ServiceAccountJson) -> Self {
        AccountRegistration {
            kind: Some(sa.kind.clone()),
            project_id: sa.project_id.clone(),
            client_email: sa.client_email.clone(),
            private_key_id: sa.private_key_id.clone(),
            private_key: Some(sa.private_key.clone()),
            public_key_pem: None,
        }
    }
}
