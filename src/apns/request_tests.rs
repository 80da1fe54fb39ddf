//! Local validation and request building for [`Notification`].

use http::Method;
use uuid::Uuid;

use super::request::*;

fn voip(payload_len: usize) -> Notification {
    Notification::voip(
        "ab".repeat(32),
        Environment::Sandbox,
        "com.example.app.voip",
        vec![b'x'; payload_len],
    )
}

#[test]
fn payload_limits_depend_on_push_type() {
    assert_eq!(voip(5120).validate(), Ok(()));
    assert_eq!(
        voip(5121).validate(),
        Err(Refusal::PayloadTooLarge {
            size: 5121,
            limit: 5120
        })
    );
    let mut alert = voip(4096);
    alert.push_type = PushType::Alert;
    assert_eq!(alert.validate(), Ok(()));
    alert.payload = vec![b'x'; 4097].into();
    assert_eq!(
        alert.validate(),
        Err(Refusal::PayloadTooLarge {
            size: 4097,
            limit: 4096
        })
    );
    assert_eq!(voip(0).validate(), Err(Refusal::PayloadEmpty));
}

#[test]
fn collapse_id_priority_token_and_topic_are_checked() {
    let mut n = voip(10);
    n.collapse_id = Some("c".repeat(64));
    assert_eq!(n.validate(), Ok(()));
    n.collapse_id = Some("c".repeat(65));
    assert_eq!(n.validate(), Err(Refusal::CollapseIdTooLong { len: 65 }));
    n.collapse_id = Some("bad\nvalue".into());
    assert_eq!(
        n.validate(),
        Err(Refusal::InvalidHeader("apns-collapse-id"))
    );

    let mut n = voip(10);
    for ok in [1, 5, 10] {
        n.priority = ok;
        assert_eq!(n.validate(), Ok(()));
    }
    n.priority = 7;
    assert_eq!(n.validate(), Err(Refusal::InvalidPriority(7)));

    for bad in ["", "abc", "zz", "ab/cd", "ab cd"] {
        let mut n = voip(10);
        n.device_token = bad.into();
        assert_eq!(n.validate(), Err(Refusal::InvalidDeviceToken), "{bad:?}");
    }
    let mut n = voip(10);
    n.topic = String::new();
    assert_eq!(n.validate(), Err(Refusal::InvalidHeader("apns-topic")));
}

#[test]
fn request_carries_apple_headers() {
    let mut n = voip(10);
    let id = Uuid::parse_str("A0B1C2D3-0000-4000-8000-00000000ABCD").expect("uuid");
    n.apns_id = Some(id);
    n.expiration = Some(0);
    n.collapse_id = Some("call-1".into());
    let req = n
        .to_request("https://127.0.0.1:8443", Some("h.c.s"))
        .expect("request");
    assert_eq!(req.method(), Method::POST);
    assert_eq!(
        req.uri().to_string(),
        format!("https://127.0.0.1:8443/3/device/{}", "ab".repeat(32))
    );
    let h = req.headers();
    assert_eq!(
        h["apns-id"], "a0b1c2d3-0000-4000-8000-00000000abcd",
        "lowercase"
    );
    assert_eq!(h["apns-push-type"], "voip");
    assert_eq!(h["apns-topic"], "com.example.app.voip");
    assert_eq!(h["apns-priority"], "10");
    assert_eq!(h["apns-expiration"], "0");
    assert_eq!(h["apns-collapse-id"], "call-1");
    assert_eq!(h["authorization"], "bearer h.c.s");
    assert!(h["authorization"].is_sensitive());
    assert_eq!(h["content-length"], "10");

    let bare = voip(3);
    let req = Notification {
        apns_id: None,
        ..bare
    }
    .to_request("https://h", None)
    .expect("request");
    for absent in [
        "apns-id",
        "apns-expiration",
        "apns-collapse-id",
        "authorization",
    ] {
        assert!(!req.headers().contains_key(absent), "{absent}");
    }
}

#[test]
fn tokens_are_redacted_in_debug_and_logs() {
    let n = voip(10);
    assert_eq!(n.redacted_token(), "abababab…");
    let debug = format!("{n:?}");
    assert!(!debug.contains(&n.device_token), "{debug}");
    assert!(debug.contains("payload_len: 10"));
    assert_eq!(redact_token("abc"), "abc…");
    assert_eq!(redact_token("éééééééééé"), "éééééééé…");
    assert_eq!(Environment::Production.other(), Environment::Sandbox);
    assert_eq!(PushType::Voip.as_str(), "voip");
    assert_eq!(Refusal::PayloadEmpty.label(), "payload_empty");
}
