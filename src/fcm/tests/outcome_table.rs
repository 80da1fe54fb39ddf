//! [`classify`] row by row: a pure function over status, headers and body.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::start;
use crate::fcm::{
    CredentialReason, DeadReason, FcmErrorCode, FcmOutcome, FcmResponse, GoogleStatus, MAX_MESSAGE,
    RetryCause, classify, retry_after,
};

const FCM_ERROR: &str = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
const BAD_REQUEST: &str = "type.googleapis.com/google.rpc.BadRequest";
const LATENCY: Duration = Duration::from_millis(12);

fn error_body(code: u16, status: &str, message: &str, error_code: Option<&str>) -> Vec<u8> {
    let mut details = Vec::new();
    if let Some(error_code) = error_code {
        details.push(json!({"@type": FCM_ERROR, "errorCode": error_code}));
    }
    serde_json::to_vec(&json!({"error": {
        "code": code, "message": message, "status": status, "details": details
    }}))
    .unwrap()
}

fn run(status: u16, body: &[u8]) -> FcmOutcome {
    classify(status, &HeaderMap::new(), body, LATENCY, start())
}

fn retry_cause(outcome: &FcmOutcome) -> Option<RetryCause> {
    match outcome {
        FcmOutcome::Retry { cause, .. } => Some(*cause),
        _ => None,
    }
}

#[test]
fn accepted_with_name() {
    let body = br#"{"name":"projects/demo-project/messages/0:1700000000%abc"}"#;
    assert_eq!(
        run(200, body),
        FcmOutcome::Accepted {
            name: "projects/demo-project/messages/0:1700000000%abc".into(),
            latency: LATENCY,
        }
    );
}

#[test]
fn ok_without_name_is_our_bug() {
    for body in [&b"{}"[..], b"", b"not json", br#"{"name":""}"#] {
        assert_eq!(run(200, body).label(), "our_bug", "{body:?}");
    }
}

#[test]
fn unregistered_is_token_dead() {
    let body = error_body(
        404,
        "NOT_FOUND",
        "Requested entity was not found.",
        Some("UNREGISTERED"),
    );
    let outcome = run(404, &body);
    let FcmOutcome::TokenDead { reason, response } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(*reason, DeadReason::Unregistered);
    assert_eq!(response.error_code, Some(FcmErrorCode::Unregistered));
    assert_eq!(response.error_status, Some(GoogleStatus::NotFound));
    assert_eq!(response.status, 404);
}

#[test]
fn not_found_without_unregistered_keeps_the_token() {
    let body = error_body(404, "NOT_FOUND", "Requested entity was not found.", None);
    assert_eq!(run(404, &body).label(), "our_bug");
}

#[test]
fn invalid_argument_naming_the_token_is_token_dead() {
    let message = "The registration token is not a valid FCM registration token";
    let body = error_body(400, "INVALID_ARGUMENT", message, Some("INVALID_ARGUMENT"));
    assert!(matches!(
        run(400, &body),
        FcmOutcome::TokenDead {
            reason: DeadReason::InvalidToken,
            ..
        }
    ));
    // Named by a field violation instead of the message.
    let body = serde_json::to_vec(&json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "message": "Request contains an invalid argument.",
        "details": [{"@type": BAD_REQUEST, "fieldViolations": [
            {"field": "message.token", "description": "Invalid registration token"}]}]}}))
    .unwrap();
    assert_eq!(
        run(400, &body).label(),
        "token_dead",
        "field violation on message.token"
    );
}

#[test]
fn invalid_argument_naming_anything_else_is_our_bug() {
    let body = serde_json::to_vec(&json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "message": "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), Field 'ttl', Illegal duration format; duration must end with 's'",
        "details": [{"@type": BAD_REQUEST, "fieldViolations": [
            {"field": "message.android.ttl", "description": "Illegal duration format"}]}]}}))
    .unwrap();
    let outcome = run(400, &body);
    let FcmOutcome::OurBug {
        response: Some(response),
        ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        response.field_violations,
        vec!["message.android.ttl".to_owned()]
    );
    // A violation on another field wins over a message that happens to say "token".
    let body = serde_json::to_vec(&json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "message": "registration token payload invalid",
        "details": [{"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.data"}]}]}}))
    .unwrap();
    assert_eq!(run(400, &body).label(), "our_bug");
    let body = error_body(
        400,
        "INVALID_ARGUMENT",
        "Invalid JSON payload received.",
        None,
    );
    assert_eq!(run(400, &body).label(), "our_bug");
}

#[test]
fn sender_id_mismatch() {
    let body = error_body(
        403,
        "PERMISSION_DENIED",
        "SenderId mismatch",
        Some("SENDER_ID_MISMATCH"),
    );
    assert!(matches!(run(403, &body), FcmOutcome::SenderMismatch { .. }));
}

#[test]
fn unauthenticated_and_third_party_auth_are_credential_refusals() {
    let body = error_body(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials.",
        None,
    );
    let outcome = run(401, &body);
    assert!(matches!(
        &outcome,
        FcmOutcome::CredentialRejected {
            reason: CredentialReason::Unauthenticated,
            response: Some(_)
        }
    ));
    assert!(outcome.is_auth_refusal(), "worth one refresh");
    // A bare 401 (no JSON) is still about authentication.
    assert!(run(401, b"<html>").is_auth_refusal());
    let body = error_body(
        401,
        "UNAUTHENTICATED",
        "Auth error from APNS or Web Push Service",
        Some("THIRD_PARTY_AUTH_ERROR"),
    );
    let outcome = run(401, &body);
    assert!(matches!(
        &outcome,
        FcmOutcome::CredentialRejected {
            reason: CredentialReason::ThirdPartyAuth,
            ..
        }
    ));
    assert!(outcome.is_auth_refusal());
}

