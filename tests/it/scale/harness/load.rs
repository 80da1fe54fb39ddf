//! An open-loop invite load spread over replicas, as a load balancer would: each invite (its
//! own call) goes to the next replica; if that replica can't be reached (killed, restarting),
//! the same call is posted to the next one — the call SID makes that safe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::{Outcome, post_invite};

/// The load to drive.
#[derive(Debug, Clone)]
pub struct Load {
    /// Invites per second.
    pub rate: u64,
    pub duration: Duration,
    /// Invite `n` goes to `identities[n % len]`.
    pub identities: Vec<String>,
    /// Replica addresses (`host:port`).
    pub addrs: Vec<String>,
    pub auth: String,
}

/// One invite and what came of it.
#[derive(Debug)]
pub struct Sent {
    pub call_sid: String,
    pub to: String,
    /// When it was first sent, from the load's start.
    pub sent_at: Duration,
    pub outcome: Outcome,
}

/// The call SID of the `n`th invite of a load.
fn call_sid(n: usize) -> String {
    format!("CA{:032x}", 0x5ca1_0000_0000u128 + n as u128)
}

/// Starts the load (`rate × duration` invites, on schedule); the handle yields every invite's
/// outcome once all were answered.
pub fn spawn_load(client: reqwest::Client, load: Load) -> JoinHandle<Vec<Sent>> {
    tokio::spawn(async move {
        let start = Instant::now();
        let results = Arc::new(Mutex::new(Vec::new()));
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / load.rate.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut requests = tokio::task::JoinSet::new();
        let total = (load.rate as f64 * load.duration.as_secs_f64()) as usize;
        for n in 0..total {
            tick.tick().await;
            let (client, load, results) = (client.clone(), load.clone(), results.clone());
            requests.spawn(async move {
                let sent_at = start.elapsed();
                let call = call_sid(n);
                let to = load.identities[n % load.identities.len()].clone();
                let mut outcome = Outcome::Unexpected("not sent".into());
                for i in 0..load.addrs.len() {
                    let addr = &load.addrs[(n + i) % load.addrs.len()];
                    let url = format!("http://{addr}/v1/invites");
                    outcome = post_invite(&client, &url, &load.auth, &to, &call).await;
                    match &outcome {
                        Outcome::Unexpected(e) if e.starts_with("request failed") => continue,
                        _ => break,
                    }
                }
                results.lock().await.push(Sent {
                    call_sid: call,
                    to,
                    sent_at,
                    outcome,
                });
            });
        }
        while requests.join_next().await.is_some() {}
        std::mem::take(&mut *results.lock().await)
    })
}

/// The SIDs of the accepted invites; panics listing the others.
pub fn accepted(results: &[Sent]) -> Vec<String> {
    let failed: Vec<String> = results
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Accepted { .. } => None,
            other => Some(format!("{} at {:.2?}: {other:?}", s.call_sid, s.sent_at)),
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} invites were not accepted, e.g. {:#?}",
        failed.len(),
        results.len(),
        &failed[..failed.len().min(5)]
    );
    results
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Accepted { sid } => Some(sid.clone()),
            _ => None,
        })
        .collect()
}
