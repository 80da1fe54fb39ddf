//! Provider tokens (JWT, ES256): parsing, and signature verification with
//! OpenSSL against a registered key. Both signature encodings are accepted:
//! the JWS form (raw `R || S`, 64 bytes) and the DER `ECDSA-Sig-Value` that
//! some clients send by mistake.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT as B64URL;
use openssl::bn::BigNum;
use openssl::ec::EcKey;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use serde::Deserialize;

use super::config::Error;

/// A syntactically valid provider token (signature not yet checked).
#[derive(Debug, Clone)]
pub(crate) struct ParsedToken {
    /// `kid` from the JOSE header.
    pub key_id: String,
    /// `iss` claim: the team id.
    pub team_id: String,
    /// `iat` claim: epoch seconds.
    pub issued_at: i64,
    /// `header.claims`, the bytes that were signed.
    signing_input: String,
    /// Decoded signature bytes.
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: String,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    iat: i64,
}

/// Parses `token`; `None` if it is not a well-formed ES256 provider token.
pub(crate) fn parse(token: &str) -> Option<ParsedToken> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Header = serde_json::from_slice(&B64URL.decode(h).ok()?).ok()?;
    let claims: Claims = serde_json::from_slice(&B64URL.decode(c).ok()?).ok()?;
    if header.alg != "ES256" || header.kid.is_empty() || claims.iss.is_empty() {
        return None;
    }
    let signature = B64URL.decode(s).ok()?;
    if signature.is_empty() {
        return None;
    }
    Some(ParsedToken {
        key_id: header.kid,
        team_id: claims.iss,
        issued_at: claims.iat,
        signing_input: format!("{h}.{c}"),
        signature,
    })
}

impl ParsedToken {
    /// Whether the signature verifies under `key` (raw or DER form).
    pub fn verify(&self, key: &PKey<Public>) -> bool {
        let input = self.signing_input.as_bytes();
        if self.signature.len() == 64
            && let Some(der) = raw_to_der(&self.signature)
            && verify_der(key, input, &der)
        {
            return true;
        }
        self.signature.first() == Some(&0x30) && verify_der(key, input, &self.signature)
    }
}

fn raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    let r = BigNum::from_slice(&raw[..32]).ok()?;
    let s = BigNum::from_slice(&raw[32..]).ok()?;
    EcdsaSig::from_private_components(r, s).ok()?.to_der().ok()
}

fn verify_der(key: &PKey<Public>, input: &[u8], der: &[u8]) -> bool {
    Verifier::new(MessageDigest::sha256(), key)
        .and_then(|mut v| v.verify_oneshot(der, input))
        .unwrap_or(false)
}

/// Loads a P-256 public key from PEM: a `PUBLIC KEY`, or a `.p8`
/// `PRIVATE KEY` (PKCS#8) / `EC PRIVATE KEY` from which it is derived.
pub(crate) fn load_public_key(pem: &str) -> Result<PKey<Public>, Error> {
    let bytes = pem.as_bytes();
    let ec = if pem.contains("PRIVATE KEY") {
        let private = PKey::private_key_from_pem(bytes)
            .map_err(|e| Error::InvalidInput(format!("unreadable private key: {e}")))?;
        let ec = private
            .ec_key()
            .map_err(|_| Error::InvalidInput("key is not an EC key".into()))?;
        EcKey::from_public_key(ec.group(), ec.public_key())?
    } else {
        PKey::public_key_from_pem(bytes)
            .map_err(|e| Error::InvalidInput(format!("unreadable public key: {e}")))?
            .ec_key()
            .map_err(|_| Error::InvalidInput("key is not an EC key".into()))?
    };
    if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
        return Err(Error::InvalidInput("key is not a P-256 key".into()));
    }
    Ok(PKey::from_ec_key(ec)?)
}

/// Signs a provider token (used by tests and examples of client behaviour).
/// `der_signature` selects the DER signature encoding instead of JWS raw.
#[cfg(test)]
pub(crate) fn sign(
    key: &PKey<openssl::pkey::Private>,
    key_id: &str,
    team_id: &str,
    issued_at: i64,
    der_signature: bool,
) -> String {
    let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = enc.encode(format!(r#"{{"alg":"ES256","kid":"{key_id}"}}"#));
    let claims = enc.encode(format!(r#"{{"iss":"{team_id}","iat":{issued_at}}}"#));
    let input = format!("{header}.{claims}");
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key).expect("signer");
    let der = signer.sign_oneshot_to_vec(input.as_bytes()).expect("sign");
    let sig = if der_signature {
        der
    } else {
        let parsed = EcdsaSig::from_der(&der).expect("der sig");
        let mut raw = parsed.r().to_vec_padded(32).expect("r");
        raw.extend(parsed.s().to_vec_padded(32).expect("s"));
        raw
    };
    format!("{input}.{}", enc.encode(sig))
}
