//! Push credentials over HTTP: every upload form, a specific 400 for every bad upload,
//! rotation, deletion with registrations, the registration check, health, and no secret
//! ever in a response or in the database.

use base64::Engine;
use pushgate::clock::now_secs;
use pushgate::credentials::devcerts::{
    self, AppleEnvironment, DevCert, KeyKind, LeafOptions, P12Encryption, VoipPair,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error, device_token, spawn_app, store_tests};

const P12_PASSWORD: &str = "correct horse battery";

/// A certificate as `opts` describe, signed by a fresh CA.
fn leaf(opts: LeafOptions) -> DevCert {
    VoipPair::issue_with(&opts, now_secs()).unwrap().leaf
}

fn voip(bundle: &str) -> LeafOptions {
    VoipPair::voip(bundle, now_secs())
}

fn pem_body(cert: &DevCert, sandbox: bool) -> Value {
    json!({
        "type": "apn",
        "friendly_name": "voip",
        "certificate": cert.cert_pem().unwrap(),
        "private_key": cert.key_pkcs8_pem().unwrap().expose_secret(),
        "sandbox": sandbox,
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("Authorization", app.basic())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Asserts a credential response reveals nothing secret and returns its JSON.
async fn created(res: reqwest::Response, secrets: &[&str]) -> Value {
    let status = res.status();
    let location = res.headers().get("location").cloned();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    for secret in secrets {
        assert!(!text.contains(secret), "response leaks a secret: {text}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        location.unwrap().to_str().unwrap(),
        format!("/v1/credentials/{}", body["sid"].as_str().unwrap())
    );
    body
}

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

async fn bad_uploads_get_their_own_400(b: Backend) {
    let app = spawn_app(b).await;
    let now = now_secs();
    let good = leaf(voip("com.example.app"));
    let other = leaf(voip("com.example.app"));
    let p12 = good
        .to_p12(&[], P12_PASSWORD, P12Encryption::Modern)
        .unwrap();
    let cert_with = |opts: LeafOptions, sandbox: bool| pem_body(&leaf(opts), sandbox);
    let p8 = |pem: String, key_id: &str, team_id: &str| {
        json!({"type": "apn_token", "p8": pem, "key_id": key_id, "team_id": team_id,
               "bundle_id": "com.example.app"})
    };
    let p384 = devcerts::pkcs8_pem(&devcerts::generate_key(KeyKind::EcP384).unwrap()).unwrap();
    let rsa = devcerts::pkcs8_pem(&devcerts::generate_key(KeyKind::Rsa2048).unwrap()).unwrap();
    let good_p8 = devcerts::generate_p8().unwrap().expose_secret().to_owned();
    let good_key = good.key_pkcs8_pem().unwrap();
    let secret_line = good_key.expose_secret().lines().nth(1).unwrap().to_owned();
    let mut mismatched = pem_body(&good, false);
    mismatched["private_key"] = json!(other.key_pkcs8_pem().unwrap().expose_secret());
    let cases: Vec<(&str, Value, u64)> = vec![
        (
            "garbage certificate",
            json!({"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "private_key": good.key_pkcs8_pem().unwrap().expose_secret()}),
            21100,
        ),
        (
            "garbage key",
            json!({"certificate": good.cert_pem().unwrap(), "private_key": "not a key"}),
            21101,
        ),
        ("key of another certificate", mismatched, 21107),
        (
            "expired",
            cert_with(
                LeafOptions {
                    not_before: now - 400 * 86_400,
                    not_after: now - 86_400,
                    ..voip("com.example.app")
                },
                false,
            ),
            21108,
        ),
        (
            "not yet valid",
            cert_with(
                LeafOptions {
                    not_before: now + 86_400,
                    not_after: now + 400 * 86_400,
                    ..voip("com.example.app")
                },
                false,
            ),
            21109,
        ),
        (
            "production-only cert marked sandbox",
            cert_with(
                LeafOptions {
                    environment: AppleEnvironment::Production,
                    ..LeafOptions::apple_push("com.example.app", now)
                },
                true,
            ),
            21112,
        ),
        (
            "development-only cert marked production",
            cert_with(
                LeafOptions {
                    environment: AppleEnvironment::Development,
                    ..LeafOptions::apple_push("com.example.app", now)
                },
                false,
            ),
            21113,
        ),
        (
            "garbage p12",
            json!({"p12": b64(b"definitely not pkcs12"), "password": "x"}),
            21120,
        ),
        (
            "wrong p12 password",
            json!({"p12": b64(&p12), "password": "wrong"}),
            21121,
        ),
        (
            "RSA .p8",
            p8(rsa.expose_secret().to_owned(), "ABC123DEFG", "TEAM123456"),
            21131,
        ),
        (
            "P-384 .p8",
            p8(p384.expose_secret().to_owned(), "ABC123DEFG", "TEAM123456"),
            21132,
        ),
        (
            "bad key id",
            p8(good_p8.clone(), "abc", "TEAM123456"),
            21133,
        ),
        (
            "bad team id",
            p8(good_p8.clone(), "ABC123DEFG", "team-12345"),
            21134,
        ),
        (
            "certificate without key",
            json!({"certificate": good.cert_pem().unwrap()}),
            20001,
        ),
        ("no key material", json!({"friendly_name": "x"}), 20001),
        (
            "two kinds of material",
            json!({"p12": b64(&p12), "p8": good_p8}),
            20001,
        ),
        (
            "type contradicts material",
            json!({"type": "apn_token", "p12": b64(&p12)}),
            20001,
        ),
        (
            "unknown type",
            json!({"type": "fcm", "p12": b64(&p12)}),
            20001,
        ),
        ("unknown field", json!({"certifcate": "typo"}), 20001),
        (
            "sandbox not a boolean",
            json!({"p12": b64(&p12), "password": P12_PASSWORD, "sandbox": "maybe"}),
            20001,
        ),
        (
            "name too long",
            json!({"p12": b64(&p12), "password": P12_PASSWORD, "friendly_name": "x".repeat(65)}),
            20001,
        ),
    ];
    for (what, body, code) in cases {
        let res = post_json(&app, "/v1/credentials", &body).await;
        let status = res.status().as_u16();
        let error: Value = res.json().await.unwrap();
        assert_eq!(
            (status, error["code"].as_u64()),
            (400, Some(code)),
            "{what}: {error}"
        );
        assert!(
            !error.to_string().contains(&secret_line),
            "{what} echoes key material"
        );
    }
    let (_, list) = app.get_json("/v1/credentials").await;
    assert_eq!(
        list["credentials"].as_array().unwrap().len(),
        1,
        "nothing written"
    );

    // A self-made certificate without Apple's OIDs is accepted with a warning.
    let unmarked = cert_with(
        LeafOptions {
            environment: AppleEnvironment::Unmarked,
            ..voip("com.example.app")
        },
        false,
    );
    let c = created(post_json(&app, "/v1/credentials", &unmarked).await, &[]).await;
    assert!(!c["warnings"].as_array().unwrap().is_empty(), "{c}");
}

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
        30 * 86_400,
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

async fn no_secret_is_stored_in_clear(b: Backend) {
    let app = spawn_app(b).await;
    let cert = leaf(voip("com.example.secret"));
    let key = cert.key_pkcs8_pem().unwrap().expose_secret().to_owned();
    let p12 = cert
        .to_p12(&[], P12_PASSWORD, P12Encryption::Modern)
        .unwrap();
    created(
        post_json(&app, "/v1/credentials", &pem_body(&cert, false)).await,
        &[],
    )
    .await;
    let body = json!({"p12": b64(&p12), "password": P12_PASSWORD});
    created(
        post_json(&app, "/v1/credentials", &body).await,
        &[P12_PASSWORD],
    )
    .await;
    let p8 = devcerts::generate_p8().unwrap().expose_secret().to_owned();
    let body =
        json!({"p8": p8, "key_id": "ABC123DEFG", "team_id": "TEAM123456", "bundle_id": "com.x"});
    created(post_json(&app, "/v1/credentials", &body).await, &[]).await;

    // The base64 body lines of each key, as they'd appear in any dump.
    let key_line = |pem: &str| pem.lines().nth(1).unwrap().to_owned();
    let needles = [
        "PRIVATE KEY".to_owned(),
        key_line(&key),
        key_line(&p8),
        P12_PASSWORD.to_owned(),
        app.secret.expose_secret().to_owned(),
    ];
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.config.database_url())
        .await
        .unwrap();
    for table in ["credentials", "api_keys", "registrations", "accounts"] {
        let dump: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(sid AS TEXT) FROM {table}"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(!dump.is_empty() || table == "registrations");
    }
    let rows: Vec<(String, Option<String>, Vec<u8>)> =
        sqlx::query_as("SELECT sid, cert_chain_pem, secret_sealed FROM credentials")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (_, chain, sealed) in &rows {
        let text = format!(
            "{} {}",
            chain.clone().unwrap_or_default(),
            String::from_utf8_lossy(sealed)
        );
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "{needle} stored in clear");
        }
    }
    if b == Backend::Sqlite {
        pool.close().await;
        for entry in std::fs::read_dir(&app.config.data_dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for needle in &needles {
                assert!(
                    !text.contains(needle.as_str()),
                    "{needle} in the database file"
                );
            }
        }
    }
}

store_tests!(
    accepts_every_upload_form,
    bad_uploads_get_their_own_400,
    rotation_keeps_registrations_and_deletion_removes_them,
    registrations_need_a_credential_of_the_same_account,
    expiring_certificates_are_reported,
    no_secret_is_stored_in_clear,
);
