//! APNs answers 500 to a fifth of the pushes and drops a connection, under three replicas on
//! the Redis queue: everything is still delivered within the invites' lifetime, and the
//! replicas' metrics show the retries.

use std::time::Duration;

use pushgate::mock_apns::{FaultAction, FaultSpec};

use super::common::Cluster;
use super::harness::{Load, spawn_load};

const DEVICES: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_errors_and_a_dropped_connection_are_retried() {
    let mut c = Cluster::start(3, 10, DEVICES).await;
    c.sim
        .sim
        .add_fault(&FaultSpec {
            status: Some(500),
            ratio: Some(0.2),
            ..FaultSpec::default()
        })
        .unwrap();
    let load = spawn_load(
        c.client.clone(),
        Load {
            rate: 200,
            duration: Duration::from_secs(4),
            identities: c.identities.clone(),
            addrs: c.addrs(),
            auth: c.gw.auth.clone(),
        },
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.sim
        .sim
        .add_fault(&FaultSpec {
            action: Some(FaultAction::DropConnection),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let results = load.await.unwrap();
    let (twice, total) = c.assert_all_delivered(&results, DEVICES).await;
    let retries = c.metric("pushgate_apns_retries_total", "cause=").await;
    let errors = c
        .metric("pushgate_apns_requests_total", "status=\"500\"")
        .await;
    eprintln!("{total} pushes, {errors} answered 500, {retries} retries, {twice} accepted twice");
    assert!(errors >= total as f64 * 0.1, "the fault applied");
    assert!(retries >= errors, "every 500 was retried");
    // Pushes APNs had accepted on the dropped connection whose answers never arrived are sent
    // again: at most what one replica had in flight there.
    assert!(twice <= 64, "{twice} pushes accepted twice");
    c.gw.terminate_all().await;
}
