//! Per-device outcomes over real TLS against the simulator: the other
//! environment, dead tokens with their timestamp, tokens of another app, and
//! payloads refused before sending.

use super::support::*;
use pushgate::apns::{ApnsClient, ApnsConfig, ApnsReason, Environment, Outcome, Refusal};
use pushgate::mock_apns::{
    self as sim, EnvironmentMode, GoneReason, SimulatorConfig, Unregistration,
};

#[tokio::test]
async fn a_token_of_the_other_environment_is_wrong_environment() {
    let production = start(SimulatorConfig {
        environment: EnvironmentMode::Production,
        ..sim_config()
    })
    .await;
    let sandbox = start(SimulatorConfig {
        environment: EnvironmentMode::Development,
        ..sim_config()
    })
    .await;
    let token = device_token(3);
    for s in [&production, &sandbox] {
        register(s, &token, TOPIC, sim::Environment::Sandbox);
    }
    let config = ApnsConfig {
        production_url: url(&production),
        sandbox_url: url(&sandbox),
        ..ApnsConfig::default()
    }
    .with_extra_root_pem(production.ca_pem().expect("ca").as_bytes().to_vec())
    .with_extra_root_pem(sandbox.ca_pem().expect("ca").as_bytes().to_vec());
    let client = ApnsClient::new(config, token_auth(&[&production, &sandbox])).expect("client");

    let outcome = client.send(invite(&token, Environment::Production)).await;
    assert!(
        matches!(outcome, Outcome::WrongEnvironment { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.reason(), Some(&ApnsReason::BadDeviceToken));
    // The gateway's "try the other environment once" then succeeds.
    match client
        .send(invite(&token, Environment::Production.other()))
        .await
    {
        Outcome::Accepted { unique_id, .. } => {
            assert!(unique_id.is_some(), "sandbox sends apns-unique-id")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn gone_and_misrouted_tokens() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 1);
    let gone = device_token(10);
    register(&s, &gone, TOPIC, sim::Environment::Production);
    s.unregister_token(
        &gone,
        &Unregistration {
            timestamp_ms: Some(1_700_000_000_123),
            reason: Some(GoneReason::ExpiredToken),
        },
    )
    .expect("unregister");
    match client.send(invite(&gone, Environment::Production)).await {
        Outcome::TokenDead { since_ms, response } => {
            assert_eq!(since_ms, Some(1_700_000_000_123));
            assert_eq!(response.reason, Some(ApnsReason::ExpiredToken));
            assert_eq!(response.status, 410);
        }
        other => panic!("{other:?}"),
    }

    let other_app = device_token(11);
    register(
        &s,
        &other_app,
        "com.other.app.voip",
        sim::Environment::Production,
    );
    let outcome = client
        .send(invite(&other_app, Environment::Production))
        .await;
    assert!(
        matches!(outcome, Outcome::NotForTopic { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn oversized_payloads_are_refused_without_sending() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 1);
    let mut n = invite(&device_token(1), Environment::Production);
    n.payload = vec![b' '; 5121].into();
    let outcome = client.send(n.clone()).await;
    assert_eq!(
        outcome,
        Outcome::Refused {
            refusal: Refusal::PayloadTooLarge {
                size: 5121,
                limit: 5120
            }
        }
    );
    n.payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(5100))
        .into_bytes()
        .into();
    assert!(
        client.send(n).await.is_accepted(),
        "5120-byte VoIP payloads are fine"
    );
    assert_eq!(s.stats().received, 1, "the refused push never left");
}
