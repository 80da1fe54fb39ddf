//! The token endpoint over HTTP/1.1: issuing tokens, and each way an assertion is refused.

use serde_json::json;

use super::*;
use crate::mock_fcm::AccountRegistration;
use crate::mock_fcm::oauth::JWT_BEARER;

async fn exchange(sim: &Simulator, assertion: &str) -> (u16, Value) {
    token_request(sim, &[("grant_type", JWT_BEARER), ("assertion", assertion)]).await
}

fn assert_refused(got: &(u16, Value), status: u16, error: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"], error, "{}", got.1);
    assert!(got.1.get("access_token").is_none());
}

#[tokio::test]
async fn issues_a_google_shaped_access_token() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    assert_eq!(sa.kind, "service_account");
    assert_eq!(sa.project_id, PROJECT);
    assert_eq!(sa.token_uri, sim.token_url());
    assert!(sa.private_key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(
        sa.client_email
            .ends_with("@pushgate-test.iam.gserviceaccount.com")
    );
    let (status, body) = exchange(&sim, &assertion(&sim, &sa, &clock)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    let stats = sim.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 1));
}

#[tokio::test]
async fn accepts_googles_own_audience_and_cloud_platform_scope() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    let mut c = claims(&sa, "https://oauth2.googleapis.com/token", now_secs(&clock));
    c["scope"] = json!(format!(
        "https://www.googleapis.com/auth/cloud-platform {FCM_SCOPE}"
    ));
    assert_eq!(exchange(&sim, &sign(&sa, &c)).await.0, 200);
}

#[tokio::test]
async fn refuses_a_bad_signature() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    let good = assertion(&sim, &sa, &clock);
    // Another key under the same kid and iss.
    let other = sim.generate_service_account(PROJECT).expect("generate");
    let forged = ServiceAccountJson {
        private_key: other.private_key,
        ..sa.clone()
    };
    let got = exchange(
        &sim,
        &sign(&forged, &claims(&sa, sim.token_url(), now_secs(&clock))),
    )
    .await;
    assert_refused(&got, 400, "invalid_grant");
    assert_eq!(got.1["error_description"], "Invalid JWT Signature.");
    // One flipped character of the signature.
    let (msg, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{msg}.{flipped}{}", &sig[1..]);
    assert_refused(&exchange(&sim, &tampered).await, 400, "invalid_grant");
    // A changed claim under the original signature.
    let (h, _) = msg.split_once('.').unwrap();
    let mut c = claims(&sa, sim.token_url(), now_secs(&clock));
    c["scope"] = json!("https://www.googleapis.com/auth/cloud-platform");
    let body = sign(&sa, &c);
    let claims_part = body.split('.').nth(1).unwrap();
    let spliced = format!("{h}.{claims_part}.{sig}");
    assert_refused(&exchange(&sim, &spliced).await, 400, "invalid_grant");
    assert_refused(&exchange(&sim, "not-a-jwt").await, 400, "invalid_grant");
}

#[tokio::test]
async fn refuses_bad_times() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    let now = now_secs(&clock);
    let expired = claims(&sa, sim.token_url(), now - 3601);
    assert_refused(
        &exchange(&sim, &sign(&sa, &expired)).await,
        400,
        "invalid_grant",
    );
    let future = claims(&sa, sim.token_url(), now + 600);
    assert_refused(
        &exchange(&sim, &sign(&sa, &future)).await,
        400,
        "invalid_grant",
    );
    let mut long = claims(&sa, sim.token_url(), now);
    long["exp"] = json!(now + 3601);
    assert_refused(
        &exchange(&sim, &sign(&sa, &long)).await,
        400,
        "invalid_grant",
    );
    let mut extreme = claims(&sa, sim.token_url(), now);
    extreme["iat"] = json!(-9.0e18);
    extreme["exp"] = json!(9.0e18);
    assert_refused(
        &exchange(&sim, &sign(&sa, &extreme)).await,
        400,
        "invalid_grant",
    );
    let mut text = claims(&sa, sim.token_url(), now);
    text["iat"] = json!("now");
    assert_refused(
        &exchange(&sim, &sign(&sa, &text)).await,
        400,
        "invalid_grant",
    );
    // A little skew is fine.
    let skewed = claims(&sa, sim.token_url(), now + 30);
    assert_eq!(exchange(&sim, &sign(&sa, &skewed)).await.0, 200);
}

