//! Message rendering, local refusals and the registration-token check.

use std::time::Duration;

use serde_json::{Value, json};

use super::device_token;
use crate::fcm::{
    FcmMessage, MAX_DATA_BYTES, MAX_TOKEN_LEN, MAX_TTL, MIN_TOKEN_LEN, Priority, Refusal,
    TokenFormatError, check_project_id, check_registration_token, render_ttl,
};

fn rendered(message: &FcmMessage) -> Value {
    serde_json::from_slice(&message.to_json().expect("renders")).unwrap()
}

#[test]
fn renders_the_v1_shape() {
    let message = FcmMessage::new(device_token())
        .data("call_sid", "CA123")
        .data("from_identity", "alice")
        .priority(Priority::High)
        .ttl(Duration::from_millis(30_900))
        .collapse_key("call-CA123");
    assert_eq!(
        rendered(&message),
        json!({"message": {
            "token": device_token(),
            "data": {"call_sid": "CA123", "from_identity": "alice"},
            "android": {"priority": "HIGH", "ttl": "30s", "collapse_key": "call-CA123"},
        }})
    );
}

#[test]
fn minimal_message_has_priority_only() {
    let message = FcmMessage::new(device_token()).priority(Priority::Normal);
    assert_eq!(
        rendered(&message),
        json!({"message": {"token": device_token(), "android": {"priority": "NORMAL"}}})
    );
}

#[test]
fn ttl_format() {
    assert_eq!(render_ttl(Duration::ZERO), "0s");
    assert_eq!(render_ttl(Duration::from_millis(999)), "0s");
    assert_eq!(render_ttl(Duration::from_secs(86_400)), "86400s");
    assert_eq!(render_ttl(Duration::from_secs(u64::MAX)), "2419200s");
    let ok = FcmMessage::new(device_token()).ttl(MAX_TTL);
    assert_eq!(rendered(&ok)["message"]["android"]["ttl"], "2419200s");
    let long = FcmMessage::new(device_token()).ttl(MAX_TTL + Duration::from_secs(1));
    assert_eq!(
        long.validate(),
        Err(Refusal::TtlTooLong { secs: 2_419_201 })
    );
}

#[test]
fn data_limit_counts_keys_and_values() {
    // 4 + 4092 = 4096 bytes: exactly the limit.
    let at_limit = FcmMessage::new(device_token()).data("blob", "v".repeat(4092));
    assert_eq!(at_limit.data_size(), MAX_DATA_BYTES);
    assert!(at_limit.validate().is_ok());
    let over = at_limit.clone().data("k", "");
    assert_eq!(
        over.validate(),
        Err(Refusal::DataTooLarge {
            size: 4097,
            limit: 4096
        })
    );
    // Bytes, not characters: "é" is two bytes.
    let accents = FcmMessage::new(device_token()).data("k", "é".repeat(2048));
    assert_eq!(accents.data_size(), 1 + 4096);
    assert_eq!(accents.validate().unwrap_err().label(), "data_too_large");
}

#[test]
fn reserved_and_empty_keys_are_refused() {
    for key in [
        "from",
        "notification",
        "message_type",
        "google.sent_time",
        "gcm.n.e",
        "google.",
    ] {
        let message = FcmMessage::new(device_token()).data(key, "x");
        assert_eq!(
            message.validate(),
            Err(Refusal::ReservedDataKey { key: key.into() }),
            "{key}"
        );
    }
    for key in ["from_identity", "googlers", "gcm", "notifications", "From"] {
        assert!(
            FcmMessage::new(device_token())
                .data(key, "x")
                .validate()
                .is_ok(),
            "{key}"
        );
    }
    let empty = FcmMessage::new(device_token()).data("", "x");
    assert_eq!(empty.validate(), Err(Refusal::EmptyDataKey));
    let collapse = FcmMessage::new(device_token()).collapse_key("");
    assert_eq!(collapse.validate(), Err(Refusal::EmptyCollapseKey));
}

#[test]
fn invalid_tokens_are_refused_before_sending() {
    let message = FcmMessage::new("");
    assert_eq!(
        message.validate(),
        Err(Refusal::InvalidToken(TokenFormatError::Empty))
    );
    assert_eq!(message.to_json().unwrap_err().label(), "invalid_token");
}

#[test]
fn registration_token_format() {
    assert_eq!(check_registration_token(&device_token()), Ok(()));
    assert_eq!(check_registration_token(&"a".repeat(MIN_TOKEN_LEN)), Ok(()));
    assert_eq!(check_registration_token(&"a".repeat(MAX_TOKEN_LEN)), Ok(()));
    assert_eq!(
        check_registration_token("fid.with.dots:APA91b-_0123456789abcdef"),
        Ok(())
    );
    assert_eq!(check_registration_token(""), Err(TokenFormatError::Empty));
    assert_eq!(
        check_registration_token(&"a".repeat(MIN_TOKEN_LEN - 1)),
        Err(TokenFormatError::TooShort { len: 31 })
    );
    assert_eq!(
        check_registration_token(&"a".repeat(MAX_TOKEN_LEN + 1)),
        Err(TokenFormatError::TooLong { len: 4097 })
    );
    let token = device_token();
    for bad in [" ", "\n", "\t", "\0", "\"", "/", "+", "=", "é", "\u{7f}"] {
        let candidate = format!("{}{bad}{}", &token[..10], &token[10..]);
        assert_eq!(
            check_registration_token(&candidate),
            Err(TokenFormatError::InvalidCharacter { at: 10 }),
            "{bad:?}"
        );
    }
}

#[test]
fn project_ids_must_be_path_safe() {
    assert!(check_project_id("demo-project").is_ok());
    assert!(check_project_id("example.com:legacy-1").is_ok());
    for bad in ["", "Demo", "a/b", "a?b", "../x", "a b", &"a".repeat(101)] {
        assert_eq!(
            check_project_id(bad),
            Err(Refusal::InvalidProjectId),
            "{bad}"
        );
    }
}

#[test]
fn debug_hides_token_and_values() {
    let message = FcmMessage::new(device_token()).data("caller", "Alice Secret");
    let debug = format!("{message:?}");
    assert!(!debug.contains(&device_token()), "{debug}");
    assert!(!debug.contains("Alice Secret"), "{debug}");
    assert!(debug.contains("caller"), "{debug}");
    assert_eq!(Refusal::LABELS.len(), 8);
}
