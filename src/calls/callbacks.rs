//! Status callbacks: each state change of an invite (`ringing`, `answered`, `rejected`,
//! `canceled`, `expired`, `failed`) POSTed as JSON to the invite's `status_callback`, signed
//! with HMAC-SHA256 over the body using the secret of the API key that created the invite
//! (`X-Pushgate-Signature: sha256=<hex>`). One ordered queue per invite, retried with backoff,
//! entirely off the push path. Once an invite's final callback is delivered (or given up on)
//! that is recorded on the invite; a final callback still unrecorded a minute after the
//! invite ended was lost with a stopped replica, and is sent again by whichever replica's
//! sweep takes it (so a receiver may, rarely, see a final event twice).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

use super::{event_name, is_final};
use crate::auth::api_keys::active_key_secret;
use crate::clock::{now_ms, rfc3339};
use crate::domain::ApiKeySid;
use crate::events::InviteChange;
use crate::metrics::METRICS;
use crate::secrets::MasterKey;
use crate::store::Store;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Pushgate-Signature";
/// Attempts per callback before it is dropped (with an error log).
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mac = PKey::hmac(secret)
        .and_then(|key| {
            let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
            signer.update(body)?;
            signer.sign_to_vec()
        })
        .expect("HMAC-SHA256 cannot fail");
    format!("sha256={}", hex::encode(mac))
}

/// Checks a callback URL: http(s), a host, and — since callbacks are requests the gateway
/// makes on a customer's behalf — either a host on `allowed` (`example.com` or
/// `*.example.com`) or, when `allowed` is empty, not a loopback, private or link-local
/// address literal nor `localhost`.
pub fn check_url(raw: &str, allowed: &[String]) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|_| "status_callback is not a URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || raw.len() > 2048 {
        return Err("status_callback must be an http:// or https:// URL".into());
    }
    let host = url
        .host_str()
        .ok_or_else(|| "status_callback has no host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if !allowed.is_empty() {
        let ok = allowed
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == pattern.to_ascii_lowercase(),
            });
        return if ok {
            Ok(())
        } else {
            Err(format!(
                "status_callback host {host} is not on status_callback_allowed_hosts"
            ))
        };
    }
    let internal = host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V4(v4) => {
                v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
            }
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        });
    if internal {
        return Err(format!(
            "status_callback host {host} is an internal address; list it in \
             status_callback_allowed_hosts to allow it"
        ));
    }
    Ok(())
}

struct Outgoing {
    url: String,
    key: Option<String>,
    body: Vec<u8>,
    event: String,
    invite_sid: String,
    status: String,
}

/// How often lost final callbacks are looked for, and how long after the invite ended.
const RECOVER_EVERY: Duration = Duration::from_secs(60);
const RECOVER_AFTER_MS: i64 = 60_000;
/// Invites that ended longer ago than this are not called back any more.
const RECOVER_WITHIN_MS: i64 = 24 * 3600 * 1000;

/// Starts the dispatcher that turns invite changes into callbacks, and the sweep that
/// replays final callbacks lost with a stopped replica (through `events`).
pub fn start(
    store: Store,
    master: Arc<MasterKey>,
    changes: mpsc::UnboundedReceiver<InviteChange>,
    events: crate::events::Events,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(recover(store.clone(), events));
    tokio::spawn(dispatch(store, master, changes))
}

async fn recover(store: Store, events: crate::events::Events) {
    let mut tick = tokio::time::interval(RECOVER_EVERY);
    loop {
        tick.tick().await;
        let now = now_ms();
        let lost = store
            .take_unreported_callbacks(now - RECOVER_WITHIN_MS, now - RECOVER_AFTER_MS, 500)
            .await;
        match lost {
            Ok(lost) => {
                for (invite_sid, status, url) in lost {
                    tracing::info!(invite = %invite_sid, %status, "replaying a lost status callback");
                    events.replay_callback(InviteChange {
                        invite_sid,
                        status: Some(status),
                        callback: Some(url),
                    });
                }
            }
            Err(e) => tracing::debug!(error = %e, "status callback recovery: store unavailable"),
        }
    }
}