#[tokio::test]
async fn refuses_wrong_audience_scope_and_grant() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    let now = now_secs(&clock);
    let aud = claims(&sa, "https://example.com/token", now);
    let got = exchange(&sim, &sign(&sa, &aud)).await;
    assert_refused(&got, 400, "invalid_grant");
    assert!(
        got.1["error_description"]
            .as_str()
            .unwrap()
            .contains("audience")
    );
    let mut scope = claims(&sa, sim.token_url(), now);
    scope.as_object_mut().unwrap().remove("scope");
    assert_refused(
        &exchange(&sim, &sign(&sa, &scope)).await,
        400,
        "invalid_scope",
    );
    let a = assertion(&sim, &sa, &clock);
    let got = token_request(
        &sim,
        &[("grant_type", "client_credentials"), ("assertion", &a)],
    )
    .await;
    assert_refused(&got, 400, "unsupported_grant_type");
    let got = token_request(&sim, &[("grant_type", JWT_BEARER)]).await;
    assert_refused(&got, 400, "invalid_request");
    let got = token_request(&sim, &[("assertion", &a)]).await;
    assert_refused(&got, 400, "invalid_request");
    let huge = "x".repeat(20_000);
    let got = token_request(&sim, &[("grant_type", JWT_BEARER), ("assertion", &huge)]).await;
    assert_refused(&got, 400, "invalid_request");
    assert_eq!(sim.stats().token_errors["invalid_request"], 3);
}

#[tokio::test]
async fn refuses_unknown_accounts_and_keys() {
    let (sim, clock) = sim().await;
    let sa = sim.service_account().clone();
    let stranger = ServiceAccountJson {
        client_email: "nobody@pushgate-test.iam.gserviceaccount.com".into(),
        ..sa.clone()
    };
    let got = exchange(&sim, &assertion(&sim, &stranger, &clock)).await;
    assert_refused(&got, 401, "invalid_client");
    let unknown_kid = ServiceAccountJson {
        private_key_id: "0".repeat(40),
        ..sa.clone()
    };
    let got = exchange(&sim, &assertion(&sim, &unknown_kid, &clock)).await;
    assert_refused(&got, 400, "invalid_grant");
}

#[tokio::test]
async fn learns_accounts_from_key_files_and_public_keys() {
    let (sim, clock) = sim().await;
    // A key file generated elsewhere (here: by a second simulator).
    let other = run(config(&clock)).await;
    let foreign = other
        .generate_service_account("other-project")
        .expect("generate");
    let got = exchange(&sim, &assertion(&sim, &foreign, &clock)).await;
    assert_refused(&got, 401, "invalid_client");
    let (status, body) = control(
        &sim,
        "POST",
        "/service-accounts",
        &serde_json::to_string(&foreign).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        exchange(&sim, &assertion(&sim, &foreign, &clock)).await.0,
        200
    );
    // By public key only.
    let third = other
        .generate_service_account("third-project")
        .expect("generate");
    let key = openssl::pkey::PKey::private_key_from_pem(third.private_key.as_bytes()).unwrap();
    let public_pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
    sim.register_service_account(&AccountRegistration {
        project_id: third.project_id.clone(),
        client_email: third.client_email.clone(),
        private_key_id: third.private_key_id.clone(),
        public_key_pem: Some(public_pem),
        ..AccountRegistration::default()
    })
    .expect("register");
    assert_eq!(
        exchange(&sim, &assertion(&sim, &third, &clock)).await.0,
        200
    );
    // Bad registrations are refused with a reason.
    let (status, body) = control(
        &sim,
        "POST",
        "/service-accounts",
        r#"{"project_id":"x","client_email":"a@b","private_key_id":"k"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let bad_key = r#"{"project_id":"valid-project","client_email":"a@b","private_key_id":"k","public_key_pem":"junk"}"#;
    assert_eq!(
        control(&sim, "POST", "/service-accounts", bad_key).await.0,
        400
    );
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let clock = clock();
    let sim = run(SimulatorConfig {
        token_lifetime: std::time::Duration::from_secs(5),
        ..config(&clock)
    })
    .await;
    let sa = sim.service_account().clone();
    let (status, body) = exchange(&sim, &assertion(&sim, &sa, &clock)).await;
    assert_eq!((status, body["expires_in"].as_u64()), (200, Some(5)));
}
