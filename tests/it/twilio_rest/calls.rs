//! `client.calls.create(to="client:alice", …)`, `client.calls(sid).fetch()` and
//! `client.calls(sid).update(status="canceled")` from twilio-python and twilio-node: the call
//! rings alice's registered iPhone (the push reaches the APNs simulator), reads back in Twilio's
//! statuses and dates, hangs up, and a phone number surfaces as the library's REST exception
//! with code 21610.

use pushgate::domain::{CallProgressEvent, CallSid};
use serde_json::Value;

use super::{Library, node, phone, push_for, python};
use crate::helpers::{Backend, spawn_app_with_apns, store_tests};

/// A date a library parsed from the response, within a minute of now.
fn recent(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a parsed date: {value}"));
    let date = chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let age = chrono::Utc::now().signed_duration_since(date);
    assert!(age.num_seconds().abs() < 60, "{text}");
}

async fn calls_through(library: Library, b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    let device = phone(&app, &apns, "alice", 7).await;
    let script = match library {
        Library::Python => python::CALLS,
        Library::Node => node::CALLS,
    };
    let steps = library.run(&app, script, &[]).await;
    assert_eq!(steps.len(), 5, "{steps:?}");
    let created = &steps[0];
    let sid = created["sid"].as_str().unwrap().to_owned();
    assert!(CallSid::parse(&sid).is_ok(), "{created}");
    assert_eq!(created["account_sid"], app.account.as_str());
    assert_eq!(created["status"], "queued");
    assert_eq!(created["direction"], "outbound-api");
    assert_eq!(created["api_version"], "2010-04-01");
    assert_eq!(created["to"], "client:alice");
    assert_eq!(created["from_"], "client:quick_start");
    assert_eq!(
        created["uri"],
        format!("/2010-04-01/Accounts/{}/Calls/{sid}.json", app.account)
    );
    recent(&created["date_created"]);
    assert!(created["start_time"].is_null() && created["end_time"].is_null());
    assert!(created["price"].is_null());

    assert_eq!(steps[1]["status"], "ringing", "{:?}", steps[1]);
    recent(&steps[1]["start_time"]);
    assert_eq!(steps[2]["status"], "canceled");
    recent(&steps[2]["end_time"]);
    assert_eq!(
        steps[3]["status"], "canceled",
        "an ended call is returned unchanged"
    );
    let refused = &steps[4];
    assert_eq!(
        (refused["code"].as_u64(), refused["status"].as_u64()),
        (Some(21610), Some(400))
    );
    assert!(
        refused["message"].as_str().unwrap().contains("client:"),
        "{refused}"
    );

    // The call rang alice's phone, under its call SID.
    let push = push_for(&apns, &sid).await;
    assert_eq!(push["twi_to"], "client:alice");
    assert_eq!(push["twi_from"], "client:quick_start");
    assert!(
        apns.pushes("production")
            .iter()
            .any(|p| p.device_token == device)
    );
    // The invite is the same call, and the Twilio-only fields are kept with it.
    let (status, invite) = app.get_json(&format!("/v1/invites/{sid}")).await;
    assert_eq!(
        (status, invite["status"].as_str()),
        (200, Some("canceled")),
        "{invite}"
    );
    let invite_sid = pushgate::domain::InviteSid::parse(invite["sid"].as_str().unwrap()).unwrap();
    let extras = app.store.twilio_call(&invite_sid).await.unwrap().unwrap();
    assert_eq!(
        extras.url.as_ref().map(url::Url::as_str),
        Some("https://backend.example.com/twiml")
    );
    assert_eq!(
        extras.status_callback_event,
        [CallProgressEvent::Ringing, CallProgressEvent::Answered]
    );
    assert!(extras.twiml.is_none() && extras.application_sid.is_none());
    // Timeout=20 is the ring time.
    let expires =
        chrono::DateTime::parse_from_rfc3339(invite["expires_at"].as_str().unwrap()).unwrap();
    let created_at =
        chrono::DateTime::parse_from_rfc3339(invite["date_created"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created_at).num_seconds(), 20);
    app.stop().await.unwrap();
}

async fn calls_through_twilio_python(b: Backend) {
    calls_through(Library::Python, b).await;
}

async fn calls_through_twilio_node(b: Backend) {
    calls_through(Library::Node, b).await;
}

store_tests!(calls_through_twilio_python, calls_through_twilio_node);
