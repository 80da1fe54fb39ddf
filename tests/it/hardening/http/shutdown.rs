//! Draining: shutdown neither waits for half-open or idle connections nor, beyond the grace,
//! for event streams.

use std::time::Duration;

use serde_json::json;

use super::raw;
use crate::calls::{Events, ring};
use crate::helpers::{Backend, spawn_app_with_apns};

#[tokio::test]
async fn shutdown_is_prompt_with_half_open_idle_and_streaming_connections() {
    let (app, apns) = spawn_app_with_apns(Backend::Sqlite, |c| {
        // Long enough that nothing below times out on its own before shutdown.
        c.http_header_read_timeout_ms = 120_000;
        c.http_idle_timeout_ms = 120_000;
        c.http_shutdown_grace_ms = 1_000;
    })
    .await;
    let (call, bridges) = ring(&app, &apns, 1, json!({"ttl": 300})).await;
    let mut stream = Events::open(&app, &call, &bridges[0]).await;
    assert_eq!(stream.next().await.unwrap().0, "ringing");
    let _half_open = raw(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
    let mut idle = raw(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 1024];
    let n = tokio::io::AsyncReadExt::read(&mut idle, &mut buf)
        .await
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.stop()).await;
    assert!(
        stopped.is_ok(),
        "shutdown waited more than 5 s for open connections"
    );
    stopped.unwrap().unwrap();
}
