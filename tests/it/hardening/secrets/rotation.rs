//! A master key rotation rolled through two servers on one PostgreSQL database under steady
//! authenticated traffic: roll each to (new key, old key previous), re-seal with the real
//! `pushgate rotate-master-key`, roll each to the new key alone — no request fails.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pushgate::config::Config;
use pushgate::secrets::MasterKey;
use secrecy::SecretString;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::bin::Pushgate;
use crate::helpers::{Backend, device_token, spawn_app_with};

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), pushgate::RunError>>,
}

async fn start(config: Config) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(pushgate::run(config, listener, async {
        let _ = stopped.await;
    }));
    // Serving once /healthz answers.
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Server { addr, stop, handle }
}

/// Replaces the server at `slot` with one on `config`: the new one joins the pool first, the
/// old one leaves it, then drains.
async fn roll(
    pool: &Mutex<Vec<SocketAddr>>,
    servers: &mut [Option<Server>],
    slot: usize,
    config: Config,
) {
    let fresh = start(config).await;
    let old = servers[slot].replace(fresh).unwrap();
    {
        let mut addrs = pool.lock().unwrap();
        addrs.retain(|a| *a != old.addr);
        addrs.push(servers[slot].as_ref().unwrap().addr);
    }
    // Let requests already sent to the old server finish, as a load balancer's drain would.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _ = old.stop.send(());
    old.handle.await.unwrap().unwrap();
}

fn with_keys(base: &Config, current: &MasterKey, previous: &[&MasterKey]) -> Config {
    Config {
        master_key: Some(SecretString::from(current.to_base64())),
        master_key_previous: previous
            .iter()
            .map(|k| SecretString::from(k.to_base64()))
            .collect(),
        ..base.clone()
    }
}

#[tokio::test]
async fn rolling_rotation_with_two_servers_fails_no_request() {
    // Every request opens a sealed API key secret: no cache to hide a failure.
    let app = spawn_app_with(Backend::Postgres, |c| c.api_key_cache_seconds = 0).await;
    let (old, new) = (app.master.clone(), MasterKey::generate());
    let base = app.config.clone();
    let mut servers = vec![
        Some(start(with_keys(&base, &old, &[])).await),
        Some(start(with_keys(&base, &old, &[])).await),
    ];
    let pool = Arc::new(Mutex::new(
        servers
            .iter()
            .map(|s| s.as_ref().unwrap().addr)
            .collect::<Vec<_>>(),
    ));

    let running = Arc::new(AtomicBool::new(true));
    let (ok, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let mut load = Vec::new();
    for worker in 0..4u8 {
        let (pool, running, ok, failed) =
            (pool.clone(), running.clone(), ok.clone(), failed.clone());
        let (basic, token) = (app.basic(), app.token("alice"));
        let client = reqwest::Client::new();
        load.push(tokio::spawn(async move {
            let mut i = 0usize;
            while running.load(Ordering::Relaxed) {
                i += 1;
                let addr = {
                    let addrs = pool.lock().unwrap();
                    addrs[i % addrs.len()]
                };
                let req = if i.is_multiple_of(2) {
                    client
                        .get(format!("http://{addr}/v1/credentials"))
                        .header("Authorization", &basic)
                } else {
                    client
                        .post(format!("http://{addr}/v1/registrations?productId=voice"))
                        .header("X-Twilio-Token", &token)
                        .json(&serde_json::json!({
                            "channel_type": "apn",
                            "message_types": ["twilio.voice.call"],
                            "data": {"registration_id": device_token(worker + 1)},
                            "version": "3"
                        }))
                };
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(res) => failed
                        .lock()
                        .unwrap()
                        .push(format!("{addr}: {}", res.status())),
                    Err(e) => failed.lock().unwrap().push(format!("{addr}: {e}")),
                }
            }
        }));
    }
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(300));

    pause().await;
    for slot in 0..2 {
        roll(&pool, &mut servers, slot, with_keys(&base, &new, &[&old])).await;
        pause().await;
    }
    let out = Pushgate::default()
        .env(
            "PUSHGATE_DATABASE_URL",
            base.database_url.as_deref().unwrap(),
        )
        .env("PUSHGATE_MASTER_KEY", &new.to_base64())
        .env("PUSHGATE_MASTER_KEY_PREVIOUS", &old.to_base64())
        .env("PUSHGATE_LOG", "warn")
        .output(&["rotate-master-key"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("re-encrypted 2 secret(s)") && stdout.contains(&new.key_id()),
        "{stdout}"
    );
    assert!(stdout.contains("next:"), "{stdout}");
    assert!(!stdout.contains(&new.to_base64()) && !stdout.contains(&old.to_base64()));
    pause().await;
    for slot in 0..2 {
        roll(&pool, &mut servers, slot, with_keys(&base, &new, &[])).await;
        pause().await;
    }
    running.store(false, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "too little traffic: {}",
        ok.load(Ordering::Relaxed)
    );
    // Every stored secret is now v2 under the new key, which alone opens it.
    let sealed: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT sid, secret_sealed FROM api_keys UNION ALL SELECT sid, secret_sealed FROM credentials")
            .fetch_all(&sqlx::AnyPool::connect(base.database_url.as_deref().unwrap()).await.unwrap())
            .await
            .unwrap();
    assert_eq!(sealed.len(), 2);
    for (sid, value) in &sealed {
        assert_eq!(value[0], 2, "{sid}");
        assert!(
            new.open(value, sid).is_ok() && old.open(value, sid).is_err(),
            "{sid}"
        );
    }
    for server in servers.into_iter().flatten() {
        let _ = server.stop.send(());
        server.handle.await.unwrap().unwrap();
    }
}

/// The embedded key file: a rotation with no key given generates one, keeps the old key in
/// `master.key.previous` (0600), leaves no staged or temporary file, and everything still opens;
/// a second rotation keeps both earlier keys.
#[tokio::test]
async fn key_file_rotation_keeps_previous_keys_privately() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pushgate = Pushgate::in_dir(&data);
    let run = |args: &[&str]| pushgate.run(args);
    run(&["init"]);
    let read = |name: &str| std::fs::read_to_string(data.join(name)).unwrap();
    let first = read("master.key");
    let text = run(&["rotate-master-key"]);
    assert!(
        text.contains("re-encrypted 1 secret(s)") && text.contains("next:"),
        "{text}"
    );
    let second = read("master.key");
    assert_ne!(first.trim(), second.trim());
    assert!(read("master.key.previous").contains(first.trim()));
    assert!(!text.contains(first.trim()) && !text.contains(second.trim()));
    run(&["rotate-master-key"]);
    let previous = read("master.key.previous");
    assert!(previous.contains(first.trim()) && previous.contains(second.trim()));
    let mode = std::fs::metadata(data.join("master.key.previous"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let leftovers: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".new") || n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The API key secret is sealed under the newest key alone.
    let newest = MasterKey::from_base64(&read("master.key")).unwrap();
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", data.join("pushgate.db").display());
    let db = sqlx::AnyPool::connect(&url).await.unwrap();
    let (sid, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT sid, secret_sealed FROM api_keys")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(newest.open(&sealed, &sid).is_ok());
    assert!(
        MasterKey::from_base64(&first)
            .unwrap()
            .open(&sealed, &sid)
            .is_err()
    );
}
