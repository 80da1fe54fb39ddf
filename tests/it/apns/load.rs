//! Concurrency and pooling over real TLS against the simulator: many streams
//! per connection within the server's SETTINGS_MAX_CONCURRENT_STREAMS, a pool
//! that never grows past its size, and idle connections kept alive with PING.

use std::time::Duration;

use super::support::*;
use pushgate::apns::{ApnsClient, ApnsConfig, Environment};
use pushgate::mock_apns::SimulatorConfig;

async fn burst(client: &ApnsClient, count: u32) -> usize {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .send(invite(&device_token(i), Environment::Production))
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let outcome = task.await.expect("task");
        assert!(outcome.is_accepted(), "{outcome:?}");
        accepted += 1;
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_pushes_share_one_connection() {
    // A stream limit well below the burst makes h2 queue most requests.
    let s = start(SimulatorConfig {
        max_concurrent_streams: 100,
        ..sim_config()
    })
    .await;
    let client = client(&s, token_auth(&[&s]), 1);
    assert_eq!(burst(&client, 1000).await, 1000);
    let stats = s.stats();
    assert_eq!((stats.received, stats.accepted), (1000, 1000));
    assert_eq!(stats.connections_total, 1, "never a connection per push");
    let pool = client.stats(Environment::Production);
    assert_eq!((pool.connections, pool.in_flight), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_never_exceeds_its_size() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 3);
    assert_eq!(
        client.stats(Environment::Production).connections,
        0,
        "connects lazily"
    );
    for _ in 0..3 {
        burst(&client, 300).await;
        let stats = s.stats();
        assert!(stats.connections_open <= 3, "{stats:?}");
    }
    let stats = s.stats();
    assert_eq!(
        stats.connections_total, 3,
        "load spread over all three, none replaced"
    );
    assert_eq!(stats.accepted, 900);
    assert_eq!(client.stats(Environment::Production).connections, 3);
    // The other environment has its own pool, still unopened.
    assert_eq!(client.stats(Environment::Sandbox).connections, 0);
}

#[tokio::test]
async fn idle_connections_are_pinged_and_kept() {
    let s = start(sim_config()).await;
    let config = ApnsConfig {
        idle_ping_interval: Some(Duration::from_millis(20)),
        ping_timeout: Duration::from_secs(5),
        connections_per_environment: 1,
        ..client_config(&s)
    };
    let client = ApnsClient::new(config, token_auth(&[&s])).expect("client");
    assert!(
        client
            .send(invite(&device_token(1), Environment::Production))
            .await
            .is_accepted()
    );
    // Stay idle for many ping intervals; the pings are answered and the
    // connection survives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.stats(Environment::Production).connections, 1);
    assert!(
        client
            .send(invite(&device_token(2), Environment::Production))
            .await
            .is_accepted()
    );
    assert_eq!(s.stats().connections_total, 1);
}

#[tokio::test]
async fn dropping_the_client_closes_its_connections() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 2);
    burst(&client, 10).await;
    assert_eq!(s.stats().connections_open, 2);
    drop(client);
    eventually("connections close", || async {
        s.stats().connections_open == 0
    })
    .await;
}