async fn dispatch(
    store: Store,
    master: Arc<MasterKey>,
    mut changes: mpsc::UnboundedReceiver<InviteChange>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let mut queues: HashMap<String, (mpsc::UnboundedSender<Outgoing>, u64)> = HashMap::new();
    while let Some(change) = changes.recv().await {
        let (Some(status), Some(url)) = (change.status, change.callback) else {
            continue;
        };
        if event_name(&status) == "pending" {
            continue;
        }
        let invite = match store.invite_by_sid(&change.invite_sid).await {
            Ok(Some(invite)) => invite,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, invite = %change.invite_sid, "status callback: invite unreadable");
                continue;
            }
        };
        let (queue, sequence) = queues.entry(change.invite_sid.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(send_in_order(
                client.clone(),
                store.clone(),
                master.clone(),
                rx,
            ));
            (tx, 0)
        });
        *sequence += 1;
        let body = serde_json::json!({
            "event": event_name(&status),
            "sequence": *sequence,
            "invite_sid": invite.sid.as_str(),
            "call_sid": invite.call_sid.as_str(),
            "account_sid": invite.account_sid.as_str(),
            "to": invite.to_identity.as_str(),
            "from": invite.caller,
            "status": status,
            "registration_sid": invite.answered_by,
            "timestamp": rfc3339(now_ms()),
        });
        let _ = queue.send(Outgoing {
            url,
            key: invite.api_key_sid.clone(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            event: event_name(&status).to_owned(),
            invite_sid: change.invite_sid.clone(),
            status: status.clone(),
        });
        if is_final(&status) {
            queues.remove(&change.invite_sid);
        }
    }
}

async fn send_in_order(
    client: reqwest::Client,
    store: Store,
    master: Arc<MasterKey>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some(out) = queue.recv().await {
        send_one(&client, &store, &master, &out).await;
        if is_final(&out.status)
            && let Err(e) = store
                .mark_callback_reported(&out.invite_sid, &out.status)
                .await
        {
            tracing::warn!(error = %e, invite = %out.invite_sid, "recording a sent status callback failed");
        }
    }
}

/// Signs and POSTs one callback, retrying with backoff.
async fn send_one(client: &reqwest::Client, store: &Store, master: &MasterKey, out: &Outgoing) {
    let secret = match out.key.as_deref().map(ApiKeySid::parse) {
        Some(Ok(key)) => active_key_secret(store, master, &key).await.ok().flatten(),
        _ => None,
    };
    let Some((_, secret)) = secret else {
        tracing::warn!(url = %out.url, event = %out.event,
            "status callback not sent: the invite's API key is gone, nothing to sign with");
        return;
    };
    let signature = sign(secret.expose_secret().as_bytes(), &out.body);
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let result = client
            .post(&out.url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .body(out.body.clone())
            .send()
            .await;
        match result {
            Ok(res) if res.status().is_success() => {
                METRICS.callbacks.with_label_values(&["sent"]).inc();
                break;
            }
            other => {
                let why = match other {
                    Ok(res) => res.status().to_string(),
                    Err(e) => e.to_string(),
                };
                if attempt == ATTEMPTS {
                    METRICS.callbacks.with_label_values(&["failed"]).inc();
                    tracing::error!(url = %out.url, event = %out.event, %why,
                        "status callback failed; giving up");
                    break;
                }
                METRICS.callbacks.with_label_values(&["retried"]).inc();
                tracing::warn!(url = %out.url, event = %out.event, %why, attempt,
                    "status callback failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(8));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_against_the_allow_list_or_internal_ranges() {
        assert!(check_url("https://example.com/cb", &[]).is_ok());
        assert!(check_url("ftp://example.com/cb", &[]).is_err());
        for internal in [
            "http://127.0.0.1/x",
            "http://localhost:8080/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest",
            "http://[::1]/x",
        ] {
            assert!(check_url(internal, &[]).is_err(), "{internal}");
        }
        let allowed = vec!["127.0.0.1".to_owned(), "*.corp.example".to_owned()];
        assert!(check_url("http://127.0.0.1:9000/cb", &allowed).is_ok());
        assert!(check_url("https://hooks.corp.example/cb", &allowed).is_ok());
        assert!(check_url("https://example.com/cb", &allowed).is_err());
    }

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
