//! The quickstart endpoints against browsers: DNS rebinding (a foreign `Host`) and cross-site
//! GETs that would ring phones; and which account they act for when there are several.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pushgate::auth::api_keys;
use pushgate::domain::AccountSid;
use serde_json::Value;

use crate::helpers::{Backend, assert_error, spawn_app_with};

#[tokio::test]
async fn quickstart_refuses_foreign_hosts_and_get_place_call() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.quickstart = true).await;
    for path in ["/accessToken?identity=alice", "/placeCall?to=alice"] {
        let res = app
            .client
            .post(app.url(path))
            .header("Host", "attacker.example")
            .send()
            .await
            .unwrap();
        assert_error(res, 403, 21402).await;
    }
    let res = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .header("Host", "attacker.example:8080")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, 21402).await;
    let res = app
        .client
        .get(app.url("/placeCall?to=alice"))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, 20405).await;
    // Addressed to the loopback host, as a phone or curl on the machine would.
    let res = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .header("Host", format!("localhost:{}", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn quickstart_allow_remote_skips_the_host_check() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.quickstart = true;
        c.quickstart_allow_remote = true;
    })
    .await;
    let res = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .header("Host", "voice.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await.unwrap();
}

/// With several accounts the quickstart no longer picks the first: it answers 503 saying so,
/// until `quickstart_account` names the one to use.
#[tokio::test]
async fn quickstart_with_several_accounts_needs_quickstart_account() {
    let mut app = spawn_app_with(Backend::Sqlite, |c| c.quickstart = true).await;
    let (other, _) = api_keys::create_account(&app.store, &app.master, "other", "other key")
        .await
        .unwrap();
    for path in ["/accessToken?identity=alice", "/placeCall?to=alice"] {
        let res = app.client.post(app.url(path)).send().await.unwrap();
        let body = assert_error(res, 503, 21401).await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("several accounts"), "{message}");
        assert!(message.contains("quickstart_account"), "{message}");
    }

    // Named: the quickstart acts for that account (the token's `sub`).
    app.config.quickstart_account = Some(app.account.clone());
    let named = app.spawn_replica().await;
    let res = app
        .client
        .post(named.url("/accessToken?identity=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = res.text().await.unwrap();
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["sub"], app.account.as_str());
    named.stop().await.unwrap();

    // Naming an account that does not exist is the same 503, naming it.
    app.config.quickstart_account = Some(AccountSid::generate());
    let unknown = app.spawn_replica().await;
    let res = app
        .client
        .post(unknown.url("/accessToken?identity=alice"))
        .send()
        .await
        .unwrap();
    let body = assert_error(res, 503, 21401).await;
    assert!(body["message"].as_str().unwrap().contains("does not exist"));
    unknown.stop().await.unwrap();
    assert_ne!(other.sid, app.account);
    app.stop().await.unwrap();
}
