//! [`ApnsClient`]: one per credential, shared by every sender.
//!
//! `send` validates locally, picks a pooled connection for the notification's
//! environment, attaches a provider token for token auth, and classifies the
//! answer. It retries by itself only where that is provably safe or required:
//! a request APNs provably did not process (it never left because the
//! connection was closing, the stream was reset with REFUSED_STREAM, or it was
//! above a graceful GOAWAY's last stream id) is sent again, up to 3 attempts,
//! and `ExpiredProviderToken` gets a freshly signed token on a new connection,
//! once. Everything else is the caller's decision, via
//! [`Outcome`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::auth::ApnsAuth;
use super::config::ApnsError;
use super::config::{ApnsConfig, Endpoint};
use super::connection::{Attempt, ConnSettings};
use super::outcome::{Outcome, RetryCause, classify};
use super::pool::{Pool, PoolStats};
use super::request::{Environment, Notification};
use super::tls;
use super::token::TokenError;
use super::token::{Clock, SystemClock};
use super::token::{InMemoryTokenSource, ProviderToken, ProviderTokenSigner, ProviderTokenSource};

/// Attempts for a request APNs provably did not process (never sent, refused
/// stream, above a graceful GOAWAY's last stream id) before giving up with Retry.
const MAX_UNSENT_ATTEMPTS: usize = 3;

/// Sends pushes for one credential over pooled HTTP/2 connections. Cheap to clone.
#[derive(Clone)]
pub struct ApnsClient {
    inner: Arc<Inner>,
}

struct Inner {
    production: Pool,
    sandbox: Pool,
    tokens: Option<Arc<dyn ProviderTokenSource>>,
    request_timeout: Duration,
    auth_kind: &'static str,
}

impl fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsClient")
            .field("auth", &self.inner.auth_kind)
            .field("production", &self.inner.production.base())
            .field("sandbox", &self.inner.sandbox.base())
            .finish_non_exhaustive()
    }
}

/// Builds an [`ApnsClient`]; see [`ApnsClient::builder`].
#[derive(Debug)]
pub struct ApnsClientBuilder {
    auth: ApnsAuth,
    config: ApnsConfig,
    token_source: Option<Arc<dyn ProviderTokenSource>>,
    clock: Arc<dyn Clock>,
}

