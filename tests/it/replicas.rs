//! Several replicas on one PostgreSQL database and one Redis: deliveries go through the shared
//! Redis Stream (each push sent by exactly one replica), invite events reach every replica,
//! transient APNs failures are retried through the retry set, and outbox rows that never
//! reached Redis are swept into it. (Killed replicas and restarted services: `scale/`.)

use std::collections::HashMap;

use pushgate::mock_apns::{FaultAction, FaultSpec};
use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::helpers::{
    Apns, Backend, Replica, TestApp, device_token, redis_prefix, redis_url, spawn_app_with_apns,
};

const DEVICES: u8 = 3;

async fn cluster(
    adjust: impl FnOnce(&mut pushgate::config::Config),
) -> (TestApp, Vec<Replica>, Apns, String) {
    let prefix = redis_prefix();
    let p = prefix.clone();
    let (app, apns) = spawn_app_with_apns(Backend::Postgres, |c| {
        c.redis_url = Some(redis_url());
        c.redis_key_prefix = p;
        c.apns_request_timeout_ms = 2_000;
        c.queue_claim_idle_ms = 3_000;
        c.queue_sweep_after_ms = 1_000;
        adjust(c);
    })
    .await;
    let replicas = vec![app.spawn_replica().await, app.spawn_replica().await];
    for seed in 1..=DEVICES {
        apns.register(&device_token(seed), "production");
        app.register_device("alice", &device_token(seed)).await;
    }
    (app, replicas, apns, prefix)
}

/// The API base of gateway `i` (0: the app, then its replicas).
fn base(app: &TestApp, replicas: &[Replica], i: usize) -> String {
    match i % (replicas.len() + 1) {
        0 => app.url(""),
        n => replicas[n - 1].url(""),
    }
}

async fn invite_via(app: &TestApp, base: &str) -> String {
    let res = app
        .client
        .post(format!("{base}/v1/invites"))
        .header("Authorization", app.basic())
        .json(&json!({"to": "alice", "from": "client:bob", "ttl": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    res.json::<Value>().await.unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn settled_via(app: &TestApp, base: &str, sid: &str) -> Value {
    app.client
        .get(format!("{base}/v1/invites/{sid}?wait=15000"))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Pushes APNs accepted, per apns-id.
fn accepted_per_id(apns: &Apns) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for push in apns.pushes("production") {
        if push.status == 200 {
            *seen.entry(push.apns_id).or_default() += 1;
        }
    }
    seen
}

async fn stop(app: TestApp, replicas: Vec<Replica>) {
    for r in replicas {
        r.stop().await.unwrap();
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn replicas_share_one_queue_and_relay_events() {
    let (app, replicas, apns, _) = cluster(|_| {}).await;
    let mut sids = Vec::new();
    for i in 0..30 {
        sids.push(invite_via(&app, &base(&app, &replicas, i)).await);
    }
    for (i, sid) in sids.iter().enumerate() {
        // Waited for on another replica than the one that took the invite.
        let invite = settled_via(&app, &base(&app, &replicas, i + 1), sid).await;
        assert_eq!(invite["status"], "delivered", "{invite}");
        let deliveries = invite["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), usize::from(DEVICES));
        assert!(
            deliveries.iter().all(|d| d["status"] == "accepted"),
            "{invite}"
        );
    }
    let sent = accepted_per_id(&apns);
    assert_eq!(sent.len(), 30 * usize::from(DEVICES));
    assert!(sent.values().all(|n| *n == 1), "a push was sent twice");
    // The first-push latency is observed once per invite, whichever replicas sent its pushes
    // (each replica counts in its own registry: summed over all of them).
    let first_pushes = counted(&app, &replicas, "pushgate_invite_first_push_seconds_count").await;
    assert_eq!(first_pushes, 30.0);
    stop(app, replicas).await;
}

/// The sum of family `name`'s samples over every gateway's `/metrics` (the app and its
/// replicas: each keeps its own counts).
async fn counted(app: &TestApp, replicas: &[Replica], name: &str) -> f64 {
    let mut total = 0.0;
    for i in 0..=replicas.len() {
        let res = app
            .client
            .get(format!("{}/metrics", base(app, replicas, i)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        total += res
            .text()
            .await
            .unwrap()
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    total
}

#[tokio::test]
async fn transient_apns_failures_are_retried_through_redis() {
    let (app, replicas, apns, _) = cluster(|_| {}).await;
    apns.production
        .add_fault(&FaultSpec {
            status: Some(500),
            ratio: Some(0.2),
            ..FaultSpec::default()
        })
        .unwrap();
    apns.production
        .add_fault(&FaultSpec {
            action: Some(FaultAction::DropConnection),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let mut sids = Vec::new();
    for i in 0..20 {
        sids.push(invite_via(&app, &base(&app, &replicas, i)).await);
    }
    for sid in &sids {
        let invite = settled_via(&app, &app.url(""), sid).await;
        let deliveries = invite["deliveries"].as_array().unwrap();
        assert!(
            deliveries.iter().all(|d| d["status"] == "accepted"),
            "{invite}"
        );
    }
    let sent = accepted_per_id(&apns);
    assert_eq!(sent.len(), 20 * usize::from(DEVICES));
    assert!(sent.values().all(|n| *n == 1), "a push was accepted twice");
    let retries = counted(&app, &replicas, "pushgate_apns_retries_total").await;
    assert!(retries >= 1.0, "retries show in the metrics");
    stop(app, replicas).await;
}

/// An invite committed whose deliveries never reached Redis (the replica died between commit
/// and enqueue) is swept from the outbox and delivered.
#[tokio::test]
async fn outbox_rows_that_missed_redis_are_swept() {
    let (app, replicas, apns, _) = cluster(|_| {}).await;
    let sid = invite_via(&app, &app.url("")).await;
    settled_via(&app, &app.url(""), &sid).await;
    // Simulate the crash: a second invite written straight to the store, never enqueued.
    let new_sid = crate::helpers::copy_invite_unqueued(&app, &sid, 0).await;
    let invite = settled_via(&app, &base(&app, &replicas, 1), &new_sid).await;
    let deliveries = invite["deliveries"].as_array().unwrap();
    assert!(
        deliveries.iter().all(|d| d["status"] == "accepted"),
        "{invite}"
    );
    assert_eq!(accepted_per_id(&apns).len(), 2 * usize::from(DEVICES));
    stop(app, replicas).await;
}

/// An entry nobody can read goes to the dead-letter stream with its reason.
#[tokio::test]
async fn unreadable_entries_are_dead_lettered() {
    let (app, replicas, _apns, prefix) = cluster(|_| {}).await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = conn
        .xadd(format!("{prefix}deliveries"), "*", &[("job", "not a job")])
        .await
        .unwrap();
    let dead = format!("{prefix}deliveries:dead");
    let mut reason = None;
    for _ in 0..100 {
        let entries: redis::streams::StreamRangeReply = conn.xrange_all(&dead).await.unwrap();
        if let Some(e) = entries.ids.first() {
            reason = e.get::<String>("reason");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(reason.as_deref(), Some("unreadable job"));
    let left: usize = conn.xlen(format!("{prefix}deliveries")).await.unwrap();
    assert_eq!(left, 0, "the entry was acknowledged and deleted");
    stop(app, replicas).await;
}
