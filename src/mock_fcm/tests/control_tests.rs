//! The strict token registry and the control API: files written at start, endpoints,
//! bad input, reset.

use serde_json::json;

use super::*;
use crate::mock_fcm::{StrictMode, TokenRegistration};

fn reg(token: &str, project_id: &str) -> TokenRegistration {
    TokenRegistration {
        token: token.into(),
        project_id: project_id.into(),
    }
}

#[tokio::test]
async fn strict_registry_answers_unregistered_and_sender_id_mismatch() {
    let clock = clock();
    let sim = run(SimulatorConfig {
        strict_tokens: true,
        ..config(&clock)
    })
    .await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let unknown = send(&sim, &bearer, &message(&fcm_token(1))).await;
    assert_fcm_error(&unknown, 404, "NOT_FOUND", "UNREGISTERED");
    sim.register_token(&reg(&fcm_token(1), PROJECT)).unwrap();
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(1))).await.status,
        200
    );
    let body = json!({ "token": fcm_token(2), "project_id": "other-project" }).to_string();
    assert_eq!(control(&sim, "POST", "/tokens", &body).await.0, 200);
    let mismatch = send(&sim, &bearer, &message(&fcm_token(2))).await;
    assert_fcm_error(&mismatch, 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH");
    let path = format!("/tokens/{}/unregister", fcm_token(1));
    assert_eq!(control(&sim, "POST", &path, "").await.0, 200);
    let gone = send(&sim, &bearer, &message(&fcm_token(1))).await;
    assert_fcm_error(&gone, 404, "NOT_FOUND", "UNREGISTERED");
}

#[tokio::test]
async fn lenient_by_default_strict_per_project() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(1))).await.status,
        200
    );
    // Unregistered and foreign tokens are judged even when not strict.
    sim.unregister_token(&fcm_token(2)).unwrap();
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(2))).await.status,
        404
    );
    sim.register_token(&reg(&fcm_token(3), "other-project"))
        .unwrap();
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(3))).await.status,
        403
    );
    let body = json!({ "project_id": PROJECT, "strict": true }).to_string();
    assert_eq!(control(&sim, "POST", "/strict", &body).await.0, 200);
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(1))).await.status,
        404
    );
    sim.set_strict(&StrictMode {
        project_id: PROJECT.into(),
        strict: false,
    })
    .unwrap();
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(1))).await.status,
        200
    );
}

#[tokio::test]
async fn writes_key_file_and_ca_to_out_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let sim = run(SimulatorConfig {
        out_dir: Some(dir.path().to_path_buf()),
        ..config(&clock)
    })
    .await;
    let text = std::fs::read_to_string(dir.path().join("service-account.json")).unwrap();
    let file: ServiceAccountJson = serde_json::from_str(&text).unwrap();
    assert_eq!(&file, sim.service_account());
    let raw: Value = serde_json::from_str(&text).unwrap();
    for field in [
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
    ] {
        assert!(raw[field].is_string(), "{field}");
    }
    assert_eq!(raw["universe_domain"], "googleapis.com");
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    assert_eq!(ca, sim.ca_pem());
    // The written key file works as is.
    assert!(access_token(&sim, &file, &clock).await.starts_with("ya29."));
}

