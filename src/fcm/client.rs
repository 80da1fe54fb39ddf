//! [`FcmClient`]: one per process, shared by every credential and sender.
//!
//! One reqwest client holds the connection pool: HTTP/2 over TLS (negotiated by ALPN), so
//! concurrent sends multiplex over a connection per host, kept alive with PINGs. The same
//! client serves the token endpoints. `send` checks the message locally, gets an access
//! token, posts, and classifies the answer. It retries by itself in one case only: FCM
//! refused the access token (401 / `THIRD_PARTY_AUTH_ERROR`) — the token is invalidated and
//! the send repeated once with a fresh one; a second refusal rejects the credential.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::HeaderValue;
use url::Url;

use super::access_token::{AccessToken, AccessTokenSource, TokenError};
use super::account::ServiceAccount;
use super::config::{FcmConfig, FcmError};
use super::message::{FcmMessage, check_project_id};
use super::oauth::OAuthTokenExchange;
use super::outcome::{CredentialReason, FcmOutcome, RetryCause, classify};
use super::wire::{self, Transport};

/// Sends FCM messages over pooled HTTP/2 connections. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FcmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    config: FcmConfig,
}

impl FcmClient {
    /// Builds the client (no connection is opened until the first request).
    pub fn new(config: FcmConfig) -> Result<Self, FcmError> {
        config.validate()?;
        let mut roots = Vec::new();
        for pem in &config.extra_root_pems {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| FcmError::Tls(format!("extra root PEM: {e}")))?;
            if certs.is_empty() {
                return Err(FcmError::Tls("extra root PEM holds no certificate".into()));
            }
            roots.extend(certs);
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("pushgate/", env!("CARGO_PKG_VERSION")))
            // The assertion and bearer must never follow a redirect elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .tls_certs_merge(roots);
        if let Some(interval) = config.keep_alive_interval {
            builder = builder
                .http2_keep_alive_interval(interval)
                .http2_keep_alive_timeout(config.keep_alive_timeout)
                .http2_keep_alive_while_idle(true);
        }
        let http = builder.build().map_err(|e| FcmError::Tls(e.to_string()))?;
        let mut base = config.base_url.clone();
        if let Ok(mut path) = base.path_segments_mut() {
            path.pop_if_empty();
        }
        Ok(Self {
            inner: Arc::new(Inner { http, base, config }),
        })
    }

    /// The pooled HTTP client (for token exchanges, which then share its trust roots).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// An OAuth2 exchange for `account` over this client, bounded by `token_timeout`.
    pub fn token_exchange(
        &self,
        account: &ServiceAccount,
    ) -> Result<OAuthTokenExchange, TokenError> {
        OAuthTokenExchange::new(
            self.inner.http.clone(),
            account,
            self.inner.config.token_timeout,
        )
    }

    /// `{base}/v1/projects/{project_id}/messages:send`.
    pub fn send_url(&self, project_id: &str) -> Result<Url, super::message::Refusal> {
        check_project_id(project_id)?;
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|_| super::message::Refusal::InvalidProjectId)?
            .extend(["v1", "projects", project_id, "messages:send"]);
        Ok(url)
    }

    /// Sends `message` for `project_id` with tokens from `tokens`. Never panics and always
    /// ends in an [`FcmOutcome`]; local rule breaks are [`FcmOutcome::Refused`] and nothing
    /// is sent.
    pub async fn send(
        &self,
        project_id: &str,
        tokens: &dyn AccessTokenSource,
        message: &FcmMessage,
    ) -> FcmOutcome {
        let prepared = self
            .send_url(project_id)
            .and_then(|url| message.to_json().map(|body| (url, Bytes::from(body))));
        let outcome = match prepared {
            Ok((url, body)) => self.send_with_refresh(&url, &body, tokens).await,
            Err(refusal) => FcmOutcome::Refused { refusal },
        };
        log_outcome(message, &outcome);
        outcome
    }

    async fn send_with_refresh(
        &self,
        url: &Url,
        body: &Bytes,
        tokens: &dyn AccessTokenSource,
    ) -> FcmOutcome {
        let mut refreshed = false;
        loop {
            let token = match tokens.token().await {
                Ok(token) => token,
                Err(error) => return token_outcome(error),
            };
            let outcome = self.attempt(url, body, &token).await;
            if outcome.is_auth_refusal() && !refreshed {
                tracing::info!("FCM refused the access token; refreshing it and retrying once");
                tokens.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            return outcome;
        }
    }

    async fn attempt(&self, url: &Url, body: &Bytes, token: &AccessToken) -> FcmOutcome {
        let Ok(mut bearer) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) else {
            return FcmOutcome::OurBug {
                response: None,
                detail: Some("access token is not a valid header value".into()),
            };
        };
        bearer.set_sensitive(true);
        let started = Instant::now();
        let sent = self
            .inner
            .http
            .post(url.clone())
            .timeout(self.inner.config.request_timeout)
            .header(http::header::AUTHORIZATION, bearer)
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=UTF-8",
            )
            .body(body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(error = %e, "FCM request failed");
                return FcmOutcome::retry(transport_cause(Transport::of(&e)));
            }
        };
        let latency = started.elapsed();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        match wire::read_capped(response, wire::MAX_BODY).await {
            Ok(body) => classify(status, &headers, &body, latency, SystemTime::now()),
            Err(t) => FcmOutcome::retry(transport_cause(t)),
        }
    }
}

fn transport_cause(t: Transport) -> RetryCause {
    match t {
        Transport::Timeout => RetryCause::Timeout,
        Transport::Connect => RetryCause::Connect,
        Transport::ConnectionLost => RetryCause::ConnectionLost,
    }
}

/// What a failure to get an access token means for the send.
pub fn token_outcome(error: TokenError) -> FcmOutcome {
    let reason = match error {
        TokenError::Transient { retry_after, .. } => {
            return FcmOutcome::Retry {
                cause: RetryCause::TokenUnavailable,
                after: retry_after,
                response: None,
            };
        }
        TokenError::Refused {
            error, description, ..
        } => CredentialReason::TokenRefused { error, description },
        TokenError::Malformed { .. } => CredentialReason::TokenResponseMalformed,
        TokenError::Signing(_) => CredentialReason::KeyUnusable,
    };
    FcmOutcome::CredentialRejected {
        reason,
        response: None,
    }
}

fn log_outcome(message: &FcmMessage, outcome: &FcmOutcome) {
    let token = message.redacted_token();
    match outcome {
        FcmOutcome::Accepted { latency, .. } => {
            tracing::debug!(%token, latency_ms = latency.as_millis() as u64, "FCM accepted");
        }
        FcmOutcome::Retry { cause, after, .. } => {
            tracing::info!(%token, cause = cause.label(), after_s = after.map(|a| a.as_secs()),
                "FCM send to retry");
        }
        FcmOutcome::Refused { refusal } => {
            tracing::warn!(%token, reason = %refusal, "FCM message refused locally");
        }
        other => {
            let response = other.response();
            tracing::warn!(%token, outcome = other.label(),
                status = response.map(|r| r.status),
                error_code = ?response.and_then(|r| r.error_code.as_ref()),
                message = response.and_then(|r| r.message.as_deref()),
                "FCM send failed");
        }
    }
}
