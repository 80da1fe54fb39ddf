//! A call's life as the phones see it: the first accept wins and the others hear "answered"
//! elsewhere, a cancel reaches every stream (late ones first thing), legacy cancel pushes, and
//! open streams ending when the server drains.

use serde_json::json;

use super::support::{Events, post, ring};
use crate::helpers::{Backend, spawn_app_with_apns, store_tests};

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

store_tests!(
    the_first_accept_wins_and_the_others_hear_it,
    cancel_reaches_every_stream_even_late_ones,
    legacy_cancel_pushes_reach_the_phones,
    open_event_streams_end_when_the_server_drains,
);
