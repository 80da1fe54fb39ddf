//! Three replicas on PostgreSQL + Redis take 5,000 invites over ~10 s; one is killed with
//! SIGKILL mid-run and started again. Every accepted invite reaches every device; the only
//! pushes sent twice are those the killed replica had sent without recording the outcome,
//! which its in-flight limit bounds.

use std::time::Duration;

use super::common::Cluster;
use super::harness::{Load, spawn_load};

const DEVICES: usize = 2;
/// `PUSHGATE_DELIVERY_CONCURRENCY` of each replica (`common::QUEUE_ENV`).
const IN_FLIGHT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_killed_mid_run_loses_nothing() {
    let mut c = Cluster::start(3, 20, DEVICES).await;
    let load = spawn_load(
        c.client.clone(),
        Load {
            rate: 500,
            duration: Duration::from_secs(10),
            identities: c.identities.clone(),
            addrs: c.addrs(),
            auth: c.gw.auth.clone(),
        },
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.gw.kill(1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.gw.start(1).await;
    let results = load.await.unwrap();
    assert_eq!(results.len(), 5_000);
    let (twice, total) = c.assert_all_delivered(&results, DEVICES).await;
    let claimed = c
        .metric("pushgate_queue_events_total", "event=\"claimed\"")
        .await;
    eprintln!(
        "{total} pushes; {twice} accepted twice (the killed replica's unrecorded pushes); \
         {claimed} deliveries claimed from the killed replica"
    );
    assert!(
        twice <= IN_FLIGHT,
        "{twice} pushes sent twice: more than the killed replica had in flight\n{}",
        c.logs()
    );
    c.gw.terminate_all().await;
}
