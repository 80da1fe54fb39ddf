//! Access tokens whose times are extreme: no arithmetic overflow lets one through.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushgate::clock::now_secs;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error, device_token, spawn_app};

fn signed(app: &TestApp, times: Value, voice: Value) -> String {
    let mut claims = json!({
        "jti": format!("{}-1", app.key),
        "iss": app.key.as_str(),
        "sub": app.account.as_str(),
        "grants": {"identity": "alice", "voice": voice},
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(times.as_object().unwrap().clone());
    let header = Header {
        typ: Some("JWT".into()),
        cty: Some("twilio-fpa;v=1".into()),
        ..Header::new(Algorithm::HS256)
    };
    let key = EncodingKey::from_secret(app.secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn ten_year_tokens_with_extreme_times_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let now = now_secs();
    let ten_years = now + 10 * 365 * 86_400;
    let voice = json!({"push_credential_sid": app.credential.as_str()});
    for (i, times) in [
        json!({"nbf": i64::MIN, "exp": ten_years}),
        json!({"iat": i64::MIN, "exp": ten_years}),
        json!({"iat": -1, "exp": now + 3600}),
        json!({"iat": now + 3600, "exp": now + 7200}),
    ]
    .into_iter()
    .enumerate()
    {
        let token = signed(&app, times.clone(), voice.clone());
        let res = app.register(&token, &device_token(i as u8 + 1)).await;
        assert_error(res, 401, 20158).await;
    }
    assert_eq!(app.registration_count().await, 0, "nothing registered");

    // Twilio's quickstart servers mint voice grants without `incoming`: still accepted.
    let quickstart = json!({
        "push_credential_sid": app.credential.as_str(),
        "outgoing_application_sid": "AP00000000000000000000000000000000",
    });
    let token = signed(&app, json!({"iat": now, "exp": now + 3600}), quickstart);
    assert_eq!(app.register(&token, &device_token(9)).await.status(), 201);
}
