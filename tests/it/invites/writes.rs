//! Posting invites: a call SID posted again sends nothing new, concurrent invites (group
//! commit) are each written once, and bad invites are refused.

use serde_json::{Value, json};

use super::call_sid;
use crate::helpers::{Backend, device_token, spawn_app_with_apns, store_tests};

async fn reposting_a_call_sid_sends_nothing_new(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(6), "production");
    let registration = app.register_device("alice", &device_token(6)).await;
    let body = json!({"to": "alice", "from": "client:bob", "call_sid": call_sid(9)});
    let (_, first) = app.invite(body.clone()).await;
    app.settled(first["sid"].as_str().unwrap()).await;
    let (status, again) = app.invite(body.clone()).await;
    assert_eq!(status, 202);
    assert_eq!(again["sid"], first["sid"]);
    assert_eq!(apns.pushes("production").len(), 1);
    // Still the same invite once the device is gone (not "no registered devices").
    let res = app
        .client
        .delete(app.url(&format!("/v1/registrations/{registration}")))
        .header("X-Twilio-Token", app.token("alice"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (status, again) = app.invite(body).await;
    assert_eq!(status, 202);
    assert_eq!(again["sid"], first["sid"]);
}

/// Concurrent invites are committed together (group commit): duplicates of one call SID in
/// the same batch still make one invite, and every other invite is its own.
async fn concurrent_invites_are_each_written_once(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(7), "production");
    app.register_device("alice", &device_token(7)).await;
    let mut posts = tokio::task::JoinSet::new();
    for n in 0..40u8 {
        // Half repeat call SID 100; the others are 101…120.
        let call = if n % 2 == 0 { 100 } else { 100 + n / 2 + 1 };
        let body = json!({"to": "alice", "from": "client:bob", "call_sid": call_sid(call)});
        let (client, url, auth) = (app.client.clone(), app.url("/v1/invites"), app.basic());
        posts.spawn(async move {
            let res = client
                .post(url)
                .header("Authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let invite: Value = res.json().await.unwrap();
            (status, call, invite["sid"].as_str().unwrap().to_owned())
        });
    }
    let mut sids: std::collections::HashMap<u8, std::collections::HashSet<String>> =
        std::collections::HashMap::new();
    while let Some(done) = posts.join_next().await {
        let (status, call, sid) = done.unwrap();
        assert_eq!(status, 202);
        sids.entry(call).or_default().insert(sid);
    }
    assert_eq!(sids.len(), 21, "{sids:?}");
    assert!(
        sids.values().all(|s| s.len() == 1),
        "one invite per call SID: {sids:?}"
    );
    for sid in sids.values().flatten() {
        assert_eq!(app.settled(sid).await["status"], "delivered");
    }
    assert_eq!(apns.pushes("production").len(), 21);
}

async fn bad_invites_are_refused(b: Backend) {
    let (app, _apns) = spawn_app_with_apns(b, |_| {}).await;
    app.register_device("alice", &device_token(1)).await;
    let (status, body) = app
        .invite(json!({"to": "nobody", "from": "client:bob"}))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (404, Some(21201)),
        "{body}"
    );
    let big = json!({"to": "alice", "from": "client:bob", "params": {"blob": "x".repeat(6000)}});
    let (status, body) = app.invite(big).await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(21202)),
        "{body}"
    );
    for bad in [
        json!({"to": "alice", "from": "client:bob", "ttl": 301}),
        json!({"to": "alice", "from": "client:bob", "ttl": 0}),
        json!({"to": "alice", "from": "client:bob", "call_sid": "CA123"}),
        json!({"to": "alice", "from": ""}),
        json!({"to": "alice", "from": "client:bob", "status_callback": "ftp://x"}),
        json!({"to": "", "from": "client:bob"}),
    ] {
        let (status, body) = app.invite(bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let (status, body) = app.invite(json!({"to": "alice"})).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(21001)));
    let (status, _) = app.get_json("/v1/invites/IVnope").await;
    assert_eq!(status, 404);
    let count: Value = app.get_json("/v1/registrations").await.1;
    assert_eq!(count["registrations"].as_array().unwrap().len(), 1);
}

store_tests!(
    reposting_a_call_sid_sends_nothing_new,
    concurrent_invites_are_each_written_once,
    bad_invites_are_refused,
);
