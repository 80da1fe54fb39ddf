//! Stored credentials: creating and rotating them (validate, seal the private key, save) and
//! their health. Opening their key material is [`super::material`].

use secrecy::{ExposeSecret, SecretString};

use super::material::{open_material, service_account_json};
use super::{
    CredentialError, CredentialInput, CredentialKind, SecretMaterial, ValidateOptions,
    ValidatedCredential, validate_with,
};
use crate::clock::{now_ms, now_secs};
use crate::domain::{AccountSid, CredentialSid, CredentialType};
use crate::secrets::{MasterKey, SecretsError};
use crate::store::{CredentialRecord, Store, StoreError};

/// Longest friendly name accepted.
pub const MAX_FRIENDLY_NAME: usize = 64;

/// New key material, in any form an operator has it.
pub enum Material {
    CertificatePem {
        certificate: String,
        private_key: SecretString,
    },
    P12 {
        der: Vec<u8>,
        password: SecretString,
    },
    P8 {
        pem: SecretString,
    },
    /// A Firebase service-account JSON.
    ServiceAccount {
        json: SecretString,
    },
}

/// The gateway's rules for credential uploads (from its configuration).
#[derive(Debug, Clone)]
pub struct IntakeRules {
    /// Certificates expiring within this many seconds are flagged.
    pub warning_window_secs: i64,
    /// Hosts an FCM service account's `token_uri` may name.
    pub fcm_token_hosts: Vec<String>,
}

impl Default for IntakeRules {
    fn default() -> Self {
        Self {
            warning_window_secs: super::DEFAULT_EXPIRY_WARNING_SECS,
            fcm_token_hosts: vec![super::GOOGLE_TOKEN_HOST.to_owned()],
        }
    }
}

/// What an upload or a rotation asks for; absent fields keep their current value.
#[derive(Default)]
pub struct CredentialPatch {
    /// `apn`, `apn_token` or `fcm`; inferred from the material when absent.
    pub kind: Option<String>,
    pub friendly_name: Option<String>,
    pub sandbox: Option<bool>,
    pub material: Option<Material>,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    pub bundle_id: Option<String>,
}

/// Why a credential could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The key material or its flags failed validation.
    #[error(transparent)]
    Invalid(#[from] CredentialError),
    /// The request itself is incomplete or contradictory.
    #[error("{0}")]
    BadRequest(String),
    #[error("credential not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// Every validation slot stayed taken for `credential_validation_wait_ms`.
    #[error("too many credential uploads are being validated; retry shortly")]
    Busy,
}

/// A credential's standing, cheap to compute from the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Expires within the warning window.
    Expiring,
    Expired,
    /// APNs refused it (see the record's `rejected_reason`).
    Rejected,
}

impl Health {
    /// Lower-case name used in the API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Expiring => "expiring",
            Health::Expired => "expired",
            Health::Rejected => "rejected",
        }
    }
}

/// The health of `c` at `now` (epoch seconds), warning `window_secs` before expiry.
pub fn health(c: &CredentialRecord, now: i64, window_secs: i64) -> Health {
    match (c.rejected_reason.as_ref(), c.not_after) {
        (Some(_), _) => Health::Rejected,
        (None, Some(t)) if t <= now => Health::Expired,
        (None, Some(t)) if t <= now + window_secs => Health::Expiring,
        _ => Health::Ok,
    }
}

/// Validates and stores a new credential of `account`.
pub async fn create(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
    patch: CredentialPatch,
    rules: &IntakeRules,
) -> Result<CredentialRecord, ManageError> {
    let material = patch.material.ok_or_else(|| {
        bad("key material is required: certificate + private_key, p12, p8, or service_account")
    })?;
    let kind = resolve_kind(patch.kind.as_deref(), &material)?;
    let sandbox = checked_sandbox(kind, patch.sandbox)?.unwrap_or(false);
    let input = to_input(material, patch.key_id, patch.team_id, patch.bundle_id)?;
    let validated = validate_blocking(input, sandbox, rules).await?;
    let now = now_ms();
    let record = seal_record(
        master,
        CredentialSid::generate(),
        account,
        kind,
        checked_name(patch.friendly_name)?,
        sandbox,
        validated,
        (now, now),
    )?;
    store.save_credential(&record).await?;
    Ok(record)
}

