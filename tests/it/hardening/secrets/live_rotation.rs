//! `pushgate rotate-master-key` on the embedded store while the gateway runs: requests
//! authenticated before, during and after the rotation all succeed (the running server reads
//! the key files again when a value names a key it lacks), and what it seals afterwards is
//! under the new key.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pushgate::auth::api_keys;
use pushgate::config::Config;
use pushgate::secrets::MasterKey;
use pushgate::store::Store;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::basic;
use crate::helpers::bin::Pushgate;

#[tokio::test]
async fn rotating_the_key_file_under_a_running_server_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = Config {
        data_dir: data.clone(),
        api_key_cache_seconds: 0,
        log: "warn".into(),
        ..Config::default()
    };
    let master = config.master_key().unwrap();
    let store = Store::open(&config).await.unwrap();
    store.migrate().await.unwrap();
    let (_, key) = api_keys::create_account(&store, &master, "live", "first")
        .await
        .unwrap();
    let auth = basic(key.record.sid.as_str(), key.secret.expose_secret());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pushgate::run(config.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let get = {
        let (client, base) = (client.clone(), base.clone());
        move |auth: String| {
            let (client, url) = (client.clone(), format!("{base}/v1/keys"));
            async move {
                match client.get(url).header("Authorization", auth).send().await {
                    Ok(res) => (res.status().as_u16(), res.text().await.unwrap_or_default()),
                    Err(e) => (0, e.to_string()),
                }
            }
        }
    };
    for _ in 0..200 {
        if get(auth.clone()).await.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Steady authenticated traffic through the rotation.
    // Every failure's status (0: no answer) and body, for the assertion's message.
    let (done, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::<(u16, String)>::new())),
    );
    let load = {
        let (done, ok, failed, auth) = (done.clone(), ok.clone(), failed.clone(), auth.clone());
        let get = get.clone();
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                match get(auth.clone()).await {
                    (200, _) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => failed.lock().unwrap().push(other),
                }
            }
        })
    };
    Pushgate::in_dir(&data)
        .run_async(&["rotate-master-key"])
        .await;
    // Traffic goes on after the rotation (bounded: a server that can't open the re-sealed
    // secrets only fails).
    let answered = || ok.load(Ordering::Relaxed) + failed.lock().unwrap().len();
    let before = answered();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while answered() < before + 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    done.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the rotation, first ones (status, body): {:?}",
        failed.len(),
        failed.len() + ok.load(Ordering::Relaxed),
        &failed[..failed.len().min(5)]
    );

    // A key made now is sealed under the new key alone.
    let created: Value = client
        .post(format!("{base}/v1/keys"))
        .header("Authorization", &auth)
        .json(&serde_json::json!({"friendly_name": "after"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["sid"].as_str().expect("created key").to_owned();
    let newest =
        MasterKey::from_base64(&std::fs::read_to_string(data.join("master.key")).unwrap()).unwrap();
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", data.join("pushgate.db").display());
    let db = sqlx::AnyPool::connect(&url).await.unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_sealed FROM api_keys WHERE sid = $1")
        .bind(&sid)
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(
        newest.open(&sealed, &sid).is_ok(),
        "sealed under an old key"
    );
    let new_auth = basic(&sid, created["secret"].as_str().unwrap());
    assert_eq!(get(new_auth).await.0, 200);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
