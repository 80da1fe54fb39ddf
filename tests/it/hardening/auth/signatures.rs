//! Status callbacks are signed over a timestamp and the body with the account's webhook
//! secret, and the README's verification snippet — run as is — accepts a real callback and
//! refuses a replay.

use pushgate::clock::now_secs;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::{Receiver, ring_with_callback};
use crate::helpers::{Backend, spawn_app_with_apns};

/// The fenced Python block after the README's `callback-verify` marker.
fn readme_snippet() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let after = &readme[readme.find("<!-- callback-verify").expect("marker")..];
    let start = after.find("```python\n").expect("python block") + "```python\n".len();
    let end = after[start..].find("\n```").expect("block end");
    after[start..start + end].to_owned()
}

/// Runs the snippet's `verify` on (body, timestamp, signature, secret); its printed result.
fn python_verify(body: &str, timestamp: &str, signature: &str, secret: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify.py");
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, body).unwrap();
    let harness = "\nimport os, sys\n\
        body = open(sys.argv[1], 'rb').read()\n\
        print(verify(body, sys.argv[2], sys.argv[3], os.environ['WEBHOOK_SECRET']))\n";
    std::fs::write(&script, readme_snippet() + harness).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&body_file)
        .arg(timestamp)
        .arg(signature)
        .env("WEBHOOK_SECRET", secret)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match String::from_utf8_lossy(&out.stdout).trim() {
        "True" => true,
        "False" => false,
        other => panic!("unexpected output {other}"),
    }
}

#[tokio::test]
async fn callbacks_verify_with_the_readme_snippet_and_replays_do_not() {
    let (receiver, port) = Receiver::start().await;
    let (app, apns) = spawn_app_with_apns(Backend::Sqlite, |c| {
        c.status_callback_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let res = app
        .client
        .post(app.url("/v1/webhook-secret"))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 38,
        "{secret}"
    );

    ring_with_callback(&app, &apns, &format!("http://127.0.0.1:{port}/cb")).await;
    let (headers, body) = receiver.wait_for(1).await.remove(0);
    let timestamp = headers["x-pushgate-timestamp"].to_str().unwrap().to_owned();
    let signature = headers["x-pushgate-signature"].to_str().unwrap().to_owned();
    assert!(signature.starts_with("v1="), "{signature}");
    assert!((now_secs() - timestamp.parse::<i64>().unwrap()).abs() < 60);
    assert!(python_verify(&body, &timestamp, &signature, &secret));

    // Replayed with another timestamp: the signature no longer matches.
    let old = (now_secs() - 600).to_string();
    assert!(!python_verify(&body, &old, &signature, &secret));
    // Replayed ten minutes later, correctly signed for its old time: too old.
    let resigned = pushgate::invites::callbacks::sign(
        secret.as_bytes(),
        old.parse().unwrap(),
        body.as_bytes(),
    );
    assert!(!python_verify(&body, &old, &resigned, &secret));
    // The API key's secret no longer signs callbacks.
    assert!(!python_verify(
        &body,
        &timestamp,
        &signature,
        app.secret.expose_secret()
    ));

    // Sealed at rest: the database never holds the secret in clear.
    let stored: (Vec<u8>,) = sqlx::query_as("SELECT secret_sealed FROM webhook_secrets")
        .fetch_one(&sqlite(&app).await)
        .await
        .unwrap();
    assert!(
        !stored
            .0
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );
}

async fn sqlite(app: &crate::helpers::TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.config.database_url())
        .await
        .unwrap()
}

async fn rotate(app: &crate::helpers::TestApp, query: &str) -> String {
    let res = app
        .client
        .post(app.url(&format!("/v1/webhook-secret{query}")))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    created["secret"].as_str().unwrap().to_owned()
}

async fn a_rotation_with_an_overlap_signs_with_both_secrets_until_it_ends(b: Backend) {
    let (receiver, port) = Receiver::start().await;
    let (app, apns) = spawn_app_with_apns(b, |c| {
        c.status_callback_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let old = rotate(&app, "").await;
    let new = rotate(&app, "?overlap_seconds=2").await;
    let url = format!("http://127.0.0.1:{port}/cb");
    ring_with_callback(&app, &apns, &url).await;
    let (headers, body) = receiver.wait_for(1).await.remove(0);
    let timestamp = headers["x-pushgate-timestamp"].to_str().unwrap().to_owned();
    let signature = headers["x-pushgate-signature"].to_str().unwrap().to_owned();
    assert_eq!(signature.matches("v1=").count(), 2, "{signature}");
    // The README's snippet verifies it with either secret.
    assert!(python_verify(&body, &timestamp, &signature, &new));
    assert!(python_verify(&body, &timestamp, &signature, &old));
    assert!(!python_verify(&body, &timestamp, &signature, "whsec_other"));

    // Once the overlap is over, only the new secret signs.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    ring_with_callback(&app, &apns, &url).await;
    let all = receiver.wait_for(2).await;
    let (headers, body) = all.last().unwrap().clone();
    let timestamp = headers["x-pushgate-timestamp"].to_str().unwrap().to_owned();
    let signature = headers["x-pushgate-signature"].to_str().unwrap().to_owned();
    assert_eq!(signature.matches("v1=").count(), 1, "{signature}");
    assert!(python_verify(&body, &timestamp, &signature, &new));
    assert!(!python_verify(&body, &timestamp, &signature, &old));

    // A rotation without an overlap drops the previous secret at once; too long is refused.
    let res = app
        .client
        .post(app.url("/v1/webhook-secret?overlap_seconds=604801"))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(res, 400, 20001).await;
}

crate::helpers::store_tests!(a_rotation_with_an_overlap_signs_with_both_secrets_until_it_ends);
