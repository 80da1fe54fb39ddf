//! The call lifecycle: answer on one device (the others hear "answered" elsewhere), cancel,
//! late streams, bridge token scoping, signed status callbacks with retries, legacy cancel
//! pushes, and the quickstart endpoints.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Apns, Backend, TestApp, device_token, spawn_app_with_apns, store_tests};

/// One phone's Server-Sent Events stream.
pub(crate) struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    pub(crate) async fn open(app: &TestApp, call: &str, bridge: &str) -> Self {
        let res = app
            .client
            .get(app.url(&format!("/v1/invites/{call}/events")))
            .bearer_auth(bridge)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        Self {
            res,
            buf: String::new(),
        }
    }

    /// The next event's name and data, or `None` when the stream ended.
    pub(crate) async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = Value::Null;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = serde_json::from_str(v.trim()).unwrap();
                    }
                }
                if name.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((name, data));
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), self.res.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Registers `n` phones for alice, rings them, and returns the call SID and each phone's
/// bridge token (from the push it received).
pub(crate) async fn ring(app: &TestApp, apns: &Apns, n: u8, extra: Value) -> (String, Vec<String>) {
    let mut tokens = Vec::new();
    for seed in 1..=n {
        apns.register(&device_token(seed), "production");
        app.register_device("alice", &device_token(seed)).await;
        tokens.push(device_token(seed));
    }
    let mut body = json!({"to": "alice", "from": "client:bob"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, invite) = app.invite(body).await;
    assert_eq!(status, 202, "{invite}");
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "delivered");
    let pushes = apns.pushes("production");
    let bridges = tokens
        .iter()
        .map(|t| {
            let push = pushes.iter().rev().find(|p| &p.device_token == t).unwrap();
            push.payload.as_ref().unwrap()["twi_bridge_token"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    (invite["call_sid"].as_str().unwrap().to_owned(), bridges)
}

async fn post(app: &TestApp, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(app.url(path));
    req = match bearer {
        Some(token) => req.bearer_auth(token),
        None => req.header("Authorization", app.basic()),
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn the_first_accept_wins_and_the_others_hear_it(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let (call, bridges) = ring(&app, &apns, 3, json!({})).await;
    let mut streams = Vec::new();
    for bridge in &bridges[1..] {
        let mut s = Events::open(&app, &call, bridge).await;
        assert_eq!(s.next().await.unwrap().0, "ringing", "current state first");
        streams.push(s);
    }
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&bridges[0]),
    )
    .await;
    assert_eq!(
        (status, body["this_device"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    for s in &mut streams {
        let (name, data) = s.next().await.unwrap();
        assert_eq!(
            (name.as_str(), data["this_device"].as_bool()),
            ("answered", Some(false))
        );
        assert!(s.next().await.is_none(), "the stream ends at a final state");
    }
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&bridges[1]),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (409, Some(21310)),
        "{body}"
    );
    // The winner accepting again is told the same.
    let (status, _) = post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&bridges[0]),
    )
    .await;
    assert_eq!(status, 200);
}

async fn cancel_reaches_every_stream_even_late_ones(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let (call, bridges) = ring(&app, &apns, 2, json!({})).await;
    let mut early = Events::open(&app, &call, &bridges[0]).await;
    assert_eq!(early.next().await.unwrap().0, "ringing");
    let (status, body) = post(&app, &format!("/v1/invites/{call}/cancel"), None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("canceled")),
        "{body}"
    );
    assert_eq!(early.next().await.unwrap().0, "canceled");
    assert!(early.next().await.is_none());
    let mut late = Events::open(&app, &call, &bridges[1]).await;
    assert_eq!(
        late.next().await.unwrap().0,
        "canceled",
        "a late phone learns it first"
    );
    assert!(late.next().await.is_none());
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&bridges[1]),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (409, Some(21311)));
    let (status, _) = post(&app, &format!("/v1/invites/{call}/cancel"), None).await;
    assert_eq!(status, 409, "already ended");
}

