//! Expiry: an unanswered call ends as `expired` about when its ttl is up (one sweeper, no
//! timer per invite), every phone hears it, and an open invite past its expiry that no
//! running gateway placed (a restart, a dead replica) is ended all the same.

use serde_json::json;

use super::support::{Events, post, ring};
use crate::helpers::bin::metric_value;
use crate::helpers::{Backend, copy_invite_unqueued, spawn_app_with_apns, store_tests};

async fn an_unanswered_call_expires_and_every_phone_hears_it(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let started = std::time::Instant::now();
    let (call, bridges) = ring(&app, &apns, 2, json!({"ttl": 1})).await;
    let mut streams = Vec::new();
    for bridge in &bridges {
        let mut s = Events::open(&app, &call, bridge).await;
        assert_eq!(s.next().await.unwrap().0, "ringing");
        streams.push(s);
    }
    for s in &mut streams {
        assert_eq!(s.next().await.unwrap().0, "expired");
        assert!(s.next().await.is_none(), "the stream ends at a final state");
    }
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(900),
        "not before its ttl: {took:?}"
    );
    assert!(
        took < std::time::Duration::from_secs(5),
        "promptly after it: {took:?}"
    );
    let (status, body) = app.get_json(&format!("/v1/invites/{call}")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("expired")),
        "{body}"
    );
    let (status, body) = post(
        &app,
        &format!("/v1/invites/{call}/accept"),
        Some(&bridges[0]),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (409, Some(21311)),
        "{body}"
    );
    let metrics = app.metrics_text().await;
    assert_eq!(
        metric_value(
            &metrics,
            "pushgate_invites_finished_total",
            &["status=\"expired\""]
        ),
        1.0,
        "{metrics}"
    );
}

async fn an_open_invite_past_its_expiry_is_ended_whoever_placed_it(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let (call, _) = ring(&app, &apns, 1, json!({"ttl": 300})).await;
    let (_, placed) = app.get_json(&format!("/v1/invites/{call}")).await;
    // Written straight to the store, expired a second ago: no gateway ever scheduled it.
    let orphan = copy_invite_unqueued(&app, placed["sid"].as_str().unwrap(), 61_000).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, body) = app.get_json(&format!("/v1/invites/{orphan}")).await;
        if body["status"] == "expired" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, body) = app.get_json(&format!("/v1/invites/{call}")).await;
    assert_ne!(body["status"], "expired", "the live call rings on: {body}");
}

store_tests!(
    an_unanswered_call_expires_and_every_phone_hears_it,
    an_open_invite_past_its_expiry_is_ended_whoever_placed_it,
);
