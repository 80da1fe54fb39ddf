//! [`FcmClient`] over real TLS against the in-test HTTPS server: HTTP/2 negotiated, the
//! bearer sent, one refresh after a 401, `Retry-After` parsed, transport failures classified.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::oauth::verify_assertion;
use super::tls_server::{Reply, TestServer};
use super::{account, device_token};
use crate::fcm::{
    CredentialReason, FcmClient, FcmConfig, FcmMessage, FcmOutcome, InMemoryAccessTokenSource,
    JWT_BEARER_GRANT, OAuthError, RetryCause, SystemClock,
};

struct Setup {
    server: TestServer,
    client: FcmClient,
    tokens: InMemoryAccessTokenSource,
}

async fn setup_with(config: impl FnOnce(FcmConfig) -> FcmConfig) -> Setup {
    let server = TestServer::start().await;
    let base = Url::parse(&server.url("")).unwrap();
    let config = config(
        FcmConfig::default()
            .with_base_url(base)
            .with_extra_root_pem(server.ca_pem.clone()),
    );
    let client = FcmClient::new(config).expect("client");
    let exchange = client
        .token_exchange(&account(&server.url("/token")))
        .unwrap();
    let tokens = InMemoryAccessTokenSource::new(Arc::new(exchange), Arc::new(SystemClock));
    Setup {
        server,
        client,
        tokens,
    }
}

async fn setup() -> Setup {
    setup_with(|c| c).await
}

fn message() -> FcmMessage {
    FcmMessage::new(device_token())
        .data("call_sid", "CA1")
        .ttl(Duration::from_secs(30))
}

impl Setup {
    async fn send(&self) -> FcmOutcome {
        self.client
            .send("demo-project", &self.tokens, &message())
            .await
    }

