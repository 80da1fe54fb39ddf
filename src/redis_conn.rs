//! The Redis connection shared by everything that uses Redis (a `ConnectionManager`
//! reconnects by itself after Redis restarts).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Connects to `url`; fails if Redis can't be reached now.
pub async fn connect(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(3)))
        .set_response_timeout(Some(std::time::Duration::from_secs(2)));
    ConnectionManager::new_with_config(client, config).await
}

/// Whether Redis answers PING.
pub async fn ping(redis: &ConnectionManager) -> bool {
    let mut redis = redis.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut redis)
        .await
        .is_ok()
}
