//! Slow and idle connections: header-read and idle timeouts, slow bodies, and the
//! connection cap against file descriptor exhaustion.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::{raw, until_closed};
use crate::helpers::{Backend, assert_error, spawn_app_with};

#[tokio::test]
async fn a_half_open_request_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.http_header_read_timeout_ms = 500).await;
    let mut conn = raw(&app, b"GET / HTTP/1.1\r\nHost: x\r\n").await;
    let got = until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(
        got.is_some(),
        "the half-open request was still open after 5 s"
    );
    // A connection that never sends a byte is held no longer.
    let mut silent = raw(&app, b"").await;
    assert!(
        until_closed(&mut silent, Duration::from_secs(5))
            .await
            .is_some()
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.http_header_read_timeout_ms = 200;
        c.http_idle_timeout_ms = 1_500;
    })
    .await;
    let started = Instant::now();
    let mut conn = raw(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let got = until_closed(&mut conn, Duration::from_secs(10))
        .await
        .expect("closed within 10 s");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // Idle between requests is the idle timeout's business, not the header timeout's.
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "closed after {:?}, before the idle timeout",
        started.elapsed()
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_body_gets_408_after_the_request_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.http_request_timeout_ms = 500).await;
    let head = format!(
        "POST /v1/invites HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"to\":",
        app.basic()
    );
    let mut conn = raw(&app, head.as_bytes()).await;
    let got = until_closed(&mut conn, Duration::from_secs(5)).await;
    let got = String::from_utf8_lossy(got.as_deref().unwrap_or_default()).into_owned();
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("\"code\":21501"), "{got}");
    // Ordinary requests are unaffected.
    let res = app
        .client
        .post(app.url("/v1/invites"))
        .header("Authorization", app.basic())
        .json(&serde_json::json!({"to": "nobody", "from": "client:bob"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, 21201).await;
    app.stop().await.unwrap();
}

/// Open file descriptors of this process (the gateway runs in it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test]
async fn many_half_open_connections_neither_exhaust_fds_nor_block_healthz() {
    const CAP: usize = 50;
    const ATTACKERS: usize = 200;
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.http_max_connections = CAP;
        c.http_header_read_timeout_ms = 500;
    })
    .await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let baseline = open_fds();
    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        let mut conn = raw(&app, b"GET / HTTP/1.1\r\nHost: x\r\n").await;
        conn.flush().await.unwrap();
        attackers.push(conn);
    }
    // A fresh client (own connection) still gets its answer, while we watch the fds.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let healthz = client
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(30))
        .send();
    tokio::pin!(healthz);
    let mut most = open_fds();
    let res = loop {
        tokio::select! {
            res = &mut healthz => break res,
            _ = tokio::time::sleep(Duration::from_millis(20)) => most = most.max(open_fds()),
        }
    };
    most = most.max(open_fds());
    assert_eq!(res.expect("/healthz answered").status(), 200);
    // Ours: the attackers' sockets and one client; the gateway's: at most CAP connections
    // (plus a little slack for the database and the runtime).
    let gateway = most.saturating_sub(baseline + ATTACKERS + 1);
    assert!(
        gateway <= CAP + 20,
        "the gateway held {gateway} more fds than before the attack (cap {CAP})"
    );
    drop(attackers);
    app.stop().await.unwrap();
}