#[tokio::test]
async fn control_endpoints() {
    let (sim, clock) = sim().await;
    assert_eq!(
        control(&sim, "GET", "/health", "").await,
        (200, json!({ "ok": true }))
    );
    let (status, ca) = control(&sim, "GET", "/ca.pem", "").await;
    assert_eq!(status, 200);
    assert!(
        ca.as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let (status, sa) = control(&sim, "GET", "/service-account.json", "").await;
    assert_eq!(
        (status, sa["client_email"].clone()),
        (200, json!(sim.service_account().client_email))
    );
    let (status, generated) = control(
        &sim,
        "POST",
        "/service-accounts/generate",
        r#"{"project_id":"second-project"}"#,
    )
    .await;
    assert_eq!(status, 200, "{generated}");
    let generated: ServiceAccountJson = serde_json::from_value(generated).unwrap();
    assert_eq!(generated.project_id, "second-project");
    assert_eq!(generated.token_uri, sim.token_url());
    assert!(
        access_token(&sim, &generated, &clock)
            .await
            .starts_with("ya29.")
    );
    for (path, body) in [
        (
            "/tokens",
            r#"{"token":"bad token","project_id":"pushgate-test"}"#,
        ),
        ("/tokens", r#"{"token":"ok"}"#),
        ("/faults", r#"{"error_code":"NOPE"}"#),
        ("/faults", r#"{"ratio":2,"error_code":"INTERNAL"}"#),
        ("/faults", "not json"),
        ("/service-accounts/generate", r#"{"project_id":"X"}"#),
        ("/strict", r#"{"project_id":"pushgate-test"}"#),
    ] {
        let (status, answer) = control(&sim, "POST", path, body).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(control(&sim, "GET", "/nope", "").await.0, 404);
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let (status, _) = control(
        &sim,
        "POST",
        "/faults",
        r#"{"error_code":"UNAVAILABLE","count":1}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(1))).await.status,
        503
    );
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(1))).await.status,
        200
    );
    let (_, pushes) = control(&sim, "GET", "/pushes?since=1", "").await;
    let pushes = pushes["pushes"].as_array().unwrap();
    assert_eq!(pushes.len(), 1);
    assert_eq!(
        (pushes[0]["seq"].clone(), pushes[0]["status"].clone()),
        (json!(2), json!(200))
    );
    let (_, stats) = control(&sim, "GET", "/stats", "").await;
    assert_eq!(stats["rejected_by_error_code"]["UNAVAILABLE"], 1);
    assert_eq!(control(&sim, "DELETE", "/faults", "").await.0, 200);
    assert_eq!(control(&sim, "POST", "/reset", "").await.0, 200);
    assert_eq!(sim.stats().sends, 0);
    assert!(sim.pushes(0).is_empty());
    // Reset forgets issued access tokens and extra accounts, but not the generated one.
    assert_eq!(
        send(&sim, &bearer, &message(&fcm_token(1))).await.status,
        401
    );
    let (status, body) = token_request(
        &sim,
        &[
            ("grant_type", super::super::oauth::JWT_BEARER),
            ("assertion", &assertion(&sim, &generated, &clock)),
        ],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        access_token(&sim, &sim.service_account().clone(), &clock)
            .await
            .starts_with("ya29.")
    );
}

#[tokio::test]
async fn push_log_is_bounded() {
    let clock = clock();
    let sim = run(SimulatorConfig {
        log_capacity: 3,
        ..config(&clock)
    })
    .await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    for n in 0..5 {
        send(&sim, &bearer, &message(&fcm_token(n))).await;
    }
    let log = sim.pushes(0);
    assert_eq!(log.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
}

#[tokio::test]
async fn refuses_non_loopback_listeners() {
    let clock = clock();
    let err = start(
        SimulatorConfig {
            listen: "0.0.0.0:0".parse().unwrap(),
            ..config(&clock)
        },
        std::future::pending(),
    )
    .await
    .expect_err("non-loopback");
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test]
async fn connections_are_bounded_and_shutdown_closes_them() {
    let clock = clock();
    let sim = run(SimulatorConfig {
        max_connections: 1,
        ..config(&clock)
    })
    .await;
    let first = H2::connect(&sim).await;
    let second = tokio::spawn({
        let addr = sim.addr();
        async move { TcpStream::connect(addr).await.map(|_| ()) }
    });
    second
        .await
        .unwrap()
        .expect("the kernel still queues the connection");
    // A second TLS client is not served while the first connection is open.
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(300), H2::connect(&sim));
    assert!(waiting.await.is_err(), "a second connection was served");
    first.conn.abort();
    drop(first);
    let third = tokio::time::timeout(std::time::Duration::from_secs(5), H2::connect(&sim)).await;
    let third = third.expect("served once the first closed");
    sim.shutdown().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), third.conn)
        .await
        .expect("closed by shutdown");
    assert_eq!(sim.stats().connections_open, 0);
}
