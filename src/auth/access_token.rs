//! Twilio-format access tokens: the JWTs a customer's app server mints for its phones
//! (`cty: twilio-fpa;v=1`, HS256/384/512 with an API key secret). Verified in two steps —
//! [`parse`] reads the unverified token so the caller can look up the key named by `iss`,
//! then [`Unverified::verify`] checks signature, times and grants — each failure carrying
//! Twilio's error code.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::{AccountSid, ApiKeySid, CredentialSid, Identity};

/// The `cty` header value Twilio tokens carry.
pub const CONTENT_TYPE: &str = "twilio-fpa;v=1";
/// Longest lifetime Twilio allows for an access token.
pub const MAX_TTL_SECS: i64 = 24 * 3600;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why an access token was refused; `code()` is Twilio's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("access token is missing: send it in the X-Twilio-Token header")]
    Missing,
    #[error("access token is malformed: expected a JWT of three base64url parts")]
    Malformed,
    #[error("access token header is invalid: {0}")]
    BadHeader(&'static str),
    #[error("access token issuer or subject is invalid: {0}")]
    BadIssuer(&'static str),
    #[error("access token has expired or its expiration date is invalid")]
    Expired,
    #[error("access token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("access token grants are invalid: {0}")]
    BadGrants(&'static str),
    #[error("access token signature is invalid")]
    BadSignature,
    #[error("access token lifetime exceeds the maximum of 24 hours")]
    TtlTooLong,
    #[error("access token times are invalid: {0}")]
    BadTimes(&'static str),
}

impl TokenError {
    /// Twilio's numeric error code for this failure.
    pub fn code(&self) -> u32 {
        match self {
            TokenError::Missing | TokenError::Malformed => 20101,
            TokenError::BadHeader(_) => 20102,
            TokenError::BadIssuer(_) => 20103,
            TokenError::Expired => 20104,
            TokenError::NotYetValid => 20105,
            TokenError::BadGrants(_) => 20106,
            TokenError::BadSignature => 20107,
            TokenError::TtlTooLong => 20157,
            TokenError::BadTimes(_) => 20158,
        }
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    cty: Option<String>,
}

/// The claims of a Twilio access token; fields are optional because both helper libraries
/// emit keys only when set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    pub iss: String,
    pub sub: String,
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default)]
    pub grants: Grants,
}

/// `grants` of an access token (only what pushgate reads).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Grants {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceGrant>,
}

/// `grants.voice`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VoiceGrant {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_credential_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<serde_json::Value>,
}

/// A token whose structure is sound but whose signature is not yet checked.
pub struct Unverified<'a> {
    token: &'a str,
    alg: Algorithm,
    claims: Claims,
    key: ApiKeySid,
}

/// What a verified token proves about the phone presenting it.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub account: AccountSid,
    pub key: ApiKeySid,
    pub identity: Identity,
    pub push_credential: CredentialSid,
}

/// Reads a token's header and claims without trusting them.
pub fn parse(token: &str) -> Result<Unverified<'_>, TokenError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if payload.is_empty() || signature.is_empty() {
        return Err(TokenError::Malformed);
    }
    let header: RawHeader = B64URL
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::BadHeader(
            "not base64url-encoded JSON with an alg",
        ))?;
    let alg = match header.alg.as_str() {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        _ => return Err(TokenError::BadHeader("alg must be HS256, HS384 or HS512")),
    };
    if header.cty.as_deref() != Some(CONTENT_TYPE) {
        return Err(TokenError::BadHeader("cty must be twilio-fpa;v=1"));
    }
    let claims: Claims = B64URL
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenError::Malformed)?;
    let key = ApiKeySid::parse(&claims.iss)
        .map_err(|_| TokenError::BadIssuer("iss must be an API key SID (SK…)"))?;
    Ok(Unverified {
        token,
        alg,
        claims,
        key,
    })
}

impl Unverified<'_> {
    /// The API key the token claims to be signed with.
    pub fn key(&self) -> &ApiKeySid {
        &self.key
    }

    /// Checks the token against the key's secret and account, at `now` (epoch seconds)
    /// with `leeway` seconds of clock tolerance.
    pub fn verify(
        self,
        secret: &SecretString,
        key_account: &AccountSid,
        now: i64,
        leeway: i64,
    ) -> Result<VerifiedToken, TokenError> {
        if self.claims.sub != key_account.as_str() {
            return Err(TokenError::BadIssuer(
                "sub is not the account that owns the key",
            ));
        }
        let (message, signature) = self.token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
        let valid = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, self.alg)
            .unwrap_or(false);
        if !valid {
            return Err(TokenError::BadSignature);
        }
        let claims = self.claims;
        check_times(&claims, now, leeway)?;
        let identity = claims
            .grants
            .identity
            .as_deref()
            .ok_or(TokenError::BadGrants("grants.identity is missing"))
            .and_then(|i| {
                Identity::parse(i).map_err(|_| TokenError::BadGrants("grants.identity is invalid"))
            })?;
        let push_credential = claims
            .grants
            .voice
            .as_ref()
            .and_then(|v| v.push_credential_sid.as_deref())
            .ok_or(TokenError::BadGrants(
                "grants.voice.push_credential_sid is missing",
            ))
            .and_then(|s| {
                CredentialSid::parse(s).map_err(|_| {
                    TokenError::BadGrants("grants.voice.push_credential_sid is not a CR… SID")
                })
            })?;
        Ok(VerifiedToken {
            account: key_account.clone(),
            key: self.key,
            identity,
            push_credential,
        })
    }
}

