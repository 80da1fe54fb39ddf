//! API keys over HTTP: created with a secret shown once, listed without it, revoked; and
//! never stored in plaintext.

use serde_json::{Value, json};

use crate::helpers::{Backend, assert_error, basic, spawn_app, store_tests};

async fn create_list_use_and_revoke(b: Backend) {
    let app = spawn_app(b).await;
    let res = app
        .client
        .post(app.url("/v1/keys"))
        .header("Authorization", app.basic())
        .json(&json!({"friendly_name": "backend"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let sid = created["sid"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("SK"));
    assert!(secret.len() >= 32);
    assert_eq!(created["account_sid"], app.account.as_str());

    // The new key authenticates; listings never show a secret.
    let res = app
        .client
        .get(app.url("/v1/keys"))
        .header("Authorization", basic(&sid, &secret))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret));
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    // The scheme is case-insensitive (RFC 9110): `BASIC` as well.
    let upper = basic(&sid, &secret).replacen("Basic", "BASIC", 1);
    let res = app
        .client
        .get(app.url("/v1/keys"))
        .header("Authorization", upper)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app
        .client
        .delete(app.url(&format!("/v1/keys/{sid}")))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .client
        .get(app.url("/v1/keys"))
        .header("Authorization", basic(&sid, &secret))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20151).await;
}

async fn the_last_key_and_foreign_keys_cannot_be_revoked(b: Backend) {
    let app = spawn_app(b).await;
    let res = app
        .client
        .delete(app.url(&format!("/v1/keys/{}", app.key)))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_error(res, 409, 21010).await;
    let (_, other) = pushgate::auth::api_keys::create_account(&app.store, &app.master, "o", "k")
        .await
        .unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/v1/keys/{}", other.record.sid)))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_error(res, 404, 20404).await;
    let res = app
        .client
        .post(app.url("/v1/keys"))
        .header("Authorization", app.basic())
        .json(&json!({"friendly_name": "x".repeat(65)}))
        .send()
        .await
        .unwrap();
    assert_error(res, 400, 20001).await;
}

async fn secrets_are_sealed_at_rest(b: Backend) {
    use secrecy::ExposeSecret;
    let app = spawn_app(b).await;
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT sid, secret_sealed FROM api_keys")
        .fetch_all(&pool(&app.config).await)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let secret = app.secret.expose_secret().as_bytes();
    for (_, sealed) in &rows {
        assert!(!sealed.windows(secret.len()).any(|w| w == secret));
    }
    if b == Backend::Sqlite {
        // The whole database file, WAL included, never holds the secret.
        for entry in std::fs::read_dir(&app.config.data_dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        }
    }
}

async fn pool(config: &pushgate::config::Config) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&config.database_url())
        .await
        .unwrap()
}

store_tests!(
    create_list_use_and_revoke,
    the_last_key_and_foreign_keys_cannot_be_revoked,
    secrets_are_sealed_at_rest,
);
