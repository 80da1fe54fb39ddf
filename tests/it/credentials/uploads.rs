//! Every upload form a credential is accepted in.

use pushgate::clock::now_secs;
use pushgate::credentials::devcerts::{self, LeafOptions, P12Encryption};
use secrecy::ExposeSecret;
use serde_json::json;

use super::support::{P12_PASSWORD, b64, created, leaf, pem_body, post_json, voip};
use crate::helpers::{Backend, spawn_app, store_tests};

async fn accepts_every_upload_form(b: Backend) {
    let app = spawn_app(b).await;
    // JSON, PEM certificate with a PKCS#1 RSA key.
    let rsa = leaf(LeafOptions::voip("com.example.rsa", now_secs()));
    let mut body = pem_body(&rsa, false);
    body["private_key"] = json!(rsa.key_traditional_pem().unwrap().expose_secret());
    let c = created(post_json(&app, "/v1/credentials", &body).await, &[]).await;
    assert_eq!(c["type"], "apn");
    assert_eq!(c["bundle_id"], "com.example.rsa");
    assert_eq!(c["voip_topic"], "com.example.rsa.voip");
    assert_eq!(c["environments"], json!(["development", "production"]));
    assert_eq!(c["sandbox"], false);
    assert_eq!(c["health"], "ok");
    assert_eq!(c["fingerprint"].as_str().unwrap().len(), 64);
    assert!(c["not_after"].as_str().is_some());

    // JSON, legacy (Keychain-style) .p12 as base64.
    let cert = leaf(voip("com.example.legacy"));
    let p12 = cert
        .to_p12(&[], P12_PASSWORD, P12Encryption::Legacy)
        .unwrap();
    let body = json!({"p12": b64(&p12), "password": P12_PASSWORD, "sandbox": true});
    let c = created(
        post_json(&app, "/v1/credentials", &body).await,
        &[P12_PASSWORD, &b64(&p12)],
    )
    .await;
    assert_eq!(c["bundle_id"], "com.example.legacy");
    assert_eq!(c["sandbox"], true);

    // multipart/form-data with the .p12 as a file part (curl -F p12=@cert.p12).
    let cert = leaf(voip("com.example.multipart"));
    let p12 = cert
        .to_p12(&[], P12_PASSWORD, P12Encryption::Modern)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "p12",
            reqwest::multipart::Part::bytes(p12).file_name("cert.p12"),
        )
        .text("password", P12_PASSWORD)
        .text("friendly_name", "from curl");
    let res = app
        .client
        .post(app.url("/v1/credentials"))
        .header("Authorization", app.basic())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let c = created(res, &[P12_PASSWORD]).await;
    assert_eq!(c["bundle_id"], "com.example.multipart");
    assert_eq!(c["friendly_name"], "from curl");

    // Form-encoded with Twilio's field names, as the seed's paste-in flow sends them.
    let cert = leaf(voip("com.example.twilio"));
    let key = cert.key_pkcs8_pem().unwrap();
    let res = app
        .client
        .post(app.url("/v1/credentials"))
        .header("Authorization", app.basic())
        .form(&[
            ("Type", "apn"),
            ("FriendlyName", "pasted"),
            ("Certificate", cert.cert_pem().unwrap().as_str()),
            ("PrivateKey", key.expose_secret()),
            ("Sandbox", "true"),
        ])
        .send()
        .await
        .unwrap();
    let c = created(res, &[]).await;
    assert_eq!(c["friendly_name"], "pasted");
    assert_eq!(c["sandbox"], true);

    // A .p8 token key.
    let p8 = devcerts::generate_p8().unwrap();
    let body = json!({"type": "apn_token", "p8": p8.expose_secret(), "key_id": "ABC123DEFG",
                      "team_id": "TEAM123456", "bundle_id": "com.example.token"});
    let c = created(post_json(&app, "/v1/credentials", &body).await, &[]).await;
    assert_eq!(c["type"], "apn_token");
    assert_eq!(c["key_id"], "ABC123DEFG");
    assert_eq!(c["team_id"], "TEAM123456");
    assert_eq!(c["voip_topic"], "com.example.token.voip");
    assert!(c["not_after"].is_null());

    let (status, list) = app.get_json("/v1/credentials").await;
    assert_eq!(status, 200);
    assert_eq!(list["credentials"].as_array().unwrap().len(), 6);
    assert!(!list.to_string().contains("PRIVATE KEY"));
}

store_tests!(accepts_every_upload_form,);
