//! The full classification table: every reason in apns.md, unknown statuses and
//! reasons, and malformed bodies.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use uuid::Uuid;

use super::outcome::*;
use super::reason::ApnsReason;

const ID: &str = "0a1b2c3d-0000-4000-8000-00000000abcd";

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("apns-id", HeaderValue::from_static(ID));
    h
}

fn body(reason: &str) -> Vec<u8> {
    format!(r#"{{"reason":"{reason}"}}"#).into_bytes()
}

fn run(status: u16, reason: &str) -> Outcome {
    classify(status, &headers(), &body(reason), Duration::ZERO)
}

/// Expected label (and retry cause) for each (status, reason) pair Apple documents.
const TABLE: &[(u16, &str, &str, Option<RetryCause>)] = &[
    (400, "BadDeviceToken", "wrong_environment", None),
    (400, "DeviceTokenNotForTopic", "not_for_topic", None),
    (400, "TopicDisallowed", "credential_rejected", None),
    (400, "BadTopic", "credential_rejected", None),
    (400, "MissingTopic", "credential_rejected", None),
    (400, "BadCollapseId", "our_bug", None),
    (400, "BadExpirationDate", "our_bug", None),
    (400, "BadMessageId", "our_bug", None),
    (400, "BadPriority", "our_bug", None),
    (400, "DuplicateHeaders", "our_bug", None),
    (400, "InvalidPushType", "our_bug", None),
    (400, "MissingDeviceToken", "our_bug", None),
    (400, "PayloadEmpty", "our_bug", None),
    (400, "BadPayload", "our_bug", None),
    (400, "IdleTimeout", "retry", Some(RetryCause::IdleTimeout)),
    (403, "BadCertificate", "credential_rejected", None),
    (
        403,
        "BadCertificateEnvironment",
        "credential_rejected",
        None,
    ),
    (403, "Forbidden", "credential_rejected", None),
    (403, "InvalidProviderToken", "credential_rejected", None),
    (403, "MissingProviderToken", "credential_rejected", None),
    (403, "UnrelatedKeyIdInToken", "credential_rejected", None),
    (
        403,
        "BadEnvironmentKeyIdInToken",
        "credential_rejected",
        None,
    ),
    (
        403,
        "ExpiredProviderToken",
        "retry",
        Some(RetryCause::ExpiredProviderToken),
    ),
    (404, "BadPath", "our_bug", None),
    (405, "MethodNotAllowed", "our_bug", None),
    (410, "Unregistered", "token_dead", None),
    (410, "ExpiredToken", "token_dead", None),
    (413, "PayloadTooLarge", "our_bug", None),
    (
        429,
        "TooManyRequests",
        "retry",
        Some(RetryCause::TooManyRequests),
    ),
    (
        429,
        "TooManyProviderTokenUpdates",
        "retry",
        Some(RetryCause::TooManyProviderTokenUpdates),
    ),
    (
        500,
        "InternalServerError",
        "retry",
        Some(RetryCause::ServerError),
    ),
    (
        503,
        "ServiceUnavailable",
        "retry",
        Some(RetryCause::ServiceUnavailable),
    ),
    (503, "Shutdown", "retry", Some(RetryCause::Shutdown)),
    (500, "Shutdown", "retry", Some(RetryCause::Shutdown)),
];

#[test]
fn every_documented_reason_is_classified() {
    for &(status, reason, label, cause) in TABLE {
        let outcome = run(status, reason);
        assert_eq!(outcome.label(), label, "{status} {reason}: {outcome:?}");
        let response = outcome.response().expect("response kept");
        assert_eq!(response.status, status);
        assert_eq!(response.reason, Some(ApnsReason::parse(reason)));
        assert!(!ApnsReason::parse(reason).is_unknown(), "{reason}");
        assert_eq!(response.apns_id, Some(Uuid::parse_str(ID).unwrap()));
        if let Outcome::Retry { cause: got, .. } = outcome {
            assert_eq!(Some(got), cause, "{reason}");
        } else {
            assert_eq!(cause, None, "{reason} should have been a retry");
        }
    }
}

#[test]
fn the_table_covers_every_known_reason() {
    for known in ApnsReason::KNOWN {
        assert!(
            TABLE.iter().any(|(_, r, _, _)| *r == known.as_str()),
            "{known} missing from the table"
        );
    }
}

#[test]
fn accepted_carries_ids_and_latency() {
    let mut h = headers();
    h.insert("apns-unique-id", HeaderValue::from_static("unique-123"));
    let outcome = classify(200, &h, b"", Duration::from_millis(7));
    assert_eq!(
        outcome,
        Outcome::Accepted {
            apns_id: Some(Uuid::parse_str(ID).unwrap()),
            unique_id: Some("unique-123".into()),
            latency: Duration::from_millis(7),
        }
    );
    assert!(outcome.is_accepted());
    assert_eq!(outcome.response(), None);
    // No apns-id and a garbage body on 200 are still an acceptance.
    assert!(classify(200, &HeaderMap::new(), b"junk", Duration::ZERO).is_accepted());
}

#[test]
fn gone_carries_the_timestamp() {
    let b = br#"{"reason":"Unregistered","timestamp":1700000000123}"#;
    match classify(410, &headers(), b, Duration::ZERO) {
        Outcome::TokenDead { since_ms, response } => {
            assert_eq!(since_ms, Some(1_700_000_000_123));
            assert_eq!(response.reason, Some(ApnsReason::Unregistered));
        }
        other => panic!("{other:?}"),
    }
    for (b, want) in [
        (
            &br#"{"reason":"ExpiredToken","timestamp":"1700000000123"}"#[..],
            Some(1_700_000_000_123),
        ),
        (
            br#"{"reason":"ExpiredToken","timestamp":1.7e12}"#,
            Some(1_700_000_000_000),
        ),
        (br#"{"reason":"ExpiredToken","timestamp":null}"#, None),
        (br#"{"reason":"ExpiredToken","timestamp":"soon"}"#, None),
        (br#"{"reason":"ExpiredToken"}"#, None),
    ] {
        match classify(410, &headers(), b, Duration::ZERO) {
            Outcome::TokenDead { since_ms, .. } => assert_eq!(since_ms, want),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn retry_after_header_is_honoured_and_bounded() {
    let mut h = headers();
    h.insert("retry-after", HeaderValue::from_static("30"));
    let outcome = classify(429, &h, &body("TooManyRequests"), Duration::ZERO);
    assert!(
        matches!(outcome, Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(30))
    );
    h.insert("retry-after", HeaderValue::from_static("99999999"));
    let outcome = classify(503, &h, &body("ServiceUnavailable"), Duration::ZERO);
    assert!(
        matches!(outcome, Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(3600))
    );
    h.insert(
        "retry-after",
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    let outcome = classify(503, &h, &body("ServiceUnavailable"), Duration::ZERO);
    assert!(matches!(outcome, Outcome::Retry { after: None, .. }));
}

#[test]
fn unknown_reasons_fall_back_on_status() {
    let cases: &[(u16, &str)] = &[
        (400, "our_bug"),
        (401, "our_bug"),
        (403, "our_bug"),
        (404, "our_bug"),
        (410, "our_bug"),
        (418, "our_bug"),
        (302, "our_bug"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (599, "retry"),
    ];
    for &(status, label) in cases {
        let outcome = run(status, "BrandNewReason");
        assert_eq!(outcome.label(), label, "{status}: {outcome:?}");
        assert_eq!(
            outcome.reason(),
            Some(&ApnsReason::Other("BrandNewReason".into()))
        );
    }
    assert!(matches!(
        run(503, "X"),
        Outcome::Retry {
            cause: RetryCause::ServiceUnavailable,
            ..
        }
    ));
    assert!(matches!(
        run(502, "X"),
        Outcome::Retry {
            cause: RetryCause::ServerError,
            ..
        }
    ));
    assert!(matches!(
        run(429, "X"),
        Outcome::Retry {
            cause: RetryCause::TooManyRequests,
            ..
        }
    ));
}

#[test]
fn malformed_bodies_never_panic_and_fall_back_on_status() {
    let bodies: &[&[u8]] = &[
        b"",
        b"not json",
        b"{",
        b"[]",
        b"null",
        br#"{"reason":42}"#,
        br#"{"reason":null}"#,
        br#"{"other":"field"}"#,
        &[0xff, 0xfe, 0x00],
    ];
    for b in bodies {
        for (status, label) in [
            (400, "our_bug"),
            (403, "our_bug"),
            (410, "our_bug"),
            (500, "retry"),
        ] {
            let outcome = classify(status, &headers(), b, Duration::ZERO);
            assert_eq!(outcome.label(), label, "{status} {b:?}");
            assert_eq!(outcome.reason(), None);
            assert_eq!(outcome.response().map(|r| r.status), Some(status));
        }
    }
    // A missing or unparsable apns-id is simply absent.
    let mut h = HeaderMap::new();
    h.insert("apns-id", HeaderValue::from_static("not-a-uuid"));
    let outcome = classify(400, &h, &body("BadPriority"), Duration::ZERO);
    assert_eq!(outcome.response().and_then(|r| r.apns_id), None);
}

#[test]
fn labels_are_stable() {
    let causes = [
        (RetryCause::TooManyRequests, "too_many_requests"),
        (
            RetryCause::TooManyProviderTokenUpdates,
            "too_many_provider_token_updates",
        ),
        (RetryCause::ExpiredProviderToken, "expired_provider_token"),
        (RetryCause::ServerError, "server_error"),
        (RetryCause::ServiceUnavailable, "service_unavailable"),
        (RetryCause::Shutdown, "shutdown"),
        (RetryCause::IdleTimeout, "idle_timeout"),
        (RetryCause::RefusedStream, "refused_stream"),
        (RetryCause::GoAway, "goaway"),
        (RetryCause::ConnectionLost, "connection_lost"),
        (RetryCause::Connect, "connect"),
        (RetryCause::Timeout, "timeout"),
        (
            RetryCause::ProviderTokenUnavailable,
            "provider_token_unavailable",
        ),
    ];
    for (cause, label) in causes {
        assert_eq!(cause.label(), label);
        assert_eq!(Outcome::retry(cause).label(), "retry");
    }
    let refused = Outcome::Refused {
        refusal: super::request::Refusal::PayloadEmpty,
    };
    assert_eq!(refused.label(), "refused");
    assert_eq!(refused.response(), None);
    let local = Outcome::CredentialRejected {
        response: None,
        detail: Some("bad key".into()),
    };
    assert_eq!(local.label(), "credential_rejected");
    assert_eq!(local.reason(), None);
}