async fn bridge_tokens_are_scoped_and_expire(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let (first, bridges) = ring(&app, &apns, 1, json!({})).await;
    let (second, _) = ring(&app, &apns, 1, json!({})).await;
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{second}/accept"),
        Some(&bridges[0]),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (403, Some(21302)));
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{first}/accept"),
        Some("garbage"),
    )
    .await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(21301)));
    let invite = app
        .store
        .invite_by_call(
            &app.account,
            &pushgate::domain::CallSid::parse(&first).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let expired = pushgate::auth::bridge_token::BridgeTokens::new(&app.master).sign(
        &invite.sid,
        &pushgate::domain::RegistrationSid::parse("BS00000000000000000000000000000000").unwrap(),
        pushgate::clock::now_ms() - 120_000,
    );
    let (status, _) = post(&app, &format!("/v1/invites/{first}/accept"), Some(&expired)).await;
    assert_eq!(status, 401);
    let res = app
        .client
        .get(app.url(&format!("/v1/invites/{first}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// A status callback receiver that fails its first request.
#[derive(Default)]
struct Receiver {
    /// (raw body, signature header).
    received: Mutex<Vec<(String, String)>>,
    attempts: Mutex<u32>,
    notify: tokio::sync::Notify,
}

async fn receiver() -> (Arc<Receiver>, String) {
    let state = Arc::new(Receiver::default());
    let handler_state = state.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = handler_state.clone();
            async move {
                let mut attempts = state.attempts.lock().unwrap();
                *attempts += 1;
                if *attempts == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let signature = headers["x-pushgate-signature"].to_str().unwrap().to_owned();
                state.received.lock().unwrap().push((body, signature));
                state.notify.notify_waiters();
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (state, url)
}

async fn status_callbacks_arrive_in_order_signed_and_retried(b: Backend) {
    let (_app, _apns, receiver, url, call) = answered_with_callback(b, 2).await;
    callbacks(&receiver, 2).await;
    let raw = receiver.received.lock().unwrap().clone();
    let received: Vec<(Value, &str)> = raw
        .iter()
        .map(|(body, sig)| (serde_json::from_str(body).unwrap(), sig.as_str()))
        .collect();
    let events: Vec<&str> = received
        .iter()
        .map(|(b, _)| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["ringing", "answered"]);
    assert_eq!(received[1].0["sequence"], 2);
    assert_eq!(received[1].0["call_sid"], call.as_str());
    assert!(
        received[1].0["registration_sid"]
            .as_str()
            .unwrap()
            .starts_with("BS")
    );
    assert!(
        *receiver.attempts.lock().unwrap() >= 3,
        "the first attempt failed and was retried"
    );
    for (_, signature) in &raw {
        // Verified against the webhook secret in tests/it/hardening/auth/signatures.rs.
        assert!(signature.starts_with("v1="), "{signature}");
    }
    // Internal callback URLs are refused unless allowed.
    let (app2, _apns2) = spawn_app_with_apns(b, |_| {}).await;
    app2.register_device("alice", &device_token(1)).await;
    let (status, body) = app2
        .invite(json!({"to": "alice", "from": "x", "status_callback": url}))
        .await;
    assert_eq!(status, 400, "{body}");
}

async fn legacy_cancel_pushes_reach_the_phones(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let (call, _) = ring(&app, &apns, 2, json!({"cancel_push": "voip"})).await;
    post(&app, &format!("/v1/invites/{call}/cancel"), None).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let cancels = loop {
        let cancels: Vec<_> = apns
            .pushes("production")
            .into_iter()
            .filter(|p| {
                p.payload
                    .as_ref()
                    .is_some_and(|v| v["twi_message_type"] == "twilio.voice.cancel")
            })
            .collect();
        if cancels.len() == 2 || tokio::time::Instant::now() > deadline {
            break cancels;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(cancels.len(), 2);
    for p in cancels {
        let payload = p.payload.unwrap();
        assert_eq!(payload["twi_call_sid"], call.as_str());
        assert_eq!(payload["aps"], json!({}));
        assert_eq!(p.headers["apns-push-type"], "voip");
    }
}

async fn quickstart_endpoints_work_like_the_quickstart_servers(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |c| c.quickstart = true).await;
    let token = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token = token.text().await.unwrap();
    apns.register(&device_token(1), "production");
    assert_eq!(app.register(&token, &device_token(1)).await.status(), 201);
    let call = app
        .client
        .post(app.url("/placeCall"))
        .form(&[("to", "alice")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(call.starts_with("CA"), "{call}");
    let (_, invite) = app.get_json(&format!("/v1/invites/{call}?wait=5000")).await;
    assert_eq!(invite["from"], "client:quick_start");
    assert_eq!(invite["status"], "delivered");
    let res = app
        .client
        .post(app.url("/placeCall?to=nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

async fn open_event_streams_end_when_the_server_drains(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let (call, bridges) = ring(&app, &apns, 1, json!({"ttl": 300})).await;
    let mut stream = Events::open(&app, &call, &bridges[0]).await;
    assert_eq!(stream.next().await.unwrap().0, "ringing");
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), app.stop()).await;
    assert!(
        stopped
            .expect("shutdown is not held up by the stream")
            .is_ok()
    );
    assert!(stream.next().await.is_none(), "the stream ended");
}

/// Waits (bounded) until `receiver` holds `n` callbacks; their events.
async fn callbacks(receiver: &Receiver, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let notified = receiver.notify.notified();
        let received = receiver.received.lock().unwrap().clone();
        if received.len() >= n {
            return received
                .iter()
                .map(|(body, _)| {
                    let body: Value = serde_json::from_str(body).unwrap();
                    body["event"].as_str().unwrap().to_owned()
                })
                .collect();
        }
        tokio::time::timeout_at(deadline, notified)
            .await
            .expect("callbacks");
    }
}

/// The invite's `callback_reported`, read straight from the store.
async fn callback_reported(app: &TestApp, sid: &str) -> Option<String> {
    use sqlx::Connection;
    let url = app.config.database_url.clone().unwrap();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    let (reported,): (Option<String>,) =
        sqlx::query_as("SELECT callback_reported FROM invites WHERE sid = $1 OR call_sid = $1")
            .bind(sid)
            .fetch_one(&mut db)
            .await
            .unwrap();
    reported
}

/// `callback_reported` once set (waiting up to 2 s).
async fn reported_eventually(app: &TestApp, call: &str) -> Option<String> {
    for _ in 0..100 {
        if let Some(reported) = callback_reported(app, call).await {
            return Some(reported);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

/// A gateway that may call back 127.0.0.1, a callback receiver (its URL), and a call to `n`
/// devices with that status callback, answered on the last device.
async fn answered_with_callback(
    b: Backend,
    n: u8,
) -> (TestApp, Apns, Arc<Receiver>, String, String) {
    let (app, apns) = spawn_app_with_apns(b, |c| {
        c.status_callback_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let (receiver, url) = receiver().await;
    let (call, bridges) = ring(&app, &apns, n, json!({"status_callback": url})).await;
    post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&bridges[usize::from(n) - 1]),
    )
    .await;
    (app, apns, receiver, url, call)
}

/// A final callback lost with a stopped replica (ended, never reported) is sent by the next
/// replica that starts, and recorded as reported.
async fn lost_final_callbacks_are_replayed(b: Backend) {
    let (app, _apns, receiver, _, call) = answered_with_callback(b, 1).await;
    assert_eq!(callbacks(&receiver, 2).await, ["ringing", "answered"]);
    assert_eq!(
        reported_eventually(&app, &call).await.as_deref(),
        Some("answered")
    );

    // As if the process had stopped before sending it: ended two minutes ago, not reported.
    {
        use sqlx::Connection;
        let url = app.config.database_url.clone().unwrap();
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query(
            "UPDATE invites SET callback_reported = NULL, date_updated = $1 WHERE sid = $2 OR call_sid = $2",
        )
        .bind(pushgate::clock::now_ms() - 120_000)
        .bind(&call)
        .execute(&mut db)
        .await
        .unwrap();
    }
    let replica = app.spawn_replica().await;
    assert_eq!(
        callbacks(&receiver, 3).await,
        ["ringing", "answered", "answered"]
    );
    assert_eq!(
        reported_eventually(&app, &call).await.as_deref(),
        Some("answered")
    );
    replica.stop().await.unwrap();
}

store_tests!(
    lost_final_callbacks_are_replayed,
    open_event_streams_end_when_the_server_drains,
    the_first_accept_wins_and_the_others_hear_it,
    cancel_reaches_every_stream_even_late_ones,
    bridge_tokens_are_scoped_and_expire,
    status_callbacks_arrive_in_order_signed_and_retried,
    legacy_cancel_pushes_reach_the_phones,
    quickstart_endpoints_work_like_the_quickstart_servers,
);
