//! Fault rules: every FCM error row, counts, token matching, delays, reset streams,
//! dropped connections, expiring access tokens, and token-endpoint failures.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::mock_fcm::oauth::JWT_BEARER;
use crate::mock_fcm::{FaultAction, FaultSpec, FaultTarget};

fn fault(error_code: &str) -> FaultSpec {
    FaultSpec {
        error_code: Some(error_code.into()),
        ..FaultSpec::default()
    }
}

#[tokio::test]
async fn every_error_row_has_fcms_code_and_status() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let rows = [
        (
            "UNREGISTERED",
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
        ),
        (
            "INVALID_ARGUMENT",
            400,
            "INVALID_ARGUMENT",
            "The registration token is not a valid FCM registration token",
        ),
        (
            "SENDER_ID_MISMATCH",
            403,
            "PERMISSION_DENIED",
            "SenderId mismatch",
        ),
        (
            "THIRD_PARTY_AUTH_ERROR",
            401,
            "UNAUTHENTICATED",
            "Auth error from APNS or Web Push Service",
        ),
        ("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED", ""),
        ("INTERNAL", 500, "INTERNAL", "Internal error encountered."),
        (
            "UNAVAILABLE",
            503,
            "UNAVAILABLE",
            "The service is currently unavailable.",
        ),
    ];
    for (code, status, name, message) in rows {
        sim.add_fault(&FaultSpec {
            count: Some(1),
            ..fault(code)
        })
        .expect("fault");
        let reply = send(&sim, &bearer, &message_body()).await;
        assert_fcm_error(&reply, status, name, code);
        if !message.is_empty() {
            assert_eq!(reply.message(), message);
        }
        assert_eq!(
            send(&sim, &bearer, &message_body()).await.status,
            200,
            "count 1 for {code}"
        );
    }
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.rejected), (7, 7));
    assert_eq!(stats.rejected_by_error_code["QUOTA_EXCEEDED"], 1);
    assert_eq!(sim.pushes(0)[0].fault.as_deref(), Some("UNREGISTERED"));
    assert_eq!(sim.pushes(0)[0].error_code.as_deref(), Some("UNREGISTERED"));
}

fn message_body() -> Value {
    message(&fcm_token(9))
}

#[tokio::test]
async fn quota_retry_after_field_errors_and_unauthenticated() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    sim.add_fault(&FaultSpec {
        retry_after_secs: Some(42),
        count: Some(1),
        ..fault("QUOTA_EXCEEDED")
    })
    .unwrap();
    let reply = send(&sim, &bearer, &message_body()).await;
    assert_fcm_error(&reply, 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED");
    assert_eq!(reply.header("retry-after"), Some("42"));
    let spec = FaultSpec {
        field: Some("message.android.ttl".into()),
        count: Some(1),
        ..fault("INVALID_ARGUMENT")
    };
    sim.add_fault(&spec).unwrap();
    let reply = send(&sim, &bearer, &message_body()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["error"]["details"][0]["fieldViolations"][0]["field"],
        "message.android.ttl"
    );
    assert!(reply.message().contains("message.android.ttl"));
    sim.add_fault(&FaultSpec {
        count: Some(1),
        ..fault("UNAUTHENTICATED")
    })
    .unwrap();
    let reply = send(&sim, &bearer, &message_body()).await;
    assert_eq!(
        (reply.status, reply.json()["error"]["status"].clone()),
        (401, json!("UNAUTHENTICATED"))
    );
    assert!(sim.add_fault(&fault("NOT_A_CODE")).is_err());
    assert!(sim.add_fault(&FaultSpec::default()).is_err());
}

#[tokio::test]
async fn match_token_and_unlimited_count() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    sim.add_fault(&FaultSpec {
        match_token: Some(fcm_token(5)),
        ..fault("UNREGISTERED")
    })
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            send(&sim, &bearer, &message(&fcm_token(5))).await.status,
            404
        );
        assert_eq!(
            send(&sim, &bearer, &message(&fcm_token(6))).await.status,
            200
        );
    }
    sim.clear_faults();
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(5))).await.status,
        200
    );
}

