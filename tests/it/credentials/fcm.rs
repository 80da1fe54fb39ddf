//! FCM credentials over HTTP: the service-account JSON in every upload form (JSON object,
//! JSON text, Twilio's `Secret` form field, a multipart file), what describe shows and
//! never shows, precise refusals, rotation, and registrations that must match the
//! credential's platform.

use pushgate::credentials::devcerts::service_account_json;
use pushgate::domain::CredentialSid;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::support::{created, post_json};
use crate::helpers::{
    Backend, TestApp, assert_error, device_token, fcm_token, spawn_app, store_tests,
};

const TOKEN_URI: &str = "https://127.0.0.1:9443/token";

fn service_account(project: &str) -> Value {
    let json = service_account_json(project, TOKEN_URI).unwrap();
    serde_json::from_str(json.expose_secret()).unwrap()
}

async fn upload(app: &TestApp, body: &Value, key: &str) -> Value {
    created(post_json(app, "/v1/credentials", body).await, &[key]).await
}

async fn accepts_a_service_account_in_every_form(b: Backend) {
    let app = spawn_app(b).await;
    let sa = service_account("pushgate-demo");
    let key = sa["private_key"].as_str().unwrap();
    let key_body = &key[40..100];
    // JSON, the file as an object.
    let c = upload(
        &app,
        &json!({"type": "fcm", "friendly_name": "android", "service_account": sa}),
        key_body,
    )
    .await;
    assert_eq!(c["type"], "fcm");
    assert_eq!(c["project_id"], "pushgate-demo");
    assert_eq!(c["client_email"], sa["client_email"]);
    assert_eq!(c["key_id"], sa["private_key_id"]);
    assert_eq!(c["sandbox"], false);
    assert_eq!(c["health"], "ok");
    assert_eq!(c["fingerprint"].as_str().unwrap().len(), 64);
    // Describe shows the same, never the key; the database holds it only sealed.
    let sid = c["sid"].as_str().unwrap().to_owned();
    let (status, described) = app.get_json(&format!("/v1/credentials/{sid}")).await;
    assert_eq!(status, 200);
    assert_eq!(described["project_id"], "pushgate-demo");
    assert!(!described.to_string().contains(key_body));
    let stored = app
        .store
        .credential(&app.account, &CredentialSid::parse(&sid).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored.secret_sealed).contains(key_body));

    // JSON, the file as a string; the type inferred.
    let sa2 = service_account("pushgate-two");
    let c = upload(
        &app,
        &json!({"service_account": sa2.to_string()}),
        &sa2["private_key"].as_str().unwrap()[40..100],
    )
    .await;
    assert_eq!(c["type"], "fcm");

    // Twilio's form: Type=fcm, Secret=<the JSON>.
    let sa3 = service_account("pushgate-three");
    let res = app
        .client
        .post(app.url("/v1/credentials"))
        .header("Authorization", app.basic())
        .form(&[
            ("Type", "fcm"),
            ("FriendlyName", "twilio form"),
            ("Secret", &sa3.to_string()),
        ])
        .send()
        .await
        .unwrap();
    let c = created(res, &[&sa3["private_key"].as_str().unwrap()[40..100]]).await;
    assert_eq!(c["project_id"], "pushgate-three");
    assert_eq!(c["friendly_name"], "twilio form");

    // multipart, the downloaded file as a part.
    let sa4 = service_account("pushgate-four");
    let form = reqwest::multipart::Form::new().part(
        "service_account",
        reqwest::multipart::Part::text(sa4.to_string()).file_name("service-account.json"),
    );
    let res = app
        .client
        .post(app.url("/v1/credentials"))
        .header("Authorization", app.basic())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let c = created(res, &[]).await;
    assert_eq!(c["project_id"], "pushgate-four");

    // Rotation: a new key for the same SID; a rename keeps the key.
    let sa5 = service_account("pushgate-demo");
    let res = app
        .client
        .post(app.url(&format!("/v1/credentials/{sid}")))
        .header("Authorization", app.basic())
        .json(&json!({"service_account": sa5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    assert_eq!(rotated["sid"], sid.as_str());
    assert_eq!(rotated["key_id"], sa5["private_key_id"]);
    let res = app
        .client
        .post(app.url(&format!("/v1/credentials/{sid}")))
        .header("Authorization", app.basic())
        .json(&json!({"friendly_name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let renamed: Value = res.json().await.unwrap();
    assert_eq!(renamed["friendly_name"], "renamed");
    assert_eq!(renamed["fingerprint"], rotated["fingerprint"]);
}

async fn refuses_bad_service_accounts_precisely(b: Backend) {
    let app = spawn_app(b).await;
    let sa = service_account("pushgate-demo");
    let with = |field: &str, value: Value| {
        let mut v = sa.clone();
        v[field] = value;
        json!({"service_account": v})
    };
    let cases = [
        (
            json!({"type": "fcm", "service_account": "{not json"}),
            21136,
        ),
        (with("type", json!("authorized_user")), 21137),
        (with("private_key", Value::Null), 21138),
        (with("client_email", json!("someone@gmail.com")), 21140),
        (
            with(
                "private_key",
                json!("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----"),
            ),
            21142,
        ),
        (
            with("token_uri", json!("http://127.0.0.1:9443/token")),
            21145,
        ),
        (
            with("token_uri", json!("https://attacker.example/token")),
            21146,
        ),
    ];
    for (body, code) in cases {
        let res = post_json(&app, "/v1/credentials", &body).await;
        let e = assert_error(res, 400, code).await;
        assert!(
            !e.to_string()
                .contains(&sa["private_key"].as_str().unwrap()[40..100])
        );
    }
    // Contradictions are 400s with the generic code.
    let mixed = json!({"service_account": sa, "p8": "x", "key_id": "ABCDE12345"});
    assert_error(post_json(&app, "/v1/credentials", &mixed).await, 400, 20001).await;
    let sandbox = json!({"service_account": sa, "sandbox": true});
    assert_error(
        post_json(&app, "/v1/credentials", &sandbox).await,
        400,
        20001,
    )
    .await;
    let wrong_type = json!({"type": "apn", "service_account": sa});
    assert_error(
        post_json(&app, "/v1/credentials", &wrong_type).await,
        400,
        20001,
    )
    .await;
}

async fn registrations_must_match_the_credentials_platform(b: Backend) {
    let app = spawn_app(b).await;
    let sa = service_account("pushgate-demo");
    let key = &sa["private_key"].as_str().unwrap()[40..100];
    let c = upload(&app, &json!({"service_account": sa}), key).await;
    let fcm = CredentialSid::parse(c["sid"].as_str().unwrap()).unwrap();
    let android = app.token_for("alice", &fcm);
    let register = |token: String, channel: &'static str, device: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/registrations"))
                .header("X-Twilio-Token", token)
                .json(&json!({"channel_type": channel, "data": {"registration_id": device}}))
                .send()
                .await
                .unwrap()
        }
    };
    // An FCM token under the FCM credential: registered, case kept, listed as fcm.
    let res = register(android.clone(), "fcm", fcm_token(1)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["binding_type"], "fcm");
    assert!(!body.to_string().contains(&fcm_token(1)));
    let stored = app
        .store
        .registrations(&app.account, None, None, 10)
        .await
        .unwrap();
    assert_eq!(stored.registrations[0].device_token.as_str(), fcm_token(1));
    // Platforms crossed either way: 21006.
    assert_error(
        register(android.clone(), "apn", device_token(7)).await,
        400,
        21006,
    )
    .await;
    assert_error(
        register(app.token("alice"), "fcm", fcm_token(2)).await,
        400,
        21006,
    )
    .await;
    // Junk FCM tokens: 21004.
    for junk in [
        "short",
        "has spaces in it and is long enough to pass",
        "slash/es/are/not/in/fcm/tokens/at/all",
    ] {
        assert_error(
            register(android.clone(), "fcm", junk.to_owned()).await,
            400,
            21004,
        )
        .await;
    }
    // An unknown channel type: 21005.
    assert_error(register(android, "gcm", fcm_token(3)).await, 400, 21005).await;
}

store_tests!(
    accepts_a_service_account_in_every_form,
    refuses_bad_service_accounts_precisely,
    registrations_must_match_the_credentials_platform,
);
