//! The console's pages over real HTTP: a key's secret shown once, the last key kept,
//! escaping, credentials pasted (listed with topics and expiry; a mismatched key refused next
//! to its field with the API's code), registrations found by identity and removed, a test
//! call rung and followed live over Server-Sent Events to its outcome, and the overview.

use pushgate::credentials::devcerts::VoipPair;
use secrecy::ExposeSecret;

use super::{Console, csrf_in};
use crate::helpers::{Backend, device_token, spawn_app, spawn_app_with_apns, store_tests};

async fn a_new_keys_secret_is_shown_once_and_the_last_key_is_kept(b: Backend) {
    let app = spawn_app(b).await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    let res = c
        .submit("/console/keys", &[("friendly_name", "<script>x</script>")])
        .await;
    assert_eq!(res.status(), 201);
    let page = res.text().await.unwrap();
    assert!(page.contains("The secret is shown only once: store it now."));
    let needle = "id=\"new-key-secret\">";
    let at = page.find(needle).unwrap() + needle.len();
    let secret = page[at..at + 32].to_owned();
    assert!(
        secret.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{secret}"
    );
    // Escaped, never markup.
    assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(!page.contains("<script>x</script>"));
    // Afterwards the secret appears nowhere, and the key works.
    let list = c.page("/console/keys").await;
    assert!(!list.contains(&secret));
    let needle = "id=\"new-key-sid\">";
    let at = page.find(needle).unwrap() + needle.len();
    let sid = page[at..at + 34].to_owned();
    let res = app
        .client
        .get(app.url("/v1/keys"))
        .header("Authorization", crate::helpers::basic(&sid, &secret))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Revoking the other key works; the last one is refused, saying why.
    let res = c.submit(&format!("/console/keys/{sid}/revoke"), &[]).await;
    assert_eq!(res.status(), 303);
    let res = c
        .submit(&format!("/console/keys/{}/revoke", app.key), &[])
        .await;
    assert_eq!(res.status(), 409);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("21010") && text.contains("last active API key"),
        "{text}"
    );
    app.stop().await.unwrap();
}

fn upload(c: &Console<'_>, csrf: &str, cert: &str, key: &str) -> reqwest::RequestBuilder {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("kind", "certificate")
        .text("certificate", cert.to_owned())
        .text("private_key", key.to_owned())
        .text("sandbox", "true")
        .text("friendly_name", "pasted");
    c.http
        .post(c.app.url("/console/credentials"))
        .header("Cookie", c.cookie.clone().unwrap())
        .multipart(form)
}

async fn a_pasted_certificate_is_listed_and_a_mismatched_key_refused_at_its_field(b: Backend) {
    let app = spawn_app(b).await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    let csrf = csrf_in(&c.page("/console/credentials/new").await);
    let pair = VoipPair::issue("com.example.pasted").unwrap();
    let (cert, key) = pair.leaf_pem().unwrap();
    let other = VoipPair::issue("com.example.other").unwrap();
    let (_, other_key) = other.leaf_pem().unwrap();
    let res = upload(&c, &csrf, &cert, other_key.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"private_key-error\""), "{page}");
    assert!(page.contains("21107"), "the API's code");
    assert!(
        !page.contains(other_key.expose_secret()),
        "no key echoed back"
    );
    let res = upload(&c, &csrf, &cert, key.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let list = c.page("/console/credentials").await;
    assert!(list.contains("com.example.pasted.voip"), "topics listed");
    assert!(list.contains("sandbox"));
    assert!(list.contains(" UTC"), "expiry shown");
    app.stop().await.unwrap();
}

async fn registrations_are_found_by_identity_and_removed(b: Backend) {
    let app = spawn_app(b).await;
    let sid = app.register_device("alice", &device_token(7)).await;
    app.register_device("bob", &device_token(8)).await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    let page = c.page("/console/registrations?identity=alice").await;
    assert!(page.contains(&sid));
    assert!(page.contains("active"));
    assert!(!page.contains(&device_token(7)), "tokens only shortened");
    assert!(!page.contains("bob"));
    let res = c
        .submit(
            &format!("/console/registrations/{sid}/remove"),
            &[("back", "/console/registrations?identity=alice")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = c.page("/console/registrations?identity=alice").await;
    assert!(!page.contains(&sid));
    app.stop().await.unwrap();
}

async fn a_test_call_rings_and_its_row_updates_live(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    let mut events = c
        .http
        .get(app.url("/console/calls/events"))
        .header("Cookie", c.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let res = c
        .submit("/console/calls", &[("to", "alice"), ("from", "client:ops")])
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let invite = location.rsplit("#call-").next().unwrap().to_owned();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("1 of 1 accepted") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("a row update within 10 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: row") && seen.contains(&invite));
    let detail = c.page(&format!("/console/calls/{invite}")).await;
    assert!(detail.contains("APNs accepted it"), "the CLI's hint");
    assert!(detail.contains(" ms"), "latency");
    // No devices: the API's code, on the page.
    let res = c
        .submit(
            "/console/calls",
            &[("to", "nobody"), ("from", "client:ops")],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("21201"));
    let overview = c.page("/console").await;
    assert!(
        overview.contains("<svg") && overview.contains("1 accepted"),
        "{overview}"
    );
    app.stop().await.unwrap();
}

store_tests!(
    a_new_keys_secret_is_shown_once_and_the_last_key_is_kept,
    a_pasted_certificate_is_listed_and_a_mismatched_key_refused_at_its_field,
    registrations_are_found_by_identity_and_removed,
    a_test_call_rings_and_its_row_updates_live,
);
