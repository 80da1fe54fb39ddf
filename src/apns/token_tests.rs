//! Tests for provider-token signing and caching, driven by a [`ManualClock`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use secrecy::SecretString;
use serde::Deserialize;

use super::config::ApnsError;
use super::token::ManualClock;
use super::token::*;

const MIN: Duration = Duration::from_secs(60);

fn p8_pair() -> (SecretString, Vec<u8>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let private = String::from_utf8(key.private_key_to_pem_pkcs8().expect("pem")).expect("utf8");
    (
        SecretString::from(private),
        key.public_key_to_pem().expect("pub"),
    )
}

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn source(refresh_after: Duration) -> (InMemoryTokenSource, Arc<ManualClock>) {
    let (p8, _) = p8_pair();
    let signer = ProviderTokenSigner::new(&p8, "KEYID12345", "TEAMID1234").expect("signer");
    let clock = Arc::new(ManualClock::new(start()));
    (
        InMemoryTokenSource::new(signer, clock.clone(), refresh_after),
        clock,
    )
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    iat: u64,
}

#[test]
fn signs_es256_with_kid_iss_iat() {
    let (p8, public) = p8_pair();
    let signer = ProviderTokenSigner::new(&p8, "KEYID12345", "TEAMID1234").expect("signer");
    let token = signer.sign(start()).expect("sign");
    assert_eq!(token.issued_at(), start());

    let header = jsonwebtoken::decode_header(token.expose_jwt()).expect("header");
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("KEYID12345"));
    assert_eq!(header.typ, None);

    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let key = DecodingKey::from_ec_pem(&public).expect("decoding key");
    let data =
        jsonwebtoken::decode::<Claims>(token.expose_jwt(), &key, &validation).expect("verify");
    assert_eq!(data.claims.iss, "TEAMID1234");
    assert_eq!(data.claims.iat, 1_800_000_000);
    assert!(!format!("{token:?}").contains(token.expose_jwt()));
    assert!(!format!("{signer:?}").contains("PRIVATE"));
}

#[test]
fn rejects_a_bad_p8() {
    let err = ProviderTokenSigner::new(&SecretString::from("garbage"), "K", "T").unwrap_err();
    assert!(matches!(err, ApnsError::Credential(_)));
    // An RSA key is not an ES256 key.
    let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa")).expect("pkey");
    let pem = String::from_utf8(rsa.private_key_to_pem_pkcs8().expect("pem")).expect("utf8");
    assert!(ProviderTokenSigner::new(&SecretString::from(pem), "K", "T").is_err());
}

#[tokio::test]
async fn reuses_within_fifty_minutes_and_refreshes_after() {
    let (source, clock) = source(DEFAULT_TOKEN_REFRESH_AFTER);
    let first = source.current().await.expect("token");
    clock.advance(49 * MIN + Duration::from_secs(59));
    assert_eq!(source.current().await.expect("token"), first);
    clock.advance(Duration::from_secs(1));
    let second = source.current().await.expect("token");
    assert_ne!(second, first);
    assert_eq!(second.issued_at(), start() + 50 * MIN);
    clock.advance(10 * MIN);
    assert_eq!(source.current().await.expect("token"), second);
}

#[tokio::test]
async fn never_replaced_twice_within_twenty_minutes_on_schedule() {
    // Asking for a 5-minute refresh is clamped to Apple's 20-minute floor.
    let (source, clock) = source(5 * MIN);
    assert_eq!(source.refresh_after(), MIN_TOKEN_AGE_FOR_REFRESH);
    let first = source.current().await.expect("token");
    for _ in 0..19 {
        clock.advance(MIN);
        assert_eq!(source.current().await.expect("token"), first);
    }
    clock.advance(MIN);
    assert_ne!(source.current().await.expect("token"), first);

    // Asking for two hours is clamped below APNs's one-hour expiry.
    let (long, _) = self::source(120 * MIN);
    assert_eq!(long.refresh_after(), MAX_TOKEN_REFRESH_AFTER);
}

#[tokio::test]
async fn refresh_replaces_the_rejected_token_once() {
    let (source, clock) = source(DEFAULT_TOKEN_REFRESH_AFTER);
    let old = source.current().await.expect("token");
    clock.advance(30 * MIN);
    let fresh = source.refresh(&old).await.expect("refresh");
    assert_ne!(fresh, old);
    assert_eq!(fresh.issued_at(), start() + 30 * MIN);
    // Other requests that also saw `old` rejected get the same replacement.
    clock.advance(Duration::from_secs(5));
    assert_eq!(source.refresh(&old).await.expect("refresh"), fresh);
    assert_eq!(source.current().await.expect("token"), fresh);
}

#[tokio::test]
async fn early_forced_refresh_happens_at_most_once_per_twenty_minutes() {
    let (source, clock) = source(DEFAULT_TOKEN_REFRESH_AFTER);
    let first = source.current().await.expect("token");
    clock.advance(MIN);
    // Apple says a one-minute-old token expired (clock skew): replace it anyway...
    let second = source.refresh(&first).await.expect("refresh");
    assert_ne!(second, first);
    clock.advance(MIN);
    // ...but not again within 20 minutes, however often it is rejected.
    assert_eq!(source.refresh(&second).await.expect("refresh"), second);
    clock.advance(18 * MIN);
    assert_eq!(source.refresh(&second).await.expect("refresh"), second);
    clock.advance(MIN);
    let third = source.refresh(&second).await.expect("refresh");
    assert_ne!(third, second);
}

#[tokio::test]
async fn refresh_with_empty_cache_mints() {
    let (source, _clock) = source(DEFAULT_TOKEN_REFRESH_AFTER);
    let stranger = ProviderToken::new("x.y.z", start());
    let token = source.refresh(&stranger).await.expect("refresh");
    assert_eq!(source.current().await.expect("token"), token);
}

#[tokio::test]
async fn clock_going_backwards_keeps_the_token() {
    let (source, clock) = source(DEFAULT_TOKEN_REFRESH_AFTER);
    let first = source.current().await.expect("token");
    clock.set(start() - 10 * MIN);
    assert_eq!(source.current().await.expect("token"), first);
    assert_eq!(first.age_at(start() - MIN), Duration::ZERO);
}
