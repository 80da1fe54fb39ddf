//! Bridge tokens (a phone's credential for its call's actions and events): scoped to one
//! call, refused when garbled or expired, and required for the event stream.

use serde_json::json;

use super::support::{post, ring};
use crate::helpers::{Backend, spawn_app_with_apns, store_tests};

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

store_tests!(bridge_tokens_are_scoped_and_expire,);
