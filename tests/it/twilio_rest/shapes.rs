//! The edges of Twilio's shapes over plain HTTP: another account's path is 404, a JSON body
//! 415, answers and rejections read back as `in-progress` and `busy`, hanging up an answered
//! call changes nothing, unsupported updates and bad paging parameters are 400 with their
//! codes, and list URLs are absolute for the host the client used.

use serde_json::Value;

use super::{phone, push_for};
use crate::helpers::{Backend, TestApp, assert_error, spawn_app, spawn_app_with_apns, store_tests};

fn calls_url(app: &TestApp, account: &str) -> String {
    app.url(&format!("/2010-04-01/Accounts/{account}/Calls.json"))
}

fn call_url(app: &TestApp, sid: &str) -> String {
    app.url(&format!(
        "/2010-04-01/Accounts/{}/Calls/{sid}.json",
        app.account
    ))
}

async fn post_form(app: &TestApp, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(url)
        .header("Authorization", app.basic())
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn place(app: &TestApp) -> Value {
    let res = post_form(
        app,
        &calls_url(app, app.account.as_str()),
        &[
            ("To", "client:alice"),
            ("From", "+15551230000"),
            ("Twiml", "<Response/>"),
        ],
    )
    .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn bridge_answer(app: &TestApp, call: &str, bridge: &str, action: &str) {
    let res = app
        .client
        .post(app.url(&format!("/v1/invites/{call}/{action}")))
        .bearer_auth(bridge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn status_of(app: &TestApp, sid: &str) -> Value {
    let res = app
        .client
        .get(call_url(app, sid))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn answers_and_rejections_read_as_twilio_statuses(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    phone(&app, &apns, "alice", 3).await;
    for (action, twilio) in [("accept", "in-progress"), ("reject", "busy")] {
        let call = place(&app).await;
        let sid = call["sid"].as_str().unwrap();
        let bridge = push_for(&apns, sid).await["twi_bridge_token"]
            .as_str()
            .unwrap()
            .to_owned();
        bridge_answer(&app, sid, &bridge, action).await;
        let read = status_of(&app, sid).await;
        assert_eq!(read["status"], twilio, "{read}");
        assert!(
            read["end_time"].is_string() && read["duration"].is_null(),
            "{read}"
        );
        // Hanging up a call that already ended changes nothing.
        let res = post_form(&app, &call_url(&app, sid), &[("Status", "completed")]).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["status"], twilio);
    }
    let call = place(&app).await;
    let sid = call["sid"].as_str().unwrap();
    for form in [
        &[("Status", "in-progress")][..],
        &[("Url", "https://e.com/x")][..],
    ] {
        let res = post_form(&app, &call_url(&app, sid), form).await;
        assert_error(res, 400, 21616).await;
    }
    app.stop().await.unwrap();
}

async fn refusals_have_twilio_error_bodies(b: Backend) {
    let app = spawn_app(b).await;
    let other = pushgate::domain::AccountSid::generate();
    let form = [("To", "client:alice"), ("From", "client:bob")];
    let res = post_form(&app, &calls_url(&app, other.as_str()), &form).await;
    let body = assert_error(res, 404, 20404).await;
    assert!(body["more_info"].is_string(), "{body}");
    let res = app
        .client
        .post(calls_url(&app, app.account.as_str()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20003).await;
    let res = app
        .client
        .post(calls_url(&app, app.account.as_str()))
        .header("Authorization", app.basic())
        .json(&serde_json::json!({"To": "client:alice", "From": "client:bob"}))
        .send()
        .await
        .unwrap();
    assert_error(res, 415, 21002).await;
    // No registered phone: the invites service's 404.
    let res = post_form(&app, &calls_url(&app, app.account.as_str()), &form).await;
    assert_error(res, 404, 21201).await;
    for (field, value, code) in [
        ("To", "sip:alice@example.com", 21610),
        ("Timeout", "soon", 21614),
        ("Url", "ftp://example.com/twiml", 21612),
        ("StatusCallbackEvent", "hangup", 21615),
    ] {
        let mut form = vec![("To", "client:alice"), ("From", "client:bob")];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let res = post_form(&app, &calls_url(&app, app.account.as_str()), &form).await;
        assert_error(res, 400, code).await;
    }
    let unknown = pushgate::domain::CallSid::generate();
    let res = app
        .client
        .get(call_url(&app, unknown.as_str()))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_error(res, 404, 20404).await;
    app.stop().await.unwrap();
}

async fn credential_pages_link_absolute_urls(b: Backend) {
    let app = spawn_app(b).await;
    let (status, page) = app.get_json("/v2/Credentials?PageSize=1").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["credentials"][0]["sid"], app.credential.as_str());
    assert_eq!(page["credentials"][0]["sandbox"], "false");
    let meta = &page["meta"];
    assert_eq!(meta["key"], "credentials");
    assert_eq!(
        (meta["page"].as_u64(), meta["page_size"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        meta["first_page_url"],
        app.url("/v2/Credentials?PageSize=1&Page=0")
    );
    assert!(meta["previous_page_url"].is_null() && meta["next_page_url"].is_null());
    let (_, past) = app
        .get_json("/v2/Credentials?PageSize=1&Page=1&PageToken=PA1")
        .await;
    assert_eq!(past["credentials"], serde_json::json!([]));
    assert_eq!(
        past["meta"]["previous_page_url"],
        app.url("/v2/Credentials?PageSize=1&Page=0")
    );
    for query in ["PageSize=0", "PageSize=1001", "Page=-1", "PageToken=x"] {
        let res = app
            .client
            .get(app.url(&format!("/v2/Credentials?{query}")))
            .header("Authorization", app.basic())
            .send()
            .await
            .unwrap();
        assert_error(res, 400, 21618).await;
    }
    app.stop().await.unwrap();
}

store_tests!(
    answers_and_rejections_read_as_twilio_statuses,
    refusals_have_twilio_error_bodies,
    credential_pages_link_absolute_urls,
);
