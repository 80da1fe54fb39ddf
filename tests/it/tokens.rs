//! Access tokens: both helper libraries' shapes are accepted; every Twilio error code is
//! returned for the failure it names.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushgate::clock::now_secs;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error, device_token, spawn_app, store_tests};

/// Claims as twilio-python emits them (`nbf`, no `iat`).
fn python_claims(app: &TestApp) -> Value {
    let now = now_secs();
    json!({
        "jti": format!("{}-{now}", app.key),
        "iss": app.key.as_str(),
        "sub": app.account.as_str(),
        "exp": now + 3600,
        "nbf": now,
        "grants": {"identity": "alice", "voice": {"push_credential_sid": app.credential.as_str()}}
    })
}

/// Claims as twilio-node emits them (`iat`, no `nbf`, incoming grant).
fn node_claims(app: &TestApp) -> Value {
    let now = now_secs();
    json!({
        "jti": format!("{}-{now}", app.key),
        "iss": app.key.as_str(),
        "sub": app.account.as_str(),
        "iat": now,
        "exp": now + 3600,
        "grants": {"identity": "alice", "voice": {
            "incoming": {"allow": true},
            "push_credential_sid": app.credential.as_str()}}
    })
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    let header = Header {
        typ: Some("JWT".into()),
        cty: Some("twilio-fpa;v=1".into()),
        ..Header::new(alg)
    };
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn signed(app: &TestApp, claims: &Value) -> String {
    sign(claims, Algorithm::HS256, app.secret.expose_secret())
}

/// A token with a hand-made header (for algorithms jsonwebtoken refuses to produce).
fn with_raw_header(header: Value, claims: &Value, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let message = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let key = EncodingKey::from_secret(secret.as_bytes());
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{sig}")
}

async fn expect_code(app: &TestApp, token: &str, code: u64) {
    let res = app.register(token, &device_token(1)).await;
    assert_error(res, 401, code).await;
    assert_eq!(app.registration_count().await, 0, "nothing written");
}

async fn accepts_both_helper_library_shapes_and_algorithms(b: Backend) {
    let app = spawn_app(b).await;
    let secret = app.secret.expose_secret().to_owned();
    for (i, token) in [
        signed(&app, &python_claims(&app)),
        signed(&app, &node_claims(&app)),
        sign(&node_claims(&app), Algorithm::HS384, &secret),
        sign(&node_claims(&app), Algorithm::HS512, &secret),
        app.token("alice"),
    ]
    .iter()
    .enumerate()
    {
        let res = app.register(token, &device_token(i as u8 + 1)).await;
        assert_eq!(
            res.status(),
            201,
            "token shape {i}: {}",
            res.text().await.unwrap()
        );
    }
    // An optional region header field does not disturb parsing.
    let header = json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1", "twr": "us1"});
    let token = with_raw_header(header, &node_claims(&app), &secret);
    assert_eq!(app.register(&token, &device_token(9)).await.status(), 201);
    // Authorization: Bearer works as well as X-Twilio-Token.
    let res = app
        .client
        .post(app.url("/v1/registrations"))
        .bearer_auth(app.token("alice"))
        .json(&json!({"binding_type": "apn", "address": device_token(10)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

async fn malformed_and_missing_tokens_are_20101(b: Backend) {
    let app = spawn_app(b).await;
    for bad in ["", "abc", "a.b", "a.b.c.d"] {
        expect_code(&app, bad, 20101).await;
    }
    // A sound header over claims that are not JSON.
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#);
    expect_code(&app, &format!("{header}.!!!.c2ln"), 20101).await;
    let res = app
        .client
        .post(app.url("/v1/registrations"))
        .json(&json!({"binding_type": "apn", "address": device_token(1)}))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20101).await;
}

async fn bad_headers_are_20102(b: Backend) {
    let app = spawn_app(b).await;
    let secret = app.secret.expose_secret().to_owned();
    let claims = node_claims(&app);
    for header in [
        json!({"alg": "none", "typ": "JWT", "cty": "twilio-fpa;v=1"}),
        json!({"alg": "RS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}),
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"alg": "HS256", "cty": "something-else"}),
        json!({"typ": "JWT"}),
    ] {
        expect_code(&app, &with_raw_header(header, &claims, &secret), 20102).await;
    }
    let unsigned = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // An empty signature is malformed before anything else.
    expect_code(&app, &unsigned, 20101).await;
    expect_code(&app, "bm90IGpzb24.e30.c2ln", 20102).await;
}

async fn unknown_revoked_or_foreign_keys_are_20103(b: Backend) {
    let app = spawn_app(b).await;
    let mut claims = node_claims(&app);
    claims["iss"] = json!("SK00000000000000000000000000000000");
    expect_code(&app, &signed(&app, &claims), 20103).await;
    let mut claims = node_claims(&app);
    claims["iss"] = json!("not-a-key");
    expect_code(&app, &signed(&app, &claims), 20103).await;
    let mut claims = node_claims(&app);
    claims["sub"] = json!("AC00000000000000000000000000000000");
    expect_code(&app, &signed(&app, &claims), 20103).await;

    // A revoked key's tokens stop working.
    let (other, token) = second_key_token(&app).await;
    // Revoked through the API: this process forgets the cached key at once.
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/keys/{other}")))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let res = app.register(&token, &device_token(2)).await;
    assert_error(res, 401, 20103).await;
}

async fn time_claims_are_checked_with_leeway(b: Backend) {
    let app = spawn_app(b).await;
    let now = now_secs();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = node_claims(&app);
        f(&mut c);
        signed(&app, &c)
    };
    expect_code(&app, &with(&|c| c["exp"] = json!(now - 120)), 20104).await;
    expect_code(
        &app,
        &with(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        20104,
    )
    .await;
    expect_code(&app, &with(&|c| c["nbf"] = json!(now + 600)), 20105).await;
    expect_code(
        &app,
        &with(&|c| c["exp"] = json!(now + 86_400 + 3600)),
        20157,
    )
    .await;
    let mut python = python_claims(&app);
    python["nbf"] = json!(now - 10);
    python["exp"] = json!(now - 10 + 90_000);
    expect_code(&app, &signed(&app, &python), 20157).await;
    // Within the 30 s default leeway both ways.
    let token = with(&|c| c["exp"] = json!(now - 10));
    assert_eq!(app.register(&token, &device_token(1)).await.status(), 201);
    let token = with(&|c| c["nbf"] = json!(now + 10));
    assert_eq!(app.register(&token, &device_token(2)).await.status(), 201);
}

async fn missing_grants_are_20106(b: Backend) {
    let app = spawn_app(b).await;
    let mut no_identity = node_claims(&app);
    no_identity["grants"]
        .as_object_mut()
        .unwrap()
        .remove("identity");
    expect_code(&app, &signed(&app, &no_identity), 20106).await;
    let mut no_push = node_claims(&app);
    no_push["grants"]["voice"]
        .as_object_mut()
        .unwrap()
        .remove("push_credential_sid");
    expect_code(&app, &signed(&app, &no_push), 20106).await;
    let mut no_voice = node_claims(&app);
    no_voice["grants"].as_object_mut().unwrap().remove("voice");
    expect_code(&app, &signed(&app, &no_voice), 20106).await;
    let mut bad_sid = node_claims(&app);
    bad_sid["grants"]["voice"]["push_credential_sid"] = json!("PN123");
    expect_code(&app, &signed(&app, &bad_sid), 20106).await;
}

async fn bad_signatures_are_20107(b: Backend) {
    let app = spawn_app(b).await;
    let claims = node_claims(&app);
    let wrong_secret = sign(
        &claims,
        Algorithm::HS256,
        "not-the-secret-not-the-secret-xx",
    );
    expect_code(&app, &wrong_secret, 20107).await;
    let good = signed(&app, &claims);
    let (message, _) = good.rsplit_once('.').unwrap();
    expect_code(&app, &format!("{message}.AAAA"), 20107).await;
    // Claims altered after signing.
    let mut forged = claims.clone();
    forged["grants"]["identity"] = json!("mallory");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(forged.to_string()),
        parts[2]
    );
    expect_code(&app, &tampered, 20107).await;
}

/// A second API key of the app's account, and a token it signed that registers a device.
async fn second_key_token(app: &TestApp) -> (pushgate::domain::ApiKeySid, String) {
    let other = pushgate::auth::api_keys::create_key(&app.store, &app.master, &app.account, "b")
        .await
        .unwrap();
    let mut claims = node_claims(app);
    claims["iss"] = json!(other.record.sid.as_str());
    let token = sign(&claims, Algorithm::HS256, other.secret.expose_secret());
    assert_eq!(app.register(&token, &device_token(1)).await.status(), 201);
    (other.record.sid, token)
}

/// A key revoked elsewhere (another replica, the CLI) stops working once the cache forgets it;
/// with the cache off, at once.
async fn keys_revoked_elsewhere_stop_working_when_uncached(b: Backend) {
    let app = crate::helpers::spawn_app_with(b, |c| c.api_key_cache_seconds = 0).await;
    let (other, token) = second_key_token(&app).await;
    app.store
        .revoke_api_key(&app.account, &other, 1)
        .await
        .unwrap();
    let res = app.register(&token, &device_token(2)).await;
    assert_error(res, 401, 20103).await;
}

store_tests!(
    keys_revoked_elsewhere_stop_working_when_uncached,
    accepts_both_helper_library_shapes_and_algorithms,
    malformed_and_missing_tokens_are_20101,
    bad_headers_are_20102,
    unknown_revoked_or_foreign_keys_are_20103,
    time_claims_are_checked_with_leeway,
    missing_grants_are_20106,
    bad_signatures_are_20107,
);