    fn token_calls(&self) -> usize {
        self.server.state.token_calls.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn sends_over_http2_with_the_bearer() {
    let s = setup().await;
    let outcome = s.send().await;
    assert!(
        matches!(&outcome, FcmOutcome::Accepted { name, .. } if name == "projects/demo-project/messages/0:1"),
        "{outcome:?}"
    );
    let sends = s.server.state.requests_to("/messages:send");
    assert_eq!(sends.len(), 1);
    let send = &sends[0];
    assert_eq!(
        send.version,
        http::Version::HTTP_2,
        "HTTP/2 negotiated by ALPN"
    );
    assert_eq!(send.path, "/v1/projects/demo-project/messages:send");
    assert_eq!(send.authorization.as_deref(), Some("Bearer tok-1"));
    assert_eq!(
        send.content_type.as_deref(),
        Some("application/json; charset=UTF-8")
    );
    let body: Value = serde_json::from_slice(&send.body).unwrap();
    assert_eq!(body["message"]["token"], device_token());
    assert_eq!(body["message"]["android"]["ttl"], "30s");
    assert_eq!(body["message"]["data"]["call_sid"], "CA1");

    // The token request: a form-encoded JWT-bearer grant with a valid assertion.
    let token_requests = s.server.state.requests_to("/token");
    assert_eq!(token_requests.len(), 1);
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&token_requests[0].body).unwrap();
    assert_eq!(form[0], ("grant_type".into(), JWT_BEARER_GRANT.into()));
    assert_eq!(form[1].0, "assertion");
    let (_, claims) = verify_assertion(&form[1].1, &s.server.url("/token"));
    assert_eq!(claims.iss, "pushgate@demo-project.iam.gserviceaccount.com");
    assert_eq!(
        token_requests[0].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );

    // A second send reuses the token.
    assert!(s.send().await.is_accepted());
    assert_eq!(s.token_calls(), 1);
}

#[tokio::test]
async fn unauthenticated_refreshes_once_and_retries() {
    let s = setup().await;
    assert!(s.send().await.is_accepted());
    let unauthenticated = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
    s.server.state.script_send(Reply::new(401, unauthenticated));
    let outcome = s.send().await;
    assert!(outcome.is_accepted(), "{outcome:?}");
    assert_eq!(s.token_calls(), 2, "exactly one refresh");
    let auths: Vec<_> = s
        .server
        .state
        .requests_to("/messages:send")
        .into_iter()
        .map(|r| r.authorization.unwrap())
        .collect();
    assert_eq!(auths, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);

    // Refused again after the refresh: the credential is rejected, with one refresh only.
    s.server.state.script_send(Reply::new(401, unauthenticated));
    s.server.state.script_send(Reply::new(401, unauthenticated));
    let outcome = s.send().await;
    assert!(
        matches!(
            outcome,
            FcmOutcome::CredentialRejected {
                reason: CredentialReason::Unauthenticated,
                response: Some(_)
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(s.token_calls(), 3);
    assert_eq!(s.server.state.send_calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn quota_exceeded_carries_retry_after() {
    let s = setup().await;
    let body = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"QUOTA_EXCEEDED"}]}}"#;
    s.server
        .state
        .script_send(Reply::new(429, body).header("retry-after", "42"));
    let outcome = s.send().await;
    assert!(
        matches!(outcome, FcmOutcome::Retry { cause: RetryCause::QuotaExceeded, after: Some(d), response: Some(_) } if d == Duration::from_secs(42)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn token_endpoint_refusal_rejects_the_credential() {
    let s = setup().await;
    s.server.state.script_token(Reply::new(
        400,
        r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
    ));
    let outcome = s.send().await;
    let FcmOutcome::CredentialRejected {
        reason: CredentialReason::TokenRefused { error, description },
        response: None,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(error, OAuthError::InvalidGrant);
    assert_eq!(description.as_deref(), Some("Invalid JWT Signature."));
    assert!(
        s.server.state.requests_to("/messages:send").is_empty(),
        "nothing sent"
    );

    s.server
        .state
        .script_token(Reply::new(503, "").header("retry-after", "3"));
    let outcome = s.send().await;
    assert!(
        matches!(outcome, FcmOutcome::Retry { cause: RetryCause::TokenUnavailable, after: Some(d), .. } if d == Duration::from_secs(3)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retried() {
    let s = setup_with(|c| FcmConfig {
        request_timeout: Duration::from_millis(300),
        ..c
    })
    .await;
    let mut slow = Reply::new(200, r#"{"name":"late"}"#);
    slow.delay = Duration::from_secs(2);
    s.server.state.script_send(slow);
    assert_eq!(s.send().await, FcmOutcome::retry(RetryCause::Timeout));

    // FCM unreachable (tokens still come from the server).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = FcmConfig::default()
        .with_base_url(Url::parse(&format!("https://127.0.0.1:{port}")).unwrap())
        .with_extra_root_pem(s.server.ca_pem.clone());
    let unreachable = FcmClient::new(config).unwrap();
    let outcome = unreachable
        .send("demo-project", &s.tokens, &message())
        .await;
    assert_eq!(outcome, FcmOutcome::retry(RetryCause::Connect));
}

#[tokio::test]
async fn local_refusals_send_nothing() {
    let s = setup().await;
    let outcome = s
        .client
        .send("demo-project", &s.tokens, &FcmMessage::new("bad token"))
        .await;
    assert_eq!(outcome.label(), "refused");
    let outcome = s.client.send("../other", &s.tokens, &message()).await;
    assert_eq!(outcome.label(), "refused");
    assert!(s.server.state.requests.lock().unwrap().is_empty());
}

#[test]
fn config_is_checked() {
    let http = FcmConfig::default().with_base_url(Url::parse("http://127.0.0.1:1").unwrap());
    assert!(FcmClient::new(http).is_err());
    let bad_pem = FcmConfig::default().with_extra_root_pem(b"not a pem".to_vec());
    assert!(FcmClient::new(bad_pem).is_err());
    let client = FcmClient::new(FcmConfig::default()).unwrap();
    assert_eq!(
        client.send_url("demo-project").unwrap().as_str(),
        "https://fcm.googleapis.com/v1/projects/demo-project/messages:send"
    );
}
