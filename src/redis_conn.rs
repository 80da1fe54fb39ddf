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

/// A new name for this replica: `<host>-<pid>-<random>`, unique even for several gateways in
/// one process (a restarted replica is a new consumer; the pending entries of the old one are
/// claimed after the idle time).
pub fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pushgate".into());
    let random: [u8; 3] = crate::domain::random_bytes();
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}-{}-{random}", std::process::id())
}
