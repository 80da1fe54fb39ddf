//! The harness itself: a restarted private Redis / PostgreSQL keeps its data.

use sqlx::Connection;

use super::harness::{PrivatePostgres, PrivateRedis};

#[tokio::test]
async fn private_redis_restart_keeps_a_key() {
    let mut redis = PrivateRedis::start_new().await;
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    let reply = redis.command(&["SET", "harness:key", "kept"]).unwrap();
    assert!(reply.starts_with("+OK"), "{reply}");
    let port = redis.port();
    redis.restart().await;
    assert_eq!(redis.port(), port);
    let reply = redis.command(&["GET", "harness:key"]).unwrap();
    assert_eq!(reply, "$4\r\nkept\r\n");
    redis.stop().await;
    assert!(
        redis.command(&["PING"]).is_err(),
        "stopped Redis still answers"
    );
    redis.start().await;
    assert_eq!(
        redis.command(&["GET", "harness:key"]).unwrap(),
        "$4\r\nkept\r\n"
    );
}

#[tokio::test]
async fn private_postgres_restart_keeps_a_table() {
    let mut pg = PrivatePostgres::start_new().await;
    let url = pg.url();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE harness (v TEXT NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO harness VALUES ('kept')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    pg.restart().await;
    assert_eq!(pg.url(), url, "same address after a restart");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let (v,): (String,) = sqlx::query_as("SELECT v FROM harness")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, "kept");
    conn.close().await.unwrap();
    pg.stop().await;
    assert!(
        sqlx::PgConnection::connect(&url).await.is_err(),
        "stopped PostgreSQL still accepts connections"
    );
}
