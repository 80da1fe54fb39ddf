//! Status callbacks: each state change of an invite (`ringing`, `answered`, `rejected`,
//! `canceled`, `expired`, `failed`) POSTed as JSON to the invite's `status_callback`, signed
//! with the account's webhook signing secret ([`super::webhook_secret`]) over
//! `timestamp + "." + body` (`X-Pushgate-Timestamp: <unix seconds>`,
//! `X-Pushgate-Signature: v1=<hex HMAC-SHA256>`; during a secret rotation's overlap a second,
//! comma-separated `v1=` under the replaced secret), so a receiver can refuse replays. One ordered
//! queue per invite, retried with backoff, entirely off the push path. Once an invite's final
//! callback is delivered (or given up on) that is recorded on the invite; a final callback
//! still unrecorded a minute after the invite ended was lost with a stopped replica, and is
//! sent again by whichever replica's sweep takes it (so a receiver may, rarely, see a final
//! event twice).
//!
//! Where callbacks may go: [`super::callback_url`] checks the URL when the invite is created
//! and again before each send; names are resolved once, checked, and connected to by the
//! client's [`GuardedResolver`]. Redirects are not followed and no proxy is used.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use secrecy::ExposeSecret;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::callback_dns::{GuardedResolver, refused};
use super::callback_url::{AllowList, CallbackUrl};
use super::webhook_secret;
use crate::clock::{now_ms, now_secs, rfc3339};
use crate::config::Config;
use crate::domain::AccountSid;
use crate::domain::{InviteSid, InviteStatus};
use crate::events::InviteChange;
use crate::metrics::Metrics;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::tasks::Tasks;

/// The signature header: `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub const SIGNATURE_HEADER: &str = "X-Pushgate-Signature";
/// The timestamp header: the Unix time (seconds) the signature was made at.
pub const TIMESTAMP_HEADER: &str = "X-Pushgate-Timestamp";
/// Attempts per callback before it is dropped (with an error log).
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mac = PKey::hmac(secret)
        .and_then(|key| {
            let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
            signer.update(timestamp.to_string().as_bytes())?;
            signer.update(b".")?;
            signer.update(body)?;
            signer.sign_to_vec()
        })
        .expect("HMAC-SHA256 cannot fail");
    format!("v1={}", hex::encode(mac))
}

/// Checks a callback URL at invite creation: see [`CallbackUrl::check`].
pub fn check_url(raw: &str, allowed: &[String]) -> Result<CallbackUrl, String> {
    CallbackUrl::check(raw, &AllowList::new(allowed))
}

/// Where callbacks may go and how names are resolved: built once from the configuration.
#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    allowed: AllowList,
    metrics: Metrics,
}

impl Sender {
    fn new(config: &Config, metrics: Metrics) -> Self {
        let allowed = AllowList::new(&config.status_callback_allowed_hosts);
        let resolver = GuardedResolver::new(config.callback_lookup.get(), allowed.clone());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .build()
            .expect("HTTP client");
        Self {
            client,
            allowed,
            metrics,
        }
    }

    /// Counts one callback `result`.
    fn count(&self, result: &str) {
        self.metrics.callbacks.with_label_values(&[result]).inc();
    }
}

struct Outgoing {
    url: String,
    account: AccountSid,
    body: Vec<u8>,
    event: &'static str,
    invite_sid: InviteSid,
    status: InviteStatus,
}

/// How often lost final callbacks are looked for, and how long after the invite ended.
const RECOVER_EVERY: Duration = Duration::from_secs(60);
const RECOVER_AFTER_MS: i64 = 60_000;
/// Invites that ended longer ago than this are not called back any more.
const RECOVER_WITHIN_MS: i64 = 24 * 3600 * 1000;

/// Starts the dispatcher that turns invite changes into callbacks, and the sweep that
/// replays final callbacks lost with a stopped replica (through `events`). Results are
/// counted in `metrics`; the tasks are tracked by `tasks`. The sweep ends when `tasks` is
/// stopping; the dispatcher once it is drained (after the changes of the last outcomes), then
/// a callback being sent is not retried and queued ones are dropped (a final one is replayed
/// by the sweep).
pub fn start(
    store: Store,
    master: Arc<MasterKey>,
    changes: mpsc::Receiver<InviteChange>,
    events: crate::events::Events,
    config: &Config,
    metrics: Metrics,
    tasks: &Tasks,
) -> tokio::task::JoinHandle<()> {
    tasks.spawn(recover(store.clone(), events, tasks.stopping()));
    let sender = Sender::new(config, metrics);
    // Each invite being called back holds a task and, while its receiver is slow, a
    // connection (for up to six attempts of five seconds): `max_invites_calling_back` bounds
    // them; beyond, a new invite's callback is dropped (a final one is replayed by `recover`).
    let calling_back = Arc::new(Semaphore::new(config.max_invites_calling_back.max(1)));
    tasks.spawn(dispatch(
        store,
        master,
        changes,
        (sender, calling_back),
        tasks.clone(),
    ))
}

