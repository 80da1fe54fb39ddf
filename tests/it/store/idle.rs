//! PostgreSQL connections are not pinged before every use, only after sitting idle: one the
//! server dropped while it was idle is found dead and replaced, and the query that wanted it
//! runs on a new one.

use std::time::Duration;

use sqlx::Connection;

use crate::helpers::{Backend, fresh_database};

#[tokio::test]
async fn a_connection_dropped_while_idle_is_replaced_unnoticed() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, dir.path()).await;
    // One connection, so the query after the wait has to get past the dead one.
    let store = pushgate::store::Store::connect(&url, 1).await.unwrap();
    store.ping().await.unwrap();

    let mut admin = sqlx::AnyConnection::connect(&url).await.unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, 1, "the store's one connection was terminated");

    tokio::time::sleep(pushgate::store::PING_IF_IDLE_FOR + Duration::from_secs(1)).await;
    store
        .ping()
        .await
        .expect("a dead idle connection is replaced, not handed out");
    store.close().await;
}