#[test]
fn permission_denied_without_sender_mismatch_rejects_the_credential() {
    let body = error_body(
        403,
        "PERMISSION_DENIED",
        "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/other'",
        None,
    );
    let outcome = run(403, &body);
    assert!(matches!(
        &outcome,
        FcmOutcome::CredentialRejected {
            reason: CredentialReason::PermissionDenied,
            ..
        }
    ));
    assert!(
        !outcome.is_auth_refusal(),
        "a fresh token won't grant a permission"
    );
    // A bare 403 from something in between is not understood.
    assert_eq!(run(403, b"Forbidden").label(), "our_bug");
}

#[test]
fn quota_exceeded_with_retry_after_seconds_or_date() {
    let body = error_body(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded",
        Some("QUOTA_EXCEEDED"),
    );
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from_static("17"));
    let outcome = classify(429, &headers, &body, LATENCY, start());
    let FcmOutcome::Retry {
        cause,
        after,
        response,
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(*cause, RetryCause::QuotaExceeded);
    assert_eq!(*after, Some(Duration::from_secs(17)));
    assert_eq!(
        response.as_ref().unwrap().error_code,
        Some(FcmErrorCode::QuotaExceeded)
    );

    let date = httpdate::fmt_http_date(start() + Duration::from_secs(90));
    headers.insert("retry-after", HeaderValue::from_str(&date).unwrap());
    let outcome = classify(429, &headers, &body, LATENCY, start());
    assert!(
        matches!(outcome, FcmOutcome::Retry { after: Some(d), .. } if d == Duration::from_secs(90))
    );
    // No header: no hint; a bare 429 is still quota.
    assert!(matches!(
        run(429, b""),
        FcmOutcome::Retry {
            cause: RetryCause::QuotaExceeded,
            after: None,
            ..
        }
    ));
}

#[test]
fn retry_after_edge_cases() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers, start()), None);
    headers.insert("retry-after", HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&headers, start()), None);
    headers.insert("retry-after", HeaderValue::from_static("999999"));
    assert_eq!(
        retry_after(&headers, start()),
        Some(Duration::from_secs(3600)),
        "clamped"
    );
    let past = httpdate::fmt_http_date(start() - Duration::from_secs(60));
    headers.insert("retry-after", HeaderValue::from_str(&past).unwrap());
    assert_eq!(retry_after(&headers, start()), Some(Duration::ZERO));
}

#[test]
fn server_errors_are_retried() {
    let cases = [
        (
            500,
            error_body(500, "INTERNAL", "Internal error", Some("INTERNAL")),
            RetryCause::Internal,
        ),
        (
            503,
            error_body(
                503,
                "UNAVAILABLE",
                "The service is unavailable",
                Some("UNAVAILABLE"),
            ),
            RetryCause::Unavailable,
        ),
        (500, b"".to_vec(), RetryCause::Internal),
        (503, b"<html>".to_vec(), RetryCause::Unavailable),
        (502, b"Bad Gateway".to_vec(), RetryCause::ServerError),
        (504, b"".to_vec(), RetryCause::ServerError),
    ];
    for (status, body, cause) in cases {
        assert_eq!(retry_cause(&run(status, &body)), Some(cause), "{status}");
    }
}

#[test]
fn anything_unexpected_is_our_bug() {
    for (status, body) in [
        (400, b"garbage".to_vec()),
        (404, b"".to_vec()),
        (302, b"".to_vec()),
        (418, error_body(418, "TEAPOT", "?", Some("SOMETHING_NEW"))),
        (400, br#"{"error":"a string"}"#.to_vec()),
        (
            400,
            br#"{"error":{"details":"not a list","message":7}}"#.to_vec(),
        ),
    ] {
        assert_eq!(run(status, &body).label(), "our_bug", "{status} {body:?}");
    }
}

#[test]
fn response_is_bounded() {
    let long = "x".repeat(10_000);
    let body = error_body(400, "INVALID_ARGUMENT", &long, Some(&"Z".repeat(500)));
    let response = FcmResponse::parse(400, &body);
    assert_eq!(
        response.message.as_ref().map(|m| m.len()),
        Some(MAX_MESSAGE)
    );
    let Some(FcmErrorCode::Other(code)) = &response.error_code else {
        panic!("{response:?}")
    };
    assert_eq!(code.len(), 64);
}

#[test]
fn labels_are_stable_and_closed() {
    let labels: Vec<_> = RetryCause::ALL.iter().map(|c| c.label()).collect();
    assert_eq!(
        labels,
        [
            "quota_exceeded",
            "unavailable",
            "internal",
            "server_error",
            "timeout",
            "connect",
            "connection_lost",
            "token_unavailable"
        ]
    );
    let unique: std::collections::HashSet<_> = labels.iter().collect();
    assert_eq!(unique.len(), labels.len());
    assert!(FcmOutcome::LABELS.contains(&run(404, b"").label()));
    assert_eq!(DeadReason::InvalidToken.label(), "invalid_token");
    assert_eq!(CredentialReason::KeyUnusable.label(), "key_unusable");
}
