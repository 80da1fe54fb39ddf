//! The Redis queue's enqueue backlog, on a real Redis (`PUSHGATE_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`; never skipped: an unreachable Redis fails the test).

use std::time::Duration;

use super::{RedisQueue, Settings};
use crate::delivery::job::test_job;
use crate::delivery::queue::Producer;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tasks::Tasks;

/// On a current-thread runtime the enqueuer does not run until the test yields, so what one
/// `enqueue` call leaves over is exactly what did not fit.
#[tokio::test]
async fn deliveries_beyond_the_backlog_are_left_to_the_outbox_sweeper() {
    let url = std::env::var("PUSHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = crate::redis_conn::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} is required for this test: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    std::fs::File::create(&path).unwrap();
    let db = format!("sqlite://{}", path.display());
    let store = Store::connect(&db, 2).await.unwrap();
    store.migrate().await.unwrap();
    let (tasks, metrics) = (Tasks::new(), Metrics::new());
    let prefix = format!("pushgate-test-{}:", uuid::Uuid::new_v4().simple());
    let settings = Settings {
        claim_idle: Duration::from_secs(30),
        max_deliveries: 5,
        sweep_after: Duration::from_secs(10),
        enqueue_backlog: 2,
    };
    let queue = RedisQueue::start(
        conn.clone(),
        &prefix,
        settings,
        store.clone(),
        &tasks,
        metrics.clone(),
    )
    .await
    .unwrap();
    let deferred = || {
        metrics
            .queue_events
            .with_label_values(&["enqueue_deferred"])
            .get()
    };
    queue.enqueue(vec![test_job(), test_job(), test_job()]);
    assert_eq!(
        deferred(),
        1,
        "two fit the backlog, the third waits in the outbox"
    );
    // The enqueuer takes the two (adding them to the stream): room for more.
    let stream = queue.keys.stream.clone();
    let mut redis = conn.clone();
    for _ in 0..100 {
        let len: usize = redis::cmd("XLEN")
            .arg(&stream)
            .query_async(&mut redis)
            .await
            .unwrap();
        if len == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    queue.enqueue(vec![test_job(), test_job()]);
    assert_eq!(deferred(), 1);
    tasks.finish().await;
    store.close().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
}
