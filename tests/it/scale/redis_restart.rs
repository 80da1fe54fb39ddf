//! Redis goes away under load, or comes back empty: invites are still accepted (the store's
//! outbox has them) and every one reaches every device once Redis returns.

use std::time::Duration;

use super::common::Cluster;
use super::harness::{Load, spawn_load};

const DEVICES: usize = 2;

fn load(c: &Cluster) -> Load {
    Load {
        rate: 200,
        duration: Duration::from_secs(7),
        identities: c.identities.clone(),
        addrs: c.addrs(),
        auth: c.gw.auth.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run_loses_nothing() {
    let mut c = Cluster::start(2, 10, DEVICES).await;
    let running = spawn_load(c.client.clone(), load(&c));
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.redis.stop().await;
    // Longer than the Redis client's connect and response timeouts: enqueues fail.
    tokio::time::sleep(Duration::from_secs(4)).await;
    c.redis.start().await;
    let results = running.await.unwrap();
    let (twice, total) = c.assert_all_delivered(&results, DEVICES).await;
    let swept = c
        .metric("pushgate_queue_events_total", "event=\"swept\"")
        .await;
    eprintln!("{total} pushes, {twice} accepted twice, {swept} swept from the outbox");
    assert!(
        swept > 0.0,
        "invites taken while Redis was down came from the outbox"
    );
    assert!(twice <= 10, "{twice} pushes sent twice\n{}", c.logs());
    c.gw.terminate_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_losing_its_data_mid_run_loses_nothing() {
    let mut c = Cluster::start(2, 10, DEVICES).await;
    let running = spawn_load(c.client.clone(), load(&c));
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.redis.command(&["FLUSHALL"]).unwrap();
    let results = running.await.unwrap();
    let (twice, total) = c.assert_all_delivered(&results, DEVICES).await;
    eprintln!("{total} pushes, {twice} accepted twice after Redis lost the queue");
    assert!(twice <= 64, "{twice} pushes sent twice\n{}", c.logs());
    c.gw.terminate_all().await;
}
