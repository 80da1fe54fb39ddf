//! Who may post a call notification: an API key of the linked account (HTTP Basic, as in the
//! webhook URL), or a valid `X-Twilio-Signature` under the linked Twilio account's Auth Token,
//! checked against twilio-python's signatures; every credential presented must pass.

use secrecy::ExposeSecret;
use serde_json::json;

use super::{
    AUTH_TOKEN, PATH, TWILIO_ACCOUNT, base, call_sid, link, notification, post_basic, post_signed,
    sign_python,
};
use crate::helpers::{
    Backend, assert_error, basic, device_token, spawn_app_with_apns, store_tests,
};

async fn refusals_are_401_403_400_or_415(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |c| c.auth_failures_per_minute = 0).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    let body = notification("alice", &call_sid(8)).to_string();

    // Not linked yet: neither credential is enough.
    assert_error(post_basic(&app, &body).await, 403, 21601).await;
    let (url, sig) = sign_python(AUTH_TOKEN, &base(&app), &body);
    assert_error(post_signed(&app, &url, &body, &sig).await, 403, 21601).await;
    link(&app, 30).await;

    // No credentials: a Basic challenge, as Twilio expects before it sends the URL's.
    let res = app
        .client
        .post(app.url(PATH))
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["www-authenticate"].to_str().unwrap(),
        "Basic realm=\"pushgate\""
    );
    assert_error(res, 401, 20003).await;

    // Signed with another account's token.
    let (url, sig) = sign_python("ffffffffffffffffffffffffffffffff", &base(&app), &body);
    let res = post_signed(&app, &url, &body, &sig).await;
    assert!(res.headers().contains_key("www-authenticate"));
    assert_error(res, 401, 21602).await;
    // The body changed after signing.
    let (url, sig) = sign_python(AUTH_TOKEN, &base(&app), &body);
    let changed = body.replace("quick_start", "mallory");
    assert_error(post_signed(&app, &url, &changed, &sig).await, 401, 21602).await;
    // No bodySHA256: the URL alone signed, the body unbound.
    let bare = base(&app);
    let sig = pushgate::twilio::signature::sign(&AUTH_TOKEN.to_owned().into(), &bare);
    assert_error(post_signed(&app, &bare, &body, &sig).await, 401, 21602).await;
    // A signed request replayed to another URL.
    let (url, sig) = sign_python(AUTH_TOKEN, &format!("{}?route=a", base(&app)), &body);
    let other = url.replace("route=a", "route=b");
    assert_error(post_signed(&app, &other, &body, &sig).await, 401, 21602).await;
    // A valid API key does not excuse a bad signature.
    let res = app
        .client
        .post(app.url(PATH))
        .header("Content-Type", "application/json")
        .header("Authorization", app.basic())
        .header("X-Twilio-Signature", "AAAA")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 21602).await;
    // A wrong API key secret.
    let res = app
        .client
        .post(app.url(PATH))
        .header("Content-Type", "application/json")
        .header("Authorization", basic(app.key.as_str(), "wrong"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20151).await;

    // Not a call notification; not JSON.
    assert_error(post_basic(&app, "{\"twi_to\": 1}").await, 400, 21603).await;
    assert_error(post_basic(&app, "[]").await, 400, 21603).await;
    let cancel = json!({"twi_message_type": "twilio.voice.cancel"}).to_string();
    assert_error(post_basic(&app, &cancel).await, 400, 21603).await;
    let res = app
        .client
        .post(app.url(PATH))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", app.basic())
        .body("twi_to=client%3Aalice")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, 21002).await;
    assert!(apns.pushes("production").is_empty(), "nothing was relayed");

    // Both valid: relayed.
    let (url, sig) = sign_python(AUTH_TOKEN, &base(&app), &body);
    let res = app
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Authorization", app.basic())
        .header("X-Twilio-Signature", sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.stop().await.unwrap();
}

async fn another_accounts_key_is_403(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |_| {}).await;
    link(&app, 30).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    let (_, other) =
        pushgate::auth::api_keys::create_account(&app.store, &app.master, "other", "k")
            .await
            .unwrap();
    let res = app
        .client
        .post(app.url(PATH))
        .header("Content-Type", "application/json")
        .header(
            "Authorization",
            basic(other.record.sid.as_str(), other.secret.expose_secret()),
        )
        .body(notification("alice", &call_sid(9)).to_string())
        .send()
        .await
        .unwrap();
    assert_error(res, 403, 21601).await;
    // Nor can the other account take the Twilio account over.
    let res = app
        .client
        .post(app.url("/v1/twilio/links"))
        .header(
            "Authorization",
            basic(other.record.sid.as_str(), other.secret.expose_secret()),
        )
        .json(&json!({"twilio_account_sid": TWILIO_ACCOUNT, "auth_token": AUTH_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_error(res, 409, 21606).await;
    app.stop().await.unwrap();
}

async fn links_never_show_the_token(b: Backend) {
    let (app, _apns) = spawn_app_with_apns(b, |_| {}).await;
    link(&app, 45).await;
    let (status, list) = app.get_json("/v1/twilio/links").await;
    assert_eq!(status, 200);
    assert_eq!(list["links"][0]["twilio_account_sid"], TWILIO_ACCOUNT);
    assert_eq!(list["links"][0]["ring_timeout"], 45);
    assert!(!list.to_string().contains(AUTH_TOKEN));
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_sealed FROM twilio_links")
        .fetch_one(&{
            sqlx::any::install_default_drivers();
            sqlx::AnyPool::connect(&app.config.database_url())
                .await
                .unwrap()
        })
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(AUTH_TOKEN));
    for bad in [
        json!({"twilio_account_sid": TWILIO_ACCOUNT, "auth_token": "short"}),
        json!({"twilio_account_sid": "AC12", "auth_token": AUTH_TOKEN}),
        json!({"twilio_account_sid": TWILIO_ACCOUNT, "auth_token": AUTH_TOKEN, "ring_timeout": 0}),
    ] {
        let res = app
            .client
            .post(app.url("/v1/twilio/links"))
            .header("Authorization", app.basic())
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_error(res, 400, 21605).await;
    }
    let res = app
        .client
        .delete(app.url(&format!("/v1/twilio/links/{TWILIO_ACCOUNT}")))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, list) = app.get_json("/v1/twilio/links").await;
    assert_eq!(list["links"], json!([]));
    app.stop().await.unwrap();
}

store_tests!(
    refusals_are_401_403_400_or_415,
    another_accounts_key_is_403,
    links_never_show_the_token,
);
