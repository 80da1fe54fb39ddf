//! pushgate's own FCM client (`crate::fcm`) against the simulator: the key file the
//! simulator generated, a real token exchange and real HTTP/2 sends, and each answer
//! classified the way the delivery code will act on it.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::fcm::{
    CredentialReason, DeadReason, FcmClient, FcmConfig, FcmMessage, FcmOutcome,
    InMemoryAccessTokenSource, Priority, ServiceAccount,
};
use crate::mock_fcm::{FaultSpec, FaultTarget, TokenRegistration};

struct Fcm {
    client: FcmClient,
    tokens: InMemoryAccessTokenSource,
    project: String,
}

fn fcm(sim: &Simulator) -> Fcm {
    let base = url::Url::parse(&sim.base_url()).expect("url");
    let config = FcmConfig::default()
        .with_base_url(base)
        .with_extra_root_pem(sim.ca_pem().as_bytes().to_vec());
    let client = FcmClient::new(config).expect("client");
    let account = ServiceAccount::from_json(&sim.service_account_json()).expect("key file");
    let exchange = Arc::new(client.token_exchange(&account).expect("exchange"));
    let tokens = InMemoryAccessTokenSource::new(exchange, Arc::new(crate::clock::SystemClock));
    Fcm {
        client,
        tokens,
        project: account.project_id.clone(),
    }
}

impl Fcm {
    async fn send(&self, token: &str) -> FcmOutcome {
        let message = FcmMessage::new(token)
            .data("call_sid", "CA1")
            .priority(Priority::High)
            .ttl(Duration::from_secs(30))
            .collapse_key("CA1");
        self.client
            .send(&self.project, &self.tokens, &message)
            .await
    }
}

fn error(code: &str) -> FaultSpec {
    FaultSpec {
        error_code: Some(code.into()),
        count: Some(1),
        ..FaultSpec::default()
    }
}

#[tokio::test]
async fn pushgates_client_sends_and_classifies() {
    let (sim, _clock) = sim().await;
    let fcm = fcm(&sim);
    let outcome = fcm.send(&fcm_token(1)).await;
    let FcmOutcome::Accepted { name, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        name.starts_with("projects/pushgate-test/messages/0:"),
        "{name}"
    );
    let sent = &sim.pushes(0)[0];
    assert_eq!(sent.protocol, "HTTP/2");
    assert_eq!(sent.android.as_ref().unwrap()["ttl"], "30s");
    assert_eq!(sent.android.as_ref().unwrap()["priority"], "HIGH");

    sim.add_fault(&error("UNREGISTERED")).unwrap();
    let outcome = fcm.send(&fcm_token(1)).await;
    assert!(
        matches!(
            outcome,
            FcmOutcome::TokenDead {
                reason: DeadReason::Unregistered,
                ..
            }
        ),
        "{outcome:?}"
    );
    sim.add_fault(&error("INVALID_ARGUMENT")).unwrap();
    let outcome = fcm.send(&fcm_token(1)).await;
    assert!(
        matches!(
            outcome,
            FcmOutcome::TokenDead {
                reason: DeadReason::InvalidToken,
                ..
            }
        ),
        "{outcome:?}"
    );
    sim.register_token(&TokenRegistration {
        token: fcm_token(2),
        project_id: "other-project".into(),
    })
    .unwrap();
    let outcome = fcm.send(&fcm_token(2)).await;
    assert!(
        matches!(outcome, FcmOutcome::SenderMismatch { .. }),
        "{outcome:?}"
    );
    sim.add_fault(&FaultSpec {
        retry_after_secs: Some(9),
        ..error("QUOTA_EXCEEDED")
    })
    .unwrap();
    let outcome = fcm.send(&fcm_token(1)).await;
    let FcmOutcome::Retry { after, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(*after, Some(Duration::from_secs(9)));
    assert_eq!(
        sim.stats().tokens_issued,
        1,
        "one access token for every send"
    );
}

#[tokio::test]
async fn pushgates_client_refreshes_after_401_and_reports_a_refused_credential() {
    let (sim, _clock) = sim().await;
    let fcm = fcm(&sim);
    assert!(matches!(
        fcm.send(&fcm_token(1)).await,
        FcmOutcome::Accepted { .. }
    ));
    assert_eq!(sim.expire_access_tokens(), 1);
    let outcome = fcm.send(&fcm_token(1)).await;
    assert!(
        matches!(outcome, FcmOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(sim.stats().tokens_issued, 2);
    assert_eq!(sim.stats().rejected_by_error_code["UNAUTHENTICATED"], 1);
    // The token endpoint refuses the account from now on.
    let refuse = FaultSpec {
        target: Some(FaultTarget::Token),
        error_code: Some("invalid_grant".into()),
        ..FaultSpec::default()
    };
    sim.add_fault(&refuse).unwrap();
    sim.expire_access_tokens();
    let outcome = fcm.send(&fcm_token(1)).await;
    assert!(
        matches!(
            &outcome,
            FcmOutcome::CredentialRejected {
                reason: CredentialReason::TokenRefused { .. },
                ..
            }
        ),
        "{outcome:?}"
    );
}
