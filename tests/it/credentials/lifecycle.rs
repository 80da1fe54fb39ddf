//! A credential's life with its registrations: rotation keeps them, deletion removes them,
//! a registration needs a credential of its own account, and expiring certificates are
//! reported.

use pushgate::clock::now_secs;
use pushgate::credentials::devcerts::{self, LeafOptions};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::support::{created, leaf, pem_body, post_json, voip};
use crate::helpers::{Backend, assert_error, device_token, spawn_app, store_tests};

async fn rotation_keeps_registrations_and_deletion_removes_them(b: Backend) {
    let app = spawn_app(b).await;
    assert_eq!(
        app.register(&app.token("alice"), &device_token(1))
            .await
            .status(),
        201
    );
    let path = format!("/v1/credentials/{}", app.credential);
    let (_, before) = app.get_json(&path).await;

    let new_cert = leaf(voip("com.example.app"));
    let res = post_json(&app, &path, &pem_body(&new_cert, true)).await;
    assert_eq!(res.status(), 200);
    let after: Value = res.json().await.unwrap();
    assert_eq!(after["sid"], before["sid"]);
    assert_ne!(after["fingerprint"], before["fingerprint"]);
    assert_eq!(after["sandbox"], true);
    assert_eq!(after["date_created"], before["date_created"]);
    assert_eq!(app.registration_count().await, 1, "registrations kept");

    // Flags only: the stored key is validated again and kept.
    let res = post_json(
        &app,
        &path,
        &json!({"friendly_name": "renamed", "sandbox": false}),
    )
    .await;
    let renamed: Value = res.json().await.unwrap();
    assert_eq!(renamed["friendly_name"], "renamed");
    assert_eq!(renamed["fingerprint"], after["fingerprint"]);
    // A credential's type can't change.
    let p8 = devcerts::generate_p8().unwrap();
    let res = post_json(
        &app,
        &path,
        &json!({"p8": p8.expose_secret(), "key_id": "ABC123DEFG", "team_id": "TEAM123456"}),
    )
    .await;
    assert_error(res, 400, 20001).await;

    let res = app
        .client
        .delete(app.url(&path))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.registration_count().await,
        0,
        "its registrations went with it"
    );
    let (status, _) = app.get_json(&path).await;
    assert_eq!(status, 404);
    let res = app.register(&app.token("alice"), &device_token(2)).await;
    assert_error(res, 401, 20106).await;
}

async fn registrations_need_a_credential_of_the_same_account(b: Backend) {
    let app = spawn_app(b).await;
    let (other_account, other_key) =
        pushgate::auth::api_keys::create_account(&app.store, &app.master, "other", "k")
            .await
            .unwrap();
    let foreign = pushgate::credentials::manage::create(
        &app.store,
        &app.master,
        &other_account.sid,
        crate::helpers::voip_certificate_patch("com.other.app"),
        &Default::default(),
    )
    .await
    .unwrap();
    let _ = other_key;
    let token = pushgate::auth::access_token::mint(pushgate::auth::access_token::MintRequest {
        account: &app.account,
        key: &app.key,
        secret: &app.secret,
        identity: &pushgate::domain::Identity::parse("alice").unwrap(),
        push_credential: Some(&foreign.sid),
        ttl_secs: 600,
        now: now_secs(),
    })
    .unwrap();
    let res = app.register(&token, &device_token(1)).await;
    assert_error(res, 401, 20106).await;
    assert_eq!(app.registration_count().await, 0);
}

async fn expiring_certificates_are_reported(b: Backend) {
    let app = spawn_app(b).await;
    let now = now_secs();
    let soon = leaf(LeafOptions {
        not_after: now + 10 * 86_400,
        ..voip("com.example.soon")
    });
    let c = created(
        post_json(&app, "/v1/credentials", &pem_body(&soon, false)).await,
        &[],
    )
    .await;
    assert_eq!(c["health"], "expiring");
    assert!(!c["warnings"].as_array().unwrap().is_empty());
}

store_tests!(
    rotation_keeps_registrations_and_deletion_removes_them,
    registrations_need_a_credential_of_the_same_account,
    expiring_certificates_are_reported,
);
