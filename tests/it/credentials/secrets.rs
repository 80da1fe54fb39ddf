//! No credential secret ever in a response or in clear in the database.

use pushgate::credentials::devcerts::{self, P12Encryption};
use secrecy::ExposeSecret;
use serde_json::json;

use super::support::{P12_PASSWORD, b64, created, leaf, pem_body, post_json, voip};
use crate::helpers::{Backend, spawn_app, store_tests};

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

store_tests!(no_secret_is_stored_in_clear,);
