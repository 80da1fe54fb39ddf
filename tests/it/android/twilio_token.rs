//! An Android phone registers with an access token minted by Twilio's own helper library
//! (twilio-python's `AccessToken` + `VoiceGrant` naming the FCM credential), and rings.
//! `scripts/test.sh` provides the library (PUSHGATE_TEST_PYTHON); without it the test
//! fails, it never skips.

use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{Backend, fcm_token, spawn_app_with_fcm, store_tests};

const MINT: &str = r#"
import sys
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
account, key, secret, identity, credential = sys.argv[1:6]
token = AccessToken(account, key, secret, identity=identity, ttl=3600)
token.add_grant(VoiceGrant(push_credential_sid=credential, incoming_allow=True))
print(token.to_jwt())
"#;

fn python() -> String {
    std::env::var("PUSHGATE_TEST_PYTHON")
        .unwrap_or_else(|_| "target/py-venv-twilio/bin/python".into())
}

async fn an_android_phone_rings_with_a_token_from_twilio_python(b: Backend) {
    let (app, _apns, fcm) = spawn_app_with_fcm(b, |_| {}).await;
    let out = std::process::Command::new(python())
        .args(["-W", "ignore", "-c", MINT])
        .args([
            app.account.as_str(),
            app.key.as_str(),
            app.secret.expose_secret(),
            "alice",
            fcm.credential.as_str(),
        ])
        .output()
        .expect(
            "twilio-python is required (scripts/test.sh installs it; or set PUSHGATE_TEST_PYTHON)",
        );
    assert!(
        out.status.success(),
        "twilio-python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jwt = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    fcm.register(&fcm_token(9));
    let res = app
        .client
        .post(app.url("/v1/registrations?productId=voice"))
        .header("X-Twilio-Token", &jwt)
        .json(
            &json!({"channel_type": "fcm", "message_types": ["twilio.voice.call"],
                      "data": {"registration_id": fcm_token(9)}, "version": "3"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "delivered", "{settled}");
    assert_eq!(settled["deliveries"][0]["platform"], "fcm");
    assert_eq!(fcm.pushes()[0].token, fcm_token(9));
}

store_tests!(an_android_phone_rings_with_a_token_from_twilio_python);
