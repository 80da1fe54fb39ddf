//! Client configuration: endpoint, extra trust roots, timeouts and pool settings, and
//! [`FcmError`], what building a client can fail with.

use std::time::Duration;

use url::Url;

/// Google's FCM endpoint.
pub const FCM_URL: &str = "https://fcm.googleapis.com";

/// Settings for an [`FcmClient`](super::FcmClient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmConfig {
    /// Where `messages:send` goes, default [`FCM_URL`] (a simulator's `https://host:port`
    /// works too; a path is kept as a prefix).
    pub base_url: Url,
    /// Extra trust roots (PEM, each may hold several certificates), trusted in addition to
    /// the system roots; for both FCM and the token endpoint.
    pub extra_root_pems: Vec<Vec<u8>>,
    /// Budget for one send attempt, connecting and reading the answer included (default 10 s).
    pub request_timeout: Duration,
    /// Budget for one access-token exchange (default 10 s).
    pub token_timeout: Duration,
    /// Budget for TCP connect plus TLS handshake (default 10 s).
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this (default 90 s).
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per host (default 4; HTTP/2 multiplexes, so one is usually used).
    pub pool_max_idle_per_host: usize,
    /// HTTP/2 PING after this much idleness, to notice dead connections; `None` disables
    /// (default 60 s).
    pub keep_alive_interval: Option<Duration>,
    /// Close a connection whose PING is not answered within this (default 10 s).
    pub keep_alive_timeout: Duration,
}

impl Default for FcmConfig {
    fn default() -> Self {
        Self {
            base_url: Url::parse(FCM_URL).unwrap_or_else(|_| unreachable!("constant URL")),
            extra_root_pems: Vec::new(),
            request_timeout: Duration::from_secs(10),
            token_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 4,
            keep_alive_interval: Some(Duration::from_secs(60)),
            keep_alive_timeout: Duration::from_secs(10),
        }
    }
}

impl FcmConfig {
    /// Points the client at `url` (e.g. a local simulator).
    pub fn with_base_url(mut self, url: Url) -> Self {
        self.base_url = url;
        self
    }

    /// Adds trust roots from PEM bytes.
    pub fn with_extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_root_pems.push(pem.into());
        self
    }

    /// Checks what can be checked before building.
    pub fn validate(&self) -> Result<(), FcmError> {
        if self.base_url.scheme() != "https" || self.base_url.host().is_none() {
            return Err(FcmError::Config(
                "base_url must be https://host[:port]".into(),
            ));
        }
        if self.base_url.query().is_some() || self.base_url.fragment().is_some() {
            return Err(FcmError::Config(
                "base_url must not have a query or fragment".into(),
            ));
        }
        for (name, value) in [
            ("request_timeout", self.request_timeout),
            ("token_timeout", self.token_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(FcmError::Config(format!("{name} must be positive")));
            }
        }
        Ok(())
    }
}

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FcmError {
    /// A setting is invalid.
    #[error("invalid FCM configuration: {0}")]
    Config(String),
    /// A trust root is not PEM, or the TLS stack refused the settings.
    #[error("FCM TLS setup failed: {0}")]
    Tls(String),
}