/// Rotates a credential: new material and/or flags, validated again as a whole. The SID,
/// creation date and registrations are kept; an APNs rejection is cleared.
pub async fn rotate(
    store: &Store,
    master: &MasterKey,
    account: &AccountSid,
    sid: &CredentialSid,
    patch: CredentialPatch,
    rules: &IntakeRules,
) -> Result<CredentialRecord, ManageError> {
    let old = store
        .credential(account, sid)
        .await?
        .ok_or(ManageError::NotFound)?;
    let material = match patch.material {
        Some(material) => material,
        None => stored_material(master, &old)?,
    };
    let kind = resolve_kind(patch.kind.as_deref(), &material)?;
    if kind != old.kind {
        return Err(bad(format!(
            "a credential's type can't change ({} → {kind}): create a new credential instead",
            old.kind
        )));
    }
    let input = to_input(
        material,
        patch.key_id.or(old.key_id.clone()),
        patch.team_id.or(old.team_id.clone()),
        patch.bundle_id.or(Some(old.bundle_id.clone())),
    )?;
    let sandbox = checked_sandbox(kind, patch.sandbox)?.unwrap_or(old.sandbox);
    let validated = validate_blocking(input, sandbox, rules).await?;
    let name = match patch.friendly_name {
        Some(name) => checked_name(Some(name))?,
        None => old.friendly_name.clone(),
    };
    let record = seal_record(
        master,
        old.sid.clone(),
        account,
        kind,
        name,
        sandbox,
        validated,
        (old.date_created, now_ms()),
    )?;
    store.save_credential(&record).await?;
    Ok(record)
}

fn bad(message: impl Into<String>) -> ManageError {
    ManageError::BadRequest(message.into())
}

/// FCM has no sandbox: `sandbox=true` with a service account is a mistake worth saying.
fn checked_sandbox(
    kind: CredentialType,
    sandbox: Option<bool>,
) -> Result<Option<bool>, ManageError> {
    if kind == CredentialType::Fcm && sandbox == Some(true) {
        return Err(bad(
            "sandbox applies to APNs credentials only: FCM has one environment",
        ));
    }
    Ok(sandbox)
}

fn checked_name(name: Option<String>) -> Result<String, ManageError> {
    let name = name.unwrap_or_default();
    if name.chars().count() > MAX_FRIENDLY_NAME {
        return Err(bad("friendly_name must be at most 64 characters"));
    }
    Ok(name)
}

fn resolve_kind(given: Option<&str>, material: &Material) -> Result<CredentialType, ManageError> {
    let inferred = match material {
        Material::P8 { .. } => CredentialType::ApnToken,
        Material::ServiceAccount { .. } => CredentialType::Fcm,
        Material::CertificatePem { .. } | Material::P12 { .. } => CredentialType::Apn,
    };
    match given.map(|t| (t, t.parse::<CredentialType>())) {
        None => Ok(inferred),
        Some((_, Ok(t))) if t == inferred => Ok(inferred),
        Some((t, Ok(_))) => Err(bad(format!(
            "type {t} does not match the key material: `apn` takes certificate + private_key or \
             p12, `apn_token` takes p8 with key_id, team_id and bundle_id, `fcm` takes the \
             service-account JSON"
        ))),
        Some((other, Err(_))) => Err(bad(format!(
            "type {other:?} is not supported: use \"apn\" (certificate), \"apn_token\" (.p8) \
             or \"fcm\" (service account)"
        ))),
    }
}

