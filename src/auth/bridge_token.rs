//! Bridge tokens: the `twi_bridge_token` in each call push. Bound to one invite and one
//! registration, valid until shortly after the invite expires, they let the phone act on
//! that call (follow its events, accept, reject) without an access token. HS256 JWTs under a
//! key derived from the master key; tokens signed under a previous master key of the ring
//! still verify, so calls ringing during a key rotation can still be answered.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secrets::MasterKey;

/// How long after the invite's expiry a bridge token still works (late event streams learn
/// the call's final state).
pub const GRACE_SECS: i64 = 60;
use crate::domain::{InviteSid, RegistrationSid};

const PURPOSE: &str = "pushgate bridge token v1";
const ISSUER: &str = "pushgate";

/// What a bridge token proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeClaims {
    /// Issuer, always `pushgate`.
    pub iss: String,
    /// The invite SID.
    pub inv: InviteSid,
    /// The registration SID the push went to.
    pub reg: RegistrationSid,
    /// Expiry, epoch seconds.
    pub exp: i64,
}

/// Signs and checks bridge tokens.
#[derive(Clone)]
pub struct BridgeTokens {
    encoding: EncodingKey,
    /// Current key first, then the previous keys'.
    decoding: Vec<DecodingKey>,
}

impl BridgeTokens {
    /// Keys derived from the master keyring: signs under the current key, verifies under
    /// every key.
    pub fn new(master: &MasterKey) -> Self {
        Self {
            encoding: EncodingKey::from_secret(&master.derive(PURPOSE)),
            decoding: master
                .derive_all(PURPOSE)
                .iter()
                .map(|k| DecodingKey::from_secret(k))
                .collect(),
        }
    }

    /// A token for `invite` and `registration`, valid until `invite_expires_ms` + grace.
    pub fn sign(
        &self,
        invite: &InviteSid,
        registration: &RegistrationSid,
        invite_expires_ms: i64,
    ) -> String {
        let claims = BridgeClaims {
            iss: ISSUER.into(),
            inv: invite.clone(),
            reg: registration.clone(),
            exp: invite_expires_ms / 1000 + GRACE_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a derived key cannot fail")
    }

    /// The claims of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<BridgeClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = 0;
        self.decoding.iter().find_map(|key| {
            jsonwebtoken::decode::<BridgeClaims>(token, key, &validation)
                .ok()
                .map(|data| data.claims)
        })
    }
}

impl std::fmt::Debug for BridgeTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BridgeTokens([redacted])")
    }
}

#[cfg(test)]
mod tests {
    fn iv() -> crate::domain::InviteSid {
        crate::domain::InviteSid::trusted(format!("IV{}", "1".repeat(32)))
    }

    fn bs() -> crate::domain::RegistrationSid {
        crate::domain::RegistrationSid::trusted(format!("BS{}", "1".repeat(32)))
    }

    use super::*;

    #[test]
    fn signs_and_verifies_bound_tokens() {
        let master = MasterKey::generate();
        let tokens = BridgeTokens::new(&master);
        let future = (crate::clock::now_secs() + 30) * 1000;
        let t = tokens.sign(&iv(), &bs(), future);
        let claims = tokens.verify(&t).unwrap();
        assert_eq!((claims.inv, claims.reg), (iv(), bs()));
        assert!(
            BridgeTokens::new(&MasterKey::generate())
                .verify(&t)
                .is_none()
        );
        let past = (crate::clock::now_secs() - GRACE_SECS - 10) * 1000;
        assert!(tokens.verify(&tokens.sign(&iv(), &bs(), past)).is_none());
    }

    #[test]
    fn tokens_of_a_previous_master_key_still_verify() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let future = (crate::clock::now_secs() + 30) * 1000;
        let before = BridgeTokens::new(&old).sign(&iv(), &bs(), future);
        let ring = BridgeTokens::new(&new.clone().with_previous([old.clone()]));
        assert_eq!(ring.verify(&before).unwrap().inv, iv());
        let after = ring.sign(&iv(), &bs(), future);
        assert!(
            BridgeTokens::new(&new).verify(&after).is_some(),
            "signs under the new key"
        );
        assert!(BridgeTokens::new(&new).verify(&before).is_none());
    }
}
