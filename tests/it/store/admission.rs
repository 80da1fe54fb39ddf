//! Admission control: invites waiting for their group commit are bounded
//! (`max_waiting_invites`). Beyond the bound a new invite is refused at once with 503 `20503`
//! and `Retry-After`, instead of queueing in memory behind a store that can't keep up, and
//! the invites already waiting are written once the store catches up.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{AnyConnection, Connection, Executor};

use crate::helpers::{Backend, TestApp, spawn_app_with, store_tests};

store_tests!(invites_beyond_the_waiting_bound_get_503_and_the_rest_are_written);

/// Another connection that holds up the gateway's invite writes until [`release`]: SQLite's
/// write lock, or PostgreSQL's invites table.
pub(crate) async fn hold_invite_writes(app: &TestApp, backend: Backend) -> AnyConnection {
    let url = app.config.database_url.clone().unwrap();
    let mut conn = AnyConnection::connect(&url).await.unwrap();
    match backend {
        Backend::Sqlite => conn.execute("BEGIN IMMEDIATE").await.unwrap(),
        Backend::Postgres => {
            conn.execute("BEGIN").await.unwrap();
            conn.execute("LOCK TABLE invites IN EXCLUSIVE MODE")
                .await
                .unwrap()
        }
    };
    conn
}

pub(crate) async fn release(mut conn: AnyConnection) {
    conn.execute("ROLLBACK").await.unwrap();
    conn.close().await.unwrap();
}

fn call(n: u32) -> serde_json::Value {
    json!({"to": "gus", "from": "client:alice", "call_sid": format!("CA{n:032x}")})
}

async fn invites_beyond_the_waiting_bound_get_503_and_the_rest_are_written(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_waiting_invites = 2).await;
    app.register_device("gus", &crate::helpers::device_token(9))
        .await;
    let held = hold_invite_writes(&app, backend).await;
    let app = std::sync::Arc::new(app);
    let place = |n| {
        let app = app.clone();
        tokio::spawn(async move { app.invite(call(n)).await })
    };
    // The first is taken into a group commit, which waits for the lock; two more wait for
    // the next one: the bound.
    let first = place(1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = [place(2), place(3)];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let res = app
        .client
        .post(app.url("/v1/invites"))
        .header("Authorization", app.basic())
        .json(&call(4))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], 20503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    release(held).await;
    for placed in std::iter::once(first).chain(waiting) {
        let (status, body) = placed.await.unwrap();
        assert_eq!(status, 202, "{body}");
    }
    // Room again: the refused call can be placed now.
    assert_eq!(app.invite(call(4)).await.0, 202);
    let app = std::sync::Arc::into_inner(app).expect("the tasks are done");
    app.stop().await.unwrap();
}
