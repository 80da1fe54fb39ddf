//! Client-side helpers for fault tests: post an invite and classify the answer; wait until
//! invites have settled.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::Replicas;

/// `code::STORE_UNAVAILABLE` in `src/http/error.rs`.
const STORE_UNAVAILABLE: u64 = 20503;

/// What came of `POST /v1/invites`.
#[derive(Debug)]
pub enum Outcome {
    /// 202 with the invite's SID.
    Accepted { sid: String },
    /// 503 with code 20503 and a message.
    StoreUnavailable,
    /// Anything else (including a transport error or timeout), described.
    Unexpected(String),
}

/// Posts an invite for `to` with this `call_sid` (ttl 120 s) and classifies the answer.
pub async fn post_invite(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    to: &str,
    call_sid: &str,
) -> Outcome {
    let res = client
        .post(url)
        .header("Authorization", auth)
        .json(&json!({"to": to, "from": "client:faults", "call_sid": call_sid, "ttl": 120}))
        .send()
        .await;
    let res = match res {
        Ok(res) => res,
        Err(e) => return Outcome::Unexpected(format!("request failed: {e}")),
    };
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    match status {
        202 => match body["sid"].as_str() {
            Some(sid) => Outcome::Accepted {
                sid: sid.to_owned(),
            },
            None => Outcome::Unexpected(format!("202 without sid: {body}")),
        },
        503 if body["code"] == STORE_UNAVAILABLE
            && body["status"] == 503
            && body["message"].as_str().is_some_and(|m| !m.is_empty()) =>
        {
            Outcome::StoreUnavailable
        }
        _ => Outcome::Unexpected(format!("{status} {body}")),
    }
}

/// Waits until every invite in `sids` has all its deliveries `accepted` (reading through
/// `gw`'s replicas round robin, `?wait=5000`, for at most `limit` overall). Returns their
/// `apns_id`s, or the invites that did not get there with their last state.
pub async fn settle_all(
    client: &reqwest::Client,
    gw: &Replicas,
    sids: &[String],
    limit: Duration,
) -> Result<Vec<String>, Vec<String>> {
    let deadline = Instant::now() + limit;
    let fetched: Vec<Result<Vec<String>, String>> = futures_util::stream::iter(sids)
        .map(|sid| async move {
            loop {
                let url = format!("http://{}/v1/invites/{sid}?wait=5000", gw.next_addr());
                let res = client
                    .get(url)
                    .header("Authorization", &gw.auth)
                    .send()
                    .await;
                let last = match res {
                    Ok(res) if res.status() == 200 => {
                        let body: Value = res.json().await.unwrap_or(Value::Null);
                        let deliveries = body["deliveries"].as_array().cloned().unwrap_or_default();
                        if !deliveries.is_empty()
                            && deliveries.iter().all(|d| d["status"] == "accepted")
                        {
                            return Ok(deliveries
                                .iter()
                                .map(|d| d["apns_id"].as_str().unwrap_or_default().to_owned())
                                .collect());
                        }
                        body.to_string()
                    }
                    Ok(res) => format!("{} {}", res.status(), res.text().await.unwrap_or_default()),
                    Err(e) => {
                        // A replica that is down: don't spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        e.to_string()
                    }
                };
                if Instant::now() >= deadline {
                    return Err(format!("{sid}: {last}"));
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let failed: Vec<String> = fetched.iter().filter_map(|r| r.clone().err()).collect();
    if !failed.is_empty() {
        return Err(failed);
    }
    Ok(fetched.into_iter().flat_map(Result::unwrap).collect())
}