fn to_input(
    material: Material,
    key_id: Option<String>,
    team_id: Option<String>,
    bundle_id: Option<String>,
) -> Result<CredentialInput, ManageError> {
    Ok(match material {
        Material::CertificatePem {
            certificate,
            private_key,
        } => CredentialInput::CertificatePem {
            certificate,
            private_key,
        },
        Material::P12 { der, password } => CredentialInput::P12 { der, password },
        Material::P8 { pem } => CredentialInput::TokenKey {
            p8_pem: pem,
            key_id: key_id.ok_or_else(|| bad("key_id is required with a .p8 key"))?,
            team_id: team_id.ok_or_else(|| bad("team_id is required with a .p8 key"))?,
            bundle_id: bundle_id.ok_or_else(|| bad("bundle_id is required with a .p8 key"))?,
        },
        Material::ServiceAccount { json } => CredentialInput::ServiceAccount { json },
    })
}

/// Parsing keys and decrypting .p12 files is CPU work: keep it off the async workers, and
/// run at most `max_concurrent_credential_validations` at once ([`super::limit`]).
async fn validate_blocking(
    input: CredentialInput,
    sandbox: bool,
    rules: &IntakeRules,
) -> Result<ValidatedCredential, ManageError> {
    let options = ValidateOptions {
        expiry_warning_secs: rules.warning_window_secs,
        fcm_token_hosts: rules.fcm_token_hosts.clone(),
        ..ValidateOptions::new(sandbox, now_secs())
    };
    let permit = super::limit::acquire().await.ok_or(ManageError::Busy)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        validate_with(input, &options)
    })
    .await
    .map_err(|e| bad(format!("validation task failed: {e}")))?
    .map_err(ManageError::Invalid)
}

#[allow(clippy::too_many_arguments)]
fn seal_record(
    master: &MasterKey,
    sid: CredentialSid,
    account: &AccountSid,
    kind: CredentialType,
    friendly_name: String,
    sandbox: bool,
    v: ValidatedCredential,
    (date_created, date_updated): (i64, i64),
) -> Result<CredentialRecord, SecretsError> {
    let (cert_chain_pem, key) = match &v.material {
        SecretMaterial::Certificate {
            cert_chain_pem,
            private_key_pem,
        } => (Some(cert_chain_pem.clone()), private_key_pem),
        SecretMaterial::Token { p8_pem } => (None, p8_pem),
        SecretMaterial::ServiceAccount { private_key_pem } => (None, private_key_pem),
    };
    let secret_sealed = master.seal(key.expose_secret().as_bytes(), sid.as_str())?;
    debug_assert_eq!(
        matches!(v.kind, CredentialKind::Token),
        kind == CredentialType::ApnToken
    );
    Ok(CredentialRecord {
        sid,
        account_sid: account.clone(),
        kind,
        friendly_name,
        sandbox,
        bundle_id: v.bundle_id,
        voip_topic: v.voip_topic,
        topics: v.topics,
        env_development: v.environments.development,
        env_production: v.environments.production,
        not_before: v.not_before,
        not_after: v.not_after,
        fingerprint: v.fingerprint,
        key_id: v.key_id,
        team_id: v.team_id,
        warnings: v.warnings,
        cert_chain_pem,
        secret_sealed,
        rejected_reason: None,
        date_created,
        date_updated,
        fcm: v.fcm,
    })
}

/// The key material of `c` as an upload, for a rotation that changes only flags.
fn stored_material(master: &MasterKey, c: &CredentialRecord) -> Result<Material, ManageError> {
    if let Some(json) = service_account_json(master, c)? {
        return Ok(Material::ServiceAccount { json });
    }
    Ok(match open_material(master, c)? {
        SecretMaterial::Certificate {
            cert_chain_pem,
            private_key_pem,
        } => Material::CertificatePem {
            certificate: cert_chain_pem,
            private_key: private_key_pem,
        },
        SecretMaterial::Token { p8_pem }
        | SecretMaterial::ServiceAccount {
            private_key_pem: p8_pem,
        } => Material::P8 { pem: p8_pem },
    })
}
