//! The service account, the RS256 assertion and the token endpoint's answers.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde::Deserialize;

use super::{account, rsa_key, start};
use crate::credentials::devcerts::{self, KeyKind};
use crate::fcm::{
    AssertionSigner, FCM_SCOPE, OAuthError, ServiceAccount, TokenError, TransientCause,
    parse_token_response,
};

const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

#[derive(Deserialize)]
pub struct Claims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// Verifies `jwt` with the test key's public half and returns its claims.
pub fn verify_assertion(jwt: &str, aud: &str) -> (jsonwebtoken::Header, Claims) {
    let public = DecodingKey::from_rsa_pem(&rsa_key().1).expect("public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[aud]);
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Claims>(jwt, &public, &validation).expect("valid RS256");
    (data.header, data.claims)
}

#[test]
fn assertion_is_rs256_with_google_claims() {
    let signer = AssertionSigner::new(&account(TOKEN_URI)).expect("signer");
    let jwt = signer.sign(start()).expect("sign");
    let (header, claims) = verify_assertion(secrecy::ExposeSecret::expose_secret(&jwt), TOKEN_URI);
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(
        header.kid.as_deref(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(claims.iss, "pushgate@demo-project.iam.gserviceaccount.com");
    assert_eq!(claims.scope, FCM_SCOPE);
    assert_eq!(claims.aud, TOKEN_URI);
    assert_eq!(claims.iat, 1_800_000_000);
    assert_eq!(claims.exp, claims.iat + 3600);
    assert_eq!(signer.fingerprint().len(), 64);
}

#[test]
fn pkcs1_keys_sign_too_and_fingerprint_names_the_key() {
    let pkcs8 = AssertionSigner::new(&account(TOKEN_URI)).unwrap();
    let key = openssl::pkey::PKey::private_key_from_pem(
        secrecy::ExposeSecret::expose_secret(&rsa_key().0).as_bytes(),
    )
    .unwrap();
    let mut pkcs1_account = account(TOKEN_URI);
    pkcs1_account.private_key = devcerts::traditional_pem(&key).unwrap();
    let pkcs1 = AssertionSigner::new(&pkcs1_account).expect("PKCS#1 accepted");
    assert_eq!(
        pkcs1.fingerprint(),
        pkcs8.fingerprint(),
        "same key, same fingerprint"
    );

    let mut other = account(TOKEN_URI);
    let other_key = devcerts::generate_key(KeyKind::Rsa2048).unwrap();
    other.private_key = devcerts::pkcs8_pem(&other_key).unwrap();
    assert_ne!(
        AssertionSigner::new(&other).unwrap().fingerprint(),
        pkcs8.fingerprint()
    );
}

#[test]
fn non_rsa_or_garbage_keys_are_unusable() {
    let ec = devcerts::generate_key(KeyKind::EcP256).unwrap();
    for key in [
        devcerts::pkcs8_pem(&ec).unwrap(),
        SecretString::from("not a pem"),
    ] {
        let mut bad = account(TOKEN_URI);
        bad.private_key = key;
        assert!(matches!(
            AssertionSigner::new(&bad),
            Err(TokenError::Signing(_))
        ));
    }
}

#[test]
fn service_account_debug_never_shows_the_key_and_json_is_read() {
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "abc",
        "private_key": secrecy::ExposeSecret::expose_secret(&rsa_key().0),
        "client_email": "x@demo-project.iam.gserviceaccount.com",
        "token_uri": TOKEN_URI,
    })
    .to_string();
    let parsed = ServiceAccount::from_json(&json).expect("parses");
    assert_eq!(parsed.project_id, "demo-project");
    assert_eq!(parsed.token_uri.as_str(), TOKEN_URI);
    let debug = format!("{parsed:?}");
    assert!(
        !debug.contains("PRIVATE KEY") && debug.contains("[REDACTED]"),
        "{debug}"
    );
    let missing = ServiceAccount::from_json(r#"{"project_id":"p"}"#).unwrap_err();
    assert!(!missing.to_string().contains("BEGIN"));
    assert!(ServiceAccount::from_json("{").is_err());
}

fn parse(status: u16, body: &str) -> Result<crate::fcm::AccessToken, TokenError> {
    parse_token_response(status, &HeaderMap::new(), body.as_bytes(), start())
}

#[test]
fn granted_token_expires_after_expires_in() {
    let token = parse(
        200,
        r#"{"access_token":"ya29.c.b0Aaek","expires_in":3599,"token_type":"Bearer"}"#,
    )
    .expect("token");
    assert_eq!(token.expose(), "ya29.c.b0Aaek");
    assert_eq!(token.issued_at(), start());
    assert_eq!(token.lifetime(), Duration::from_secs(3599));
    assert!(!format!("{token:?}").contains("ya29"), "Debug redacts");
    // expires_in as a string is tolerated.
    let token = parse(
        200,
        r#"{"access_token":"a","expires_in":"60","token_type":"bearer"}"#,
    );
    assert_eq!(token.unwrap().lifetime(), Duration::from_secs(60));
}

#[test]
fn unusable_success_is_malformed() {
    for body in [
        "",
        "<html>login</html>",
        r#"{"expires_in":3599,"token_type":"Bearer"}"#,
        r#"{"access_token":"","expires_in":3599,"token_type":"Bearer"}"#,
        r#"{"access_token":"a b","expires_in":3599,"token_type":"Bearer"}"#,
        r#"{"access_token":"a","expires_in":0,"token_type":"Bearer"}"#,
        r#"{"access_token":"a","token_type":"Bearer"}"#,
        r#"{"access_token":"a","expires_in":3599,"token_type":"MAC"}"#,
    ] {
        assert!(
            matches!(
                parse(200, body),
                Err(TokenError::Malformed { status: 200, .. })
            ),
            "{body}"
        );
    }
    assert!(matches!(
        parse(302, ""),
        Err(TokenError::Malformed { status: 302, .. })
    ));
}

#[test]
fn refusals_carry_the_oauth_error() {
    let cases = [
        (400, "invalid_grant", OAuthError::InvalidGrant),
        (400, "invalid_scope", OAuthError::InvalidScope),
        (401, "invalid_client", OAuthError::InvalidClient),
        (401, "unauthorized_client", OAuthError::UnauthorizedClient),
        (
            400,
            "something_new",
            OAuthError::Other("something_new".into()),
        ),
    ];
    for (status, code, expected) in cases {
        let body = format!(r#"{{"error":"{code}","error_description":"Invalid JWT Signature."}}"#);
        assert_eq!(
            parse(status, &body),
            Err(TokenError::Refused {
                status,
                error: expected,
                description: Some("Invalid JWT Signature.".into()),
            })
        );
    }
    let bare = parse(403, "Forbidden");
    assert!(
        matches!(bare, Err(TokenError::Refused { status: 403, error: OAuthError::Other(ref s), description: None }) if s.is_empty())
    );
}

#[test]
fn server_trouble_is_transient_with_retry_after() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from_static("5"));
    for (status, cause) in [
        (500, TransientCause::ServerError),
        (503, TransientCause::ServerError),
        (429, TransientCause::RateLimited),
        (408, TransientCause::RateLimited),
    ] {
        let result = parse_token_response(status, &headers, b"{}", start());
        assert_eq!(
            result,
            Err(TokenError::Transient {
                cause,
                status: Some(status),
                retry_after: Some(Duration::from_secs(5)),
            })
        );
        assert!(result.unwrap_err().is_transient());
    }
}
