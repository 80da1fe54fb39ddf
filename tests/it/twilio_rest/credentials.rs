//! `client.chat.v2.credentials` from twilio-python and twilio-node: create an APNs credential
//! (certificate + private key, sandbox), list every credential one a page (the libraries follow
//! `next_page_url`), fetch, rename and delete it; a deleted one is the library's 404.

use pushgate::credentials::devcerts::VoipPair;
use pushgate::domain::CredentialSid;
use secrecy::ExposeSecret;

use super::{Library, node, python};
use crate::helpers::{Backend, spawn_app, store_tests};

async fn credentials_through(library: Library, b: Backend) {
    let app = spawn_app(b).await;
    let (cert, key) = VoipPair::issue("com.example.other")
        .unwrap()
        .leaf_pem()
        .unwrap();
    let script = match library {
        Library::Python => python::CREDENTIALS,
        Library::Node => node::CREDENTIALS,
    };
    let steps = library
        .run(&app, script, &[&cert, key.expose_secret()])
        .await;
    assert_eq!(steps.len(), 6, "{steps:?}");
    let created = &steps[0];
    let sid = created["sid"].as_str().unwrap().to_owned();
    assert!(CredentialSid::parse(&sid).is_ok(), "{created}");
    assert_eq!(created["account_sid"], app.account.as_str());
    assert_eq!(created["type"], "apn");
    assert_eq!(created["sandbox"], "true", "a string, as Twilio returns it");
    assert_eq!(created["friendly_name"], "voip");
    assert_eq!(created["url"], app.url(&format!("/v2/Credentials/{sid}")));
    let date = created["date_created"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(date).is_ok(),
        "parsed: {date}"
    );

    // One a page: the seeded credential, then this one, across two pages.
    assert_eq!(
        steps[1]["sids"],
        serde_json::json!([app.credential.as_str(), sid]),
        "{:?}",
        steps[1]
    );
    assert_eq!(
        (steps[2]["sid"].as_str(), steps[2]["friendly_name"].as_str()),
        (Some(sid.as_str()), Some("voip"))
    );
    assert_eq!(steps[3]["friendly_name"], "renamed");
    assert_eq!(
        steps[3]["sandbox"], "true",
        "an update keeps what it doesn't name"
    );
    assert_eq!(steps[4]["deleted"], true);
    assert_eq!(
        (steps[5]["status"].as_u64(), steps[5]["code"].as_u64()),
        (Some(404), Some(20404))
    );

    // The same credential service: /v1 saw it renamed, and sees it gone.
    let (status, _) = app.get_json(&format!("/v1/credentials/{sid}")).await;
    assert_eq!(status, 404);
    app.stop().await.unwrap();
}

async fn credentials_through_twilio_python(b: Backend) {
    credentials_through(Library::Python, b).await;
}

async fn credentials_through_twilio_node(b: Backend) {
    credentials_through(Library::Node, b).await;
}

store_tests!(
    credentials_through_twilio_python,
    credentials_through_twilio_node
);