impl ApnsClientBuilder {
    /// Replaces the default configuration.
    pub fn config(mut self, config: ApnsConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses `source` for provider tokens instead of a per-process cache
    /// (e.g. a store shared by replicas). Only meaningful for token auth.
    pub fn token_source(mut self, source: Arc<dyn ProviderTokenSource>) -> Self {
        self.token_source = Some(source);
        self
    }

    /// The clock for the default token cache (tests inject a [`ManualClock`](super::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and credential and builds the client. No
    /// connection is opened until the first send; no runtime is needed until then.
    pub fn build(self) -> Result<ApnsClient, ApnsError> {
        let config = self.config;
        config.validate()?;
        let identity = self.auth.client_identity()?;
        let connector = tls::build_connector(&config, identity.as_ref())?;
        let tokens = match (&self.auth, self.token_source) {
            (ApnsAuth::Certificate { .. }, _) => None,
            (ApnsAuth::Token { .. }, Some(source)) => Some(source),
            (
                ApnsAuth::Token {
                    p8_pem,
                    key_id,
                    team_id,
                },
                None,
            ) => {
                let signer = ProviderTokenSigner::new(p8_pem, key_id, team_id)?;
                let cache =
                    InMemoryTokenSource::new(signer, self.clock, config.token_refresh_after);
                Some(Arc::new(cache) as Arc<dyn ProviderTokenSource>)
            }
        };
        let settings = ConnSettings {
            connect_timeout: config.connect_timeout,
            idle_ping_interval: config.idle_ping_interval,
            ping_timeout: config.ping_timeout,
        };
        let pool = |env| -> Result<Pool, ApnsError> {
            Ok(Pool::new(
                env,
                Endpoint::parse(config.url(env))?,
                connector.clone(),
                settings,
                config.connections_per_environment,
            ))
        };
        Ok(ApnsClient {
            inner: Arc::new(Inner {
                production: pool(Environment::Production)?,
                sandbox: pool(Environment::Sandbox)?,
                tokens,
                request_timeout: config.request_timeout,
                auth_kind: self.auth.kind(),
            }),
        })
    }
}

impl ApnsClient {
    /// A builder with the default configuration and the system clock.
    pub fn builder(auth: ApnsAuth) -> ApnsClientBuilder {
        ApnsClientBuilder {
            auth,
            config: ApnsConfig::default(),
            token_source: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Shorthand for `builder(auth).config(config).build()`.
    pub fn new(config: ApnsConfig, auth: ApnsAuth) -> Result<Self, ApnsError> {
        Self::builder(auth).config(config).build()
    }

    /// Connection and in-flight counts for `env`.
    pub fn stats(&self, env: Environment) -> PoolStats {
        self.pool(env).stats()
    }

    fn pool(&self, env: Environment) -> &Pool {
        match env {
            Environment::Production => &self.inner.production,
            Environment::Sandbox => &self.inner.sandbox,
        }
    }

    /// Sends one notification. Never panics and never returns early without an
    /// [`Outcome`]; local rule breaks come back as [`Outcome::Refused`] and
    /// nothing is sent. The whole call is bounded by the request timeout.
    pub async fn send(&self, n: Notification) -> Outcome {
        if let Err(refusal) = n.validate() {
            tracing::warn!(token = %n.redacted_token(), reason = %refusal, "APNs push refused locally");
            return Outcome::Refused { refusal };
        }
        let outcome =
            match tokio::time::timeout(self.inner.request_timeout, self.send_inner(&n)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::retry(RetryCause::Timeout),
            };
        log_outcome(&n, &outcome);
        outcome
    }

    async fn send_inner(&self, n: &Notification) -> Outcome {
        let pool = self.pool(n.environment);
        let mut unsent = 0;
        let mut token_refreshed = false;
        let mut prefer_slot = None;
        loop {
            let token = match self.token(None).await {
                Ok(token) => token,
                Err(outcome) => return outcome,
            };
            let conn = match pool.acquire(prefer_slot).await {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::debug!(env = n.environment.as_str(), error = %e.message, "no APNs connection");
                    return Outcome::Retry {
                        cause: RetryCause::Connect,
                        after: e.retry_in,
                        response: None,
                    };
                }
            };
            let request = match n.to_request(pool.base(), token.as_ref().map(|t| t.expose_jwt())) {
                Ok(request) => request,
                Err(refusal) => return Outcome::Refused { refusal },
            };
            match conn.send(request, n.payload.clone(), &pool.counters).await {
                Attempt::NotSent(cause, error) => {
                    unsent += 1;
                    tracing::debug!(conn = conn.id, %error, cause = cause.label(), attempt = unsent,
                        "APNs did not process the request; sending it again");
                    if unsent >= MAX_UNSENT_ATTEMPTS {
                        return Outcome::retry(cause);
                    }
                    prefer_slot = None;
                }
                Attempt::Failed(cause, error) => {
                    tracing::debug!(conn = conn.id, %error, cause = cause.label(), "APNs request failed in flight");
                    return Outcome::retry(cause);
                }
                Attempt::Response {
                    status,
                    headers,
                    body,
                    latency,
                } => {
                    let outcome = classify(status, &headers, &body, latency);
                    let Outcome::Retry { cause, .. } = &outcome else {
                        return outcome;
                    };
                    match cause {
                        RetryCause::ExpiredProviderToken if !token_refreshed => {
                            let Some(rejected) = token else {
                                return outcome;
                            };
                            token_refreshed = true;
                            if let Err(outcome) = self.token(Some(&rejected)).await {
                                return outcome;
                            }
                            // Apple: sign a fresh token and retry on a new connection.
                            conn.retire();
                            prefer_slot = Some(conn.slot);
                        }
                        RetryCause::IdleTimeout | RetryCause::Shutdown => {
                            conn.retire();
                            return outcome;
                        }
                        _ => return outcome,
                    }
                }
            }
        }
    }

    /// The current provider token (`rejected: None`) or a replacement for a rejected
    /// one; `Ok(None)` for certificate auth. Failures come back as the outcome to return.
    async fn token(
        &self,
        rejected: Option<&ProviderToken>,
    ) -> Result<Option<ProviderToken>, Outcome> {
        let Some(source) = &self.inner.tokens else {
            return Ok(None);
        };
        let result = match rejected {
            None => source.current().await,
            Some(rejected) => source.refresh(rejected).await,
        };
        match result {
            Ok(token) => Ok(Some(token)),
            Err(TokenError::Signing(detail)) => Err(Outcome::CredentialRejected {
                response: None,
                detail: Some(detail),
            }),
            Err(TokenError::Unavailable(detail)) => {
                tracing::warn!(%detail, "provider token unavailable");
                Err(Outcome::retry(RetryCause::ProviderTokenUnavailable))
            }
        }
    }
}

fn log_outcome(n: &Notification, outcome: &Outcome) {
    let token = n.redacted_token();
    let env = n.environment.as_str();
    let reason = outcome
        .reason()
        .map(|r| r.as_str().to_owned())
        .unwrap_or_default();
    let status = outcome.response().map(|r| r.status).unwrap_or(0);
    match outcome {
        Outcome::Accepted { latency, .. } => {
            tracing::debug!(%token, env, latency_ms = latency.as_millis() as u64, "APNs accepted push");
        }
        Outcome::Retry { cause, .. } => {
            tracing::info!(%token, env, status, %reason, cause = cause.label(), "APNs push to be retried");
        }
        Outcome::TokenDead { .. } | Outcome::WrongEnvironment { .. } => {
            tracing::info!(%token, env, status, %reason, outcome = outcome.label(), "APNs rejected device token");
        }
        Outcome::NotForTopic { .. } | Outcome::CredentialRejected { .. } => {
            tracing::warn!(%token, env, status, %reason, topic = %n.topic, outcome = outcome.label(), "APNs configuration problem");
        }
        Outcome::OurBug { .. } => {
            tracing::error!(%token, env, status, %reason, "APNs says our request is malformed");
        }
        Outcome::Refused { .. } => {}
    }
}
