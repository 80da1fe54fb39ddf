//! What the call tests share: ringing phones ([`ring`]), reading a phone's event stream
//! ([`Events`]), and posting a call action as the app or as a phone ([`post`]).

use serde_json::{Value, json};

use crate::helpers::{Apns, TestApp, device_token};

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

pub(super) async fn post(app: &TestApp, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(app.url(path));
    req = match bearer {
        Some(token) => req.bearer_auth(token),
        None => req.header("Authorization", app.basic()),
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}
