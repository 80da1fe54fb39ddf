//! `pushgate twilio link|list|unlink` (the Auth Token from an environment variable, never
//! printed, re-sealed by master key rotation), and a relayed notification through the Redis
//! queue of a scaled-out gateway.

use serde_json::Value;

use super::{AUTH_TOKEN, TWILIO_ACCOUNT, call_sid, link, notification, post_basic};
use crate::helpers::bin::{Pushgate, stdout};
use crate::helpers::{Backend, device_token, redis_prefix, redis_url, spawn_app_with_apns};

#[test]
fn link_list_rotate_and_unlink_by_cli() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Pushgate::in_dir(dir.path());
    pg.run(&["init"]);
    let missing = pg.output(&[
        "twilio",
        "link",
        "--account-sid",
        TWILIO_ACCOUNT,
        "--auth-token-env",
        "NO_SUCH_VAR",
    ]);
    assert!(!missing.status.success());
    let out = pg.clone().env("TW_TOKEN", AUTH_TOKEN).output(&[
        "twilio",
        "link",
        "--account-sid",
        TWILIO_ACCOUNT,
        "--auth-token-env",
        "TW_TOKEN",
        "--ring-timeout",
        "20",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(TWILIO_ACCOUNT) && !text.contains(AUTH_TOKEN),
        "{text}"
    );
    let bad = pg.clone().env("TW_TOKEN", "not-a-token").output(&[
        "twilio",
        "link",
        "--account-sid",
        TWILIO_ACCOUNT,
        "--auth-token-env",
        "TW_TOKEN",
    ]);
    assert!(!bad.status.success());
    let list = pg.run(&["twilio", "list"]);
    assert!(
        list.contains(TWILIO_ACCOUNT) && list.contains("20 s"),
        "{list}"
    );
    assert!(!list.contains(AUTH_TOKEN));

    let new_key = pushgate::secrets::MasterKey::generate().to_base64();
    let out = pg.clone().env("NEW_KEY", &new_key).output(&[
        "rotate-master-key",
        "--new-key-env",
        "NEW_KEY",
    ]);
    let text = stdout(&out);
    // The API key's secret and the Twilio Auth Token.
    assert!(text.contains("re-encrypted 2 secret(s)"), "{text}");

    pg.run(&["twilio", "unlink", TWILIO_ACCOUNT]);
    assert!(!pg.run(&["twilio", "list"]).contains(TWILIO_ACCOUNT));
    assert!(
        !pg.output(&["twilio", "unlink", TWILIO_ACCOUNT])
            .status
            .success()
    );
}

#[tokio::test]
async fn relayed_through_the_redis_queue() {
    let prefix = redis_prefix();
    let (app, apns) = spawn_app_with_apns(Backend::Postgres, |c| {
        c.redis_url = Some(redis_url());
        c.redis_key_prefix = prefix;
    })
    .await;
    link(&app, 30).await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    let body = notification("alice", &call_sid(10)).to_string();
    let res = post_basic(&app, &body).await;
    assert_eq!(res.status(), 200);
    let invite: Value = res.json().await.unwrap();
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["deliveries"][0]["status"], "accepted", "{settled}");
    let pushes = apns.pushes("production");
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].payload_bytes, body.len());
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pushes[0].payload.as_ref(), Some(&sent));
    app.stop().await.unwrap();
}
