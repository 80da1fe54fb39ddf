//! PostgreSQL stopped for ~2 s under a steady stream of invites, then started again: the one
//! gateway replica answers 202 or 503 (store unavailable) — never 500, never a hang — recovers
//! by itself, and every invite it accepted rings every device exactly as recorded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::harness::{
    ApnsSim, Outcome, PrivatePostgres, PrivateRedis, ReplicaConfig, Replicas, post_invite,
    settle_all,
};

const IDENTITIES: [&str; 3] = ["alice", "bob", "carol"];
const DEVICES_PER_IDENTITY: u8 = 3;
const RATE_PER_SEC: u64 = 100;
const RUN: Duration = Duration::from_secs(6);
const DOWN_AT: Duration = Duration::from_secs(2);
const DOWN_FOR: Duration = Duration::from_secs(2);
/// No request may take longer than this.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// One invite request and what came of it.
#[derive(Debug)]
struct Sent {
    call_sid: String,
    sent_at: Duration,
    took: Duration,
    outcome: Outcome,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_run() {
    restarted_mid_run(false).await;
}

/// The same with two replicas sharing the Redis queue (requests go to the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_run_with_redis_queue() {
    restarted_mid_run(true).await;
}

async fn restarted_mid_run(with_redis: bool) {
    let sim = ApnsSim::start().await;
    let mut pg = PrivatePostgres::start_new().await;
    let redis = match with_redis {
        true => Some(PrivateRedis::start_new().await),
        false => None,
    };
    let mut gw = Replicas::setup(
        &sim,
        ReplicaConfig {
            replicas: if with_redis { 2 } else { 1 },
            database_url: pg.url(),
            redis_url: redis.as_ref().map(PrivateRedis::url),
            env: super::common::queue_env(),
        },
    )
    .await;
    for i in 0..gw.len() {
        gw.start(i).await;
    }
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let names: Vec<String> = IDENTITIES.iter().map(|i| (*i).to_owned()).collect();
    gw.register_devices(&client, &names, usize::from(DEVICES_PER_IDENTITY))
        .await;

    // The client: open loop, one new invite (a new call) every 10 ms for RUN.
    let start = Instant::now();
    let results = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let sender = {
        let (client, auth, url) = (client.clone(), gw.auth.clone(), gw.url(0, "/v1/invites"));
        let results = results.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE_PER_SEC));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut requests = tokio::task::JoinSet::new();
            let mut n = 0usize;
            while start.elapsed() < RUN {
                tick.tick().await;
                let call_sid = call_sid(n);
                let to = IDENTITIES[n % IDENTITIES.len()];
                n += 1;
                let (client, auth, url, results) =
                    (client.clone(), auth.clone(), url.clone(), results.clone());
                requests.spawn(async move {
                    let sent_at = start.elapsed();
                    let outcome = post_invite(&client, &url, &auth, to, &call_sid).await;
                    let took = start.elapsed() - sent_at;
                    results.lock().await.push(Sent {
                        call_sid,
                        sent_at,
                        took,
                        outcome,
                    });
                });
            }
            while requests.join_next().await.is_some() {}
        })
    };

    // The fault: PostgreSQL goes away at DOWN_AT for DOWN_FOR, then comes back.
    tokio::time::sleep(DOWN_AT).await;
    let down_at = start.elapsed();
    pg.stop().await;
    let stopped_at = start.elapsed();
    tokio::time::sleep(DOWN_FOR).await;
    let starting_at = start.elapsed();
    pg.start().await;
    let up_at = start.elapsed();
    sender.await.expect("client task");
    let results = std::mem::take(&mut *results.lock().await);
    let summary = summarize(&results, down_at, up_at);
    eprintln!("{summary}");

    // 202 or 503 STORE_UNAVAILABLE, nothing else; nothing slow.
    let unexpected: Vec<String> = results
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Unexpected(what) => Some(format!(
                "{} sent at {:.2?} (took {:.2?}): {what}",
                s.call_sid, s.sent_at, s.took
            )),
            _ => None,
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} unexpected responses, e.g. {:#?}\n{summary}\n{}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(5)],
        gw.log_lines(0, &["ERROR", "internal error", "recording outcomes"], 20)
    );
    let slowest = results.iter().map(|s| s.took).max().unwrap();
    assert!(slowest < CLIENT_TIMEOUT, "a request took {slowest:?}");
    // The outage was seen: a request waits for a connection at most the store's acquire
    // timeout (1.5 s), so those sent early in the 2 s outage got 503s.
    assert!(
        results
            .iter()
            .any(|s| matches!(s.outcome, Outcome::StoreUnavailable)
                && s.sent_at >= stopped_at
                && s.sent_at < starting_at),
        "no 503 while PostgreSQL was down\n{summary}"
    );
    // …and the gateway recovered by itself: every request sent a second after PostgreSQL was
    // back was accepted (and there were some).
    let after: Vec<_> = results
        .iter()
        .filter(|s| s.sent_at > up_at + Duration::from_secs(1))
        .collect();
    assert!(!after.is_empty(), "no requests after recovery\n{summary}");
    assert!(
        after
            .iter()
            .all(|s| matches!(s.outcome, Outcome::Accepted { .. })),
        "requests still failing after PostgreSQL returned\n{summary}"
    );
    let res = client.get(gw.url(0, "/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "/readyz after recovery");

    // A client retries each 503 with the same call SID: now each is accepted — the invite
    // written then, or the one written before the error reached the client.
    let mut accepted: Vec<String> = Vec::new();
    for s in &results {
        match &s.outcome {
            Outcome::Accepted { sid } => accepted.push(sid.clone()),
            _ => {
                let to = IDENTITIES[call_index(&s.call_sid) % IDENTITIES.len()];
                let url = gw.url(0, "/v1/invites");
                match post_invite(&client, &url, &gw.auth, to, &s.call_sid).await {
                    Outcome::Accepted { sid } => accepted.push(sid),
                    other => panic!("retry of {} after recovery: {other:?}", s.call_sid),
                }
            }
        }
    }

    // Every accepted invite rings all its devices: accepted in the store and seen by APNs.
    let apns_ids = match settle_all(&client, &gw, &accepted, Duration::from_secs(30)).await {
        Ok(ids) => ids,
        Err(failed) => panic!(
            "{} of {} accepted invites did not end with every delivery accepted, e.g. {:#?}\n{}",
            failed.len(),
            accepted.len(),
            &failed[..failed.len().min(3)],
            gw.log_lines(0, &["ERROR", "recording outcomes"], 20)
        ),
    };
    assert_eq!(
        apns_ids.len(),
        accepted.len() * usize::from(DEVICES_PER_IDENTITY),
        "deliveries of the accepted invites"
    );
    let missing = sim.missing_after(&apns_ids, Duration::from_secs(5)).await;
    assert!(
        missing.is_empty(),
        "{} deliveries recorded as accepted never reached APNs, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let counts = sim.counts(false);
    let repeated: Vec<_> = apns_ids.iter().filter(|id| counts[*id] > 1).collect();
    assert!(
        repeated.is_empty(),
        "pushed more than once: {repeated:?}\n{}",
        gw.log_lines(0, &["did not hold", "giving up", "ERROR"], 20)
    );

    gw.terminate_all().await;
}

/// The call SID of the `n`th invite.
fn call_sid(n: usize) -> String {
    format!("CA{:032x}", CALL_BASE + n as u128)
}

fn call_index(call_sid: &str) -> usize {
    (u128::from_str_radix(&call_sid[2..], 16).unwrap() - CALL_BASE) as usize
}

const CALL_BASE: u128 = 0xfa17_0000_0000;

/// Counts per second of sending time, for the failure messages and the test's output.
fn summarize(results: &[Sent], down_at: Duration, up_at: Duration) -> String {
    let mut per_second: HashMap<u64, [usize; 3]> = HashMap::new();
    for s in results {
        let slot = per_second.entry(s.sent_at.as_secs()).or_default();
        match s.outcome {
            Outcome::Accepted { .. } => slot[0] += 1,
            Outcome::StoreUnavailable => slot[1] += 1,
            Outcome::Unexpected(_) => slot[2] += 1,
        }
    }
    let mut seconds: Vec<_> = per_second.into_iter().collect();
    seconds.sort();
    let slowest = results.iter().map(|s| s.took).max().unwrap_or_default();
    let mut out = format!(
        "{} invites; PostgreSQL down {down_at:.2?}..{up_at:.2?}; slowest response {slowest:.2?}\n",
        results.len()
    );
    for (second, [ok, unavailable, other]) in seconds {
        out.push_str(&format!(
            "  {second}s: {ok} accepted, {unavailable} store unavailable, {other} unexpected\n"
        ));
    }
    out
}