async fn recover(store: Store, events: crate::events::Events, stop: CancellationToken) {
    let mut tick = tokio::time::interval(RECOVER_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = now_ms();
        let lost = store
            .take_unreported_callbacks(now - RECOVER_WITHIN_MS, now - RECOVER_AFTER_MS, 500)
            .await;
        match lost {
            Ok(lost) => {
                for lost in lost {
                    tracing::info!(invite = %lost.sid, status = lost.status.as_str(),
                        "replaying a lost status callback");
                    events.replay_callback(InviteChange {
                        invite_sid: lost.sid,
                        status: Some(lost.status),
                        callback: lost.status_callback,
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
    mut changes: mpsc::Receiver<InviteChange>,
    (sender, calling_back): (Sender, Arc<Semaphore>),
    tasks: Tasks,
) {
    let stop = tasks.drained();
    let most = calling_back.available_permits();
    let mut queues: HashMap<InviteSid, (mpsc::UnboundedSender<Outgoing>, u64)> = HashMap::new();
    loop {
        let change = tokio::select! {
            biased;
            change = changes.recv() => match change {
                Some(change) => change,
                None => return,
            },
            _ = stop.cancelled() => return,
        };
        let (Some(status), Some(url)) = (change.status, change.callback) else {
            continue;
        };
        if status.event_name() == "pending" {
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
        if !queues.contains_key(&change.invite_sid) {
            let Ok(slot) = calling_back.clone().try_acquire_owned() else {
                sender.count("dropped");
                tracing::warn!(invite = %change.invite_sid, event = status.event_name(),
                    "status callback dropped: {most} invites are being called back already");
                continue;
            };
            // At most the invite's few events: ringing, then its final one.
            let (tx, rx) = mpsc::unbounded_channel();
            let (sender, store, master) = (sender.clone(), store.clone(), master.clone());
            let stop = stop.clone();
            tasks.spawn(async move {
                send_in_order(sender, store, master, rx, stop).await;
                drop(slot);
            });
            queues.insert(change.invite_sid.clone(), (tx, 0));
        }
        let Some((queue, sequence)) = queues.get_mut(&change.invite_sid) else {
            continue;
        };
        *sequence += 1;
        let body = serde_json::json!({
            "event": status.event_name(),
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
            account: invite.account_sid.clone(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            event: status.event_name(),
            invite_sid: change.invite_sid.clone(),
            status,
        });
        if status.is_final() {
            queues.remove(&change.invite_sid);
        }
    }
}

async fn send_in_order(
    sender: Sender,
    store: Store,
    master: Arc<MasterKey>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    stop: CancellationToken,
) {
    loop {
        let out = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            out = queue.recv() => match out {
                Some(out) => out,
                None => return,
            },
        };
        send_one(&sender, &store, &master, &out, &stop).await;
        if out.status.is_final()
            && let Err(e) = store
                .mark_callback_reported(&out.invite_sid, out.status)
                .await
        {
            tracing::warn!(error = %e, invite = %out.invite_sid, "recording a sent status callback failed");
        }
    }
}

/// Signs and POSTs one callback, retrying with backoff; a target the address policy refuses
/// is given up on at once, and so is one whose retry would come after `stop`.
async fn send_one(
    sender: &Sender,
    store: &Store,
    master: &MasterKey,
    out: &Outgoing,
    stop: &CancellationToken,
) {
    let url = match CallbackUrl::stored(&out.url, &sender.allowed) {
        Ok(url) => url,
        Err(why) => {
            sender.count("refused");
            tracing::warn!(invite = %out.invite_sid, event = %out.event, %why,
                "status callback not sent: its URL is not allowed");
            return;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let result = match webhook_secret::signing(store, master, &out.account).await {
            Ok(secrets) => {
                let timestamp = now_secs();
                // During a rotation's overlap: the new secret's signature, then the old one's.
                let signature = secrets
                    .iter()
                    .map(|s| sign(s.expose_secret().as_bytes(), timestamp, &out.body))
                    .collect::<Vec<_>>()
                    .join(",");
                sender
                    .client
                    .post(url.url().clone())
                    .header("Content-Type", "application/json")
                    .header(TIMESTAMP_HEADER, timestamp)
                    .header(SIGNATURE_HEADER, signature)
                    .body(out.body.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        if let Some(refused) = refused(&e) {
                            Err(refused.to_string())
                        } else {
                            Ok(e.to_string())
                        }
                    })
            }
            Err(e) => Err(Ok(format!("no signing secret: {e}"))),
        };
        let why = match result {
            Ok(res) if res.status().is_success() => {
                sender.count("sent");
                return;
            }
            Ok(res) => res.status().to_string(),
            Err(Err(refusal)) => {
                sender.count("refused");
                tracing::warn!(url = %url, event = %out.event, why = %refusal,
                    "status callback refused: its host is not a public address");
                return;
            }
            Err(Ok(why)) => why,
        };
        if attempt == ATTEMPTS {
            sender.count("failed");
            tracing::error!(url = %url, event = %out.event, %why,
                "status callback failed; giving up");
            return;
        }
        sender.count("retried");
        tracing::warn!(url = %url, event = %out.event, %why, attempt,
            "status callback failed; retrying");
        if !crate::tasks::sleep_unless(stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let sig = sign(b"whsec_test", 1_700_000_000, br#"{"event":"ringing"}"#);
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_test",
        //   b'1700000000.{"event":"ringing"}', hashlib.sha256).hexdigest())'
        assert_eq!(
            sig,
            "v1=d7d437540996f82b519d4ca8c34cf186e83e6c92430dfd417dfa9d9ca30b38dd"
        );
        assert_ne!(
            sig,
            sign(b"whsec_test", 1_700_000_001, br#"{"event":"ringing"}"#)
        );
    }
}
