//! Authentication over real TLS against the simulator: mutual-TLS client
//! certificates with Apple's UID and OIDs, `.p8` provider tokens, and every
//! way a credential can be refused.

use super::support::*;
use pushgate::apns::{ApnsAuth, ApnsClient, ApnsReason, Environment, Outcome};
use pushgate::mock_apns::{self as sim, AuthInfo, EnvironmentMode, SimulatorConfig};

#[tokio::test]
async fn certificate_auth_over_mutual_tls() {
    let ca = Ca::new();
    let s = start(SimulatorConfig {
        log_pushes: true,
        ..sim_config_with_client_ca(&ca)
    })
    .await;
    let auth = ca.client_cert(TOPIC, true, true, &[TOPIC, "com.example.app"]);
    let info = auth
        .certificate_info()
        .expect("parse")
        .expect("certificate");
    assert_eq!(info.topic_uid.as_deref(), Some(TOPIC));
    assert!(info.development && info.production);
    assert!(
        info.not_after
            .is_some_and(|t| t > std::time::SystemTime::now())
    );

    let client = client(&s, auth, 1);
    let n = invite(&device_token(1), Environment::Production);
    let sent_id = n.apns_id.expect("voip() sets an apns-id");
    match client.send(n).await {
        Outcome::Accepted { apns_id, .. } => assert_eq!(apns_id, Some(sent_id)),
        other => panic!("{other:?}"),
    }
    let pushes = s.pushes(0);
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert!(matches!(&push.auth, AuthInfo::Certificate { uid: Some(uid), .. } if uid == TOPIC));
    assert_eq!(push.headers.get("apns-id"), Some(&sent_id.to_string()));
    assert_eq!(
        push.headers.get("apns-push-type").map(String::as_str),
        Some("voip")
    );
    assert_eq!(
        push.headers.get("apns-topic").map(String::as_str),
        Some(TOPIC)
    );
    assert_eq!(
        push.headers.get("apns-priority").map(String::as_str),
        Some("10")
    );
    assert_eq!(
        push.headers.get("apns-expiration").map(String::as_str),
        Some("0")
    );
}

#[tokio::test]
async fn token_auth_with_a_p8_key() {
    let s = start(logged()).await;
    let client = client(&s, token_auth(&[&s]), 1);
    for i in 0..3 {
        let outcome = client
            .send(invite(&device_token(i), Environment::Production))
            .await;
        assert!(outcome.is_accepted(), "{outcome:?}");
    }
    let pushes = s.pushes(0);
    assert_eq!(pushes.len(), 3);
    for push in &pushes {
        match &push.auth {
            AuthInfo::Token {
                key_id, team_id, ..
            } => {
                assert_eq!((key_id.as_str(), team_id.as_str()), (KEY_ID, TEAM_ID));
            }
            other => panic!("{other:?}"),
        }
    }
    // One token, one connection, reused for all three pushes.
    assert_eq!(s.stats().connections_total, 1);
}

#[tokio::test]
async fn a_wrong_certificate_is_a_credential_rejection() {
    let trusted = Ca::new();
    let s = start(sim_config_with_client_ca(&trusted)).await;

    let stranger = Ca::new();
    let client = client(&s, stranger.client_cert(TOPIC, true, true, &[]), 1);
    let outcome = client
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert!(
        matches!(outcome, Outcome::CredentialRejected { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.reason(), Some(&ApnsReason::BadCertificate));
    assert_eq!(outcome.response().map(|r| r.status), Some(403));

    let other_app = client_for_topic(&s, &trusted, "com.other.app.voip");
    let outcome = other_app
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert!(
        matches!(outcome, Outcome::CredentialRejected { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.reason(), Some(&ApnsReason::BadTopic));
}

fn client_for_topic(s: &sim::Simulator, ca: &Ca, topic: &str) -> ApnsClient {
    client(s, ca.client_cert(topic, true, true, &[topic]), 1)
}

#[tokio::test]
async fn credential_problems_are_credential_rejections() {
    // A certificate for development only, against a production host.
    let ca = Ca::new();
    let production = start(SimulatorConfig {
        environment: EnvironmentMode::Production,
        ..sim_config_with_client_ca(&ca)
    })
    .await;
    let dev_only = client(&production, ca.client_cert(TOPIC, true, false, &[TOPIC]), 1);
    let outcome = dev_only
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert!(
        matches!(outcome, Outcome::CredentialRejected { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        outcome.reason(),
        Some(&ApnsReason::BadCertificateEnvironment)
    );

    // A key APNs does not know.
    let s = start(sim_config()).await;
    let _known = token_auth(&[&s]);
    let (p8_pem, _) = p8();
    let stranger = ApnsAuth::Token {
        p8_pem,
        key_id: "OTHERKEY01".into(),
        team_id: TEAM_ID.into(),
    };
    let outcome = client(&s, stranger, 1)
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert!(
        matches!(outcome, Outcome::CredentialRejected { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.reason(), Some(&ApnsReason::InvalidProviderToken));

    // A team key limited to the sandbox, used against production.
    let production_tokens = start(SimulatorConfig {
        environment: EnvironmentMode::Production,
        ..sim_config()
    })
    .await;
    let (p8_pem, pem) = p8();
    production_tokens
        .register_key(&sim::KeyRegistration {
            key_id: KEY_ID.into(),
            team_id: TEAM_ID.into(),
            private_key_pem: Some(pem),
            environment: Some(sim::Environment::Sandbox),
            ..sim::KeyRegistration::default()
        })
        .expect("register key");
    let sandbox_key = ApnsAuth::Token {
        p8_pem,
        key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
    };
    let outcome = client(&production_tokens, sandbox_key, 1)
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert_eq!(
        outcome.reason(),
        Some(&ApnsReason::BadEnvironmentKeyIdInToken)
    );
    assert_eq!(outcome.label(), "credential_rejected");
}