/// Checks `exp`, `nbf` and `iat` at `now` with `leeway`, in checked arithmetic: times are
/// attacker-chosen integers, and `exp - i64::MIN` must not wrap into a short lifetime.
fn check_times(claims: &Claims, now: i64, leeway: i64) -> Result<(), TokenError> {
    let exp = claims.exp.ok_or(TokenError::Expired)?;
    if exp.saturating_add(leeway) < now {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf < 0) {
        return Err(TokenError::BadTimes("nbf is negative"));
    }
    if claims.iat.is_some_and(|iat| iat < 0) {
        return Err(TokenError::BadTimes("iat is negative"));
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(leeway))
    {
        return Err(TokenError::NotYetValid);
    }
    if claims
        .iat
        .is_some_and(|iat| iat > now.saturating_add(leeway))
    {
        return Err(TokenError::BadTimes("iat is in the future"));
    }
    let start = claims.nbf.or(claims.iat).unwrap_or(now).min(now);
    let lifetime = exp.checked_sub(start).ok_or(TokenError::TtlTooLong)?;
    if lifetime > MAX_TTL_SECS.saturating_add(leeway) {
        return Err(TokenError::TtlTooLong);
    }
    Ok(())
}

/// What to put in a token minted by pushgate itself (CLI `token`, quickstart endpoint).
pub struct MintRequest<'a> {
    pub account: &'a AccountSid,
    pub key: &'a ApiKeySid,
    pub secret: &'a SecretString,
    pub identity: &'a Identity,
    pub push_credential: Option<&'a CredentialSid>,
    pub ttl_secs: i64,
    pub now: i64,
}

/// Mints an HS256 token exactly as Twilio's helper libraries do.
pub fn mint(req: MintRequest<'_>) -> Result<String, TokenError> {
    if req.ttl_secs <= 0 || req.ttl_secs > MAX_TTL_SECS {
        return Err(TokenError::TtlTooLong);
    }
    let header = Header {
        typ: Some("JWT".into()),
        cty: Some(CONTENT_TYPE.into()),
        ..Header::new(Algorithm::HS256)
    };
    let claims = Claims {
        jti: Some(format!("{}-{}", req.key, req.now)),
        iss: req.key.to_string(),
        sub: req.account.to_string(),
        exp: Some(req.now + req.ttl_secs),
        nbf: None,
        iat: Some(req.now),
        grants: Grants {
            identity: Some(req.identity.to_string()),
            voice: Some(VoiceGrant {
                push_credential_sid: req.push_credential.map(|c| c.to_string()),
                incoming: Some(serde_json::json!({ "allow": true })),
                outgoing: None,
            }),
        },
    };
    let key = EncodingKey::from_secret(req.secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: Option<i64>, nbf: Option<i64>, iat: Option<i64>) -> Claims {
        Claims {
            jti: None,
            iss: String::new(),
            sub: String::new(),
            exp,
            nbf,
            iat,
            grants: Grants::default(),
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn extreme_times_are_refused_without_overflow() {
        let ten_years = Some(NOW + 10 * 365 * 86_400);
        for (nbf, iat) in [
            (Some(i64::MIN), None),
            (None, Some(i64::MIN)),
            (Some(-1), None),
            (None, Some(-1)),
        ] {
            let c = claims(ten_years, nbf, iat);
            assert!(check_times(&c, NOW, 30).is_err(), "{nbf:?} {iat:?}");
        }
        assert_eq!(
            check_times(&claims(Some(i64::MAX), None, Some(NOW)), NOW, 30),
            Err(TokenError::TtlTooLong)
        );
        assert_eq!(
            check_times(&claims(Some(i64::MIN), None, Some(NOW)), NOW, 300),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn iat_in_the_future_beyond_the_leeway_is_refused() {
        let c = claims(Some(NOW + 3600), None, Some(NOW + 31));
        assert_eq!(check_times(&c, NOW, 30).map_err(|e| e.code()), Err(20158));
        let c = claims(Some(NOW + 3600), None, Some(NOW + 30));
        assert_eq!(check_times(&c, NOW, 30), Ok(()));
        let c = claims(Some(NOW + 3600), Some(NOW - 10), None);
        assert_eq!(check_times(&c, NOW, 0), Ok(()));
    }
}
