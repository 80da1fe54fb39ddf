//! Event stream caps: per registration, per invite; a closed stream frees its slot.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::calls::{Events, ring};
use crate::helpers::{Backend, TestApp, assert_error, spawn_app_with_apns};

async fn open(app: &TestApp, call: &str, bridge: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/invites/{call}/events")))
        .bearer_auth(bridge)
        .send()
        .await
        .unwrap()
}

async fn assert_capped(res: reqwest::Response) {
    let retry_after = res.headers().get("retry-after").cloned();
    assert_error(res, 429, 21502).await;
    let retry_after = retry_after.expect("a Retry-After header");
    assert!(retry_after.to_str().unwrap().parse::<u64>().is_ok());
}

#[tokio::test]
async fn event_streams_are_capped_per_registration_and_per_invite() {
    let (app, apns) = spawn_app_with_apns(Backend::Sqlite, |c| {
        c.max_event_streams_per_registration = 2;
        c.max_event_streams_per_invite = 3;
    })
    .await;
    let (call, bridges) = ring(&app, &apns, 2, json!({"ttl": 300})).await;
    let mut first = Events::open(&app, &call, &bridges[0]).await;
    assert_eq!(first.next().await.unwrap().0, "ringing");
    let _second = Events::open(&app, &call, &bridges[0]).await;
    // One bridge token (one phone): the third stream is refused.
    assert_capped(open(&app, &call, &bridges[0]).await).await;
    // Another phone of the same call may open one more, up to the invite's cap.
    let _third = Events::open(&app, &call, &bridges[1]).await;
    assert_capped(open(&app, &call, &bridges[1]).await).await;

    // Closing a stream gives its slot back (once the server sees the client gone).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = open(&app, &call, &bridges[0]).await;
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 429);
        assert!(Instant::now() < deadline, "the slot was not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn event_streams_are_capped_per_process() {
    let (app, apns) = spawn_app_with_apns(Backend::Sqlite, |c| c.max_event_streams = 1).await;
    let (call, bridges) = ring(&app, &apns, 2, json!({"ttl": 300})).await;
    let _only = Events::open(&app, &call, &bridges[0]).await;
    assert_capped(open(&app, &call, &bridges[1]).await).await;
    app.stop().await.unwrap();
}