#[tokio::test]
async fn delay_reset_and_drop() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    sim.add_fault(&FaultSpec {
        delay_ms: Some(300),
        count: Some(1),
        ..FaultSpec::default()
    })
    .unwrap();
    let started = Instant::now();
    assert_eq!(send(&sim, &bearer, &message_body()).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let h2 = H2::connect(&sim).await;
    let body = message_body().to_string();
    sim.add_fault(&FaultSpec {
        action: Some(FaultAction::ResetStream),
        count: Some(1),
        ..FaultSpec::default()
    })
    .unwrap();
    let err = h2
        .post(&send_path(PROJECT), &bearer, body.as_bytes())
        .await
        .expect_err("reset");
    assert_eq!(err.reason(), Some(h2::Reason::REFUSED_STREAM));
    // The connection survives a reset stream.
    assert_eq!(
        h2.post(&send_path(PROJECT), &bearer, body.as_bytes())
            .await
            .unwrap()
            .status,
        200
    );
    sim.add_fault(&FaultSpec {
        action: Some(FaultAction::DropConnection),
        count: Some(1),
        ..FaultSpec::default()
    })
    .unwrap();
    assert!(
        h2.post(&send_path(PROJECT), &bearer, body.as_bytes())
            .await
            .is_err()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), h2.conn)
        .await
        .expect("connection closed");
    assert_eq!(send(&sim, &bearer, &message_body()).await.status, 200);
    let stats = sim.stats();
    assert_eq!((stats.streams_reset, stats.connections_dropped), (1, 1));
    let log = sim.pushes(0);
    assert_eq!(log[1].status, 0);
    assert_eq!(log[1].fault.as_deref(), Some("reset_stream"));
}

#[tokio::test]
async fn expiring_access_tokens_forces_a_refresh() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    let bearer = access_token(&sim, &sa, &clock).await;
    assert_eq!(send(&sim, &bearer, &message_body()).await.status, 200);
    let (status, body) = control(
        &sim,
        "POST",
        "/faults",
        r#"{"action":"expire_access_tokens"}"#,
    )
    .await;
    assert_eq!((status, body["expired"].as_u64()), (200, Some(1)), "{body}");
    let reply = send(&sim, &bearer, &message_body()).await;
    assert_eq!(reply.status, 401);
    let fresh = access_token(&sim, &sa, &clock).await;
    assert_eq!(send(&sim, &fresh, &message_body()).await.status, 200);
}

#[tokio::test]
async fn token_endpoint_faults() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    let token = |status: u16| FaultSpec {
        target: Some(FaultTarget::Token),
        status: Some(status),
        count: Some(1),
        ..FaultSpec::default()
    };
    let a = assertion(&sim, &sa, &clock);
    let form = [("grant_type", JWT_BEARER), ("assertion", a.as_str())];
    for (status, error) in [
        (503, "temporarily_unavailable"),
        (500, "internal_failure"),
        (400, "invalid_grant"),
    ] {
        sim.add_fault(&token(status)).unwrap();
        let (got, body) = token_request(&sim, &form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
    }
    assert_eq!(token_request(&sim, &form).await.0, 200);
    let spec = FaultSpec {
        target: Some(FaultTarget::Token),
        error_code: Some("invalid_client".into()),
        ..FaultSpec::default()
    };
    sim.add_fault(&spec).unwrap();
    assert_eq!(token_request(&sim, &form).await.0, 401);
    let spec = FaultSpec {
        target: Some(FaultTarget::Token),
        action: Some(FaultAction::DropConnection),
        ..FaultSpec::default()
    };
    sim.clear_faults();
    sim.add_fault(&spec).unwrap();
    let err = http1(&sim).post(sim.token_url()).form(&form).send().await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(sim.stats().connections_dropped, 1);
}
