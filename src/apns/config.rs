//! Client configuration: endpoints, trust roots, pool size and timeouts.
//!
//! Defaults follow Apple's guidance and what mature clients do: a couple of
//! long-lived connections per environment, an HTTP/2 PING after a minute of
//! idleness, provider tokens reused for 50 minutes. Both endpoint URLs can point
//! at any `https://host[:port]`, including a local simulator. [`ApnsError`] is
//! what building a client from a configuration and credential can fail with.

use std::path::Path;
use std::time::Duration;

/// Default age at which a token is replaced on schedule.
pub const DEFAULT_TOKEN_REFRESH_AFTER: Duration = Duration::from_secs(50 * 60);

use thiserror::Error;

use super::request::Environment;

/// Apple's production endpoint.
pub const PRODUCTION_URL: &str = "https://api.push.apple.com";
/// Apple's development (sandbox) endpoint.
pub const SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";

/// Settings for an [`ApnsClient`](super::ApnsClient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsConfig {
    /// Production endpoint, default [`PRODUCTION_URL`].
    pub production_url: String,
    /// Sandbox endpoint, default [`SANDBOX_URL`].
    pub sandbox_url: String,
    /// Extra trust roots (PEM, each may hold several certificates), trusted in
    /// addition to the system roots.
    pub extra_root_pems: Vec<Vec<u8>>,
    /// Maximum connections per environment (default 2).
    pub connections_per_environment: usize,
    /// Budget for one [`send`](super::ApnsClient::send), connecting included (default 10 s).
    pub request_timeout: Duration,
    /// Budget for TCP connect plus TLS and HTTP/2 handshakes (default 10 s).
    pub connect_timeout: Duration,
    /// Send an HTTP/2 PING after this much idleness; `None` disables pings (default 60 s).
    pub idle_ping_interval: Option<Duration>,
    /// Close a connection whose PING is not answered within this (default 10 s).
    pub ping_timeout: Duration,
    /// Age at which provider tokens are replaced (default 50 min, clamped to 20–55 min).
    pub token_refresh_after: Duration,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        Self {
            production_url: PRODUCTION_URL.to_owned(),
            sandbox_url: SANDBOX_URL.to_owned(),
            extra_root_pems: Vec::new(),
            connections_per_environment: 2,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            idle_ping_interval: Some(Duration::from_secs(60)),
            ping_timeout: Duration::from_secs(10),
            token_refresh_after: DEFAULT_TOKEN_REFRESH_AFTER,
        }
    }
}

impl ApnsConfig {
    /// Points both environments at one URL (handy for a local simulator).
    pub fn with_url_for_both(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.production_url.clone_from(&url);
        self.sandbox_url = url;
        self
    }

    /// Adds trust roots from PEM bytes.
    pub fn with_extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_root_pems.push(pem.into());
        self
    }

    /// Adds trust roots from a PEM file.
    pub fn with_extra_root_pem_file(self, path: impl AsRef<Path>) -> Result<Self, ApnsError> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| ApnsError::Config(format!("reading CA file {}: {e}", path.display())))?;
        Ok(self.with_extra_root_pem(pem))
    }

    /// The URL configured for `env`.
    pub fn url(&self, env: Environment) -> &str {
        match env {
            Environment::Production => &self.production_url,
            Environment::Sandbox => &self.sandbox_url,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ApnsError> {
        if self.connections_per_environment == 0 {
            return Err(ApnsError::Config(
                "connections_per_environment must be at least 1".into(),
            ));
        }
        if self.request_timeout.is_zero()
            || self.connect_timeout.is_zero()
            || self.ping_timeout.is_zero()
        {
            return Err(ApnsError::Config("timeouts must be positive".into()));
        }
        if self.idle_ping_interval.is_some_and(|d| d.is_zero()) {
            return Err(ApnsError::Config(
                "idle_ping_interval must be positive (or None)".into(),
            ));
        }
        Endpoint::parse(&self.production_url)?;
        Endpoint::parse(&self.sandbox_url)?;
        Ok(())
    }
}

/// A problem with the client's configuration or credential.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApnsError {
    /// The configuration is unusable (bad URL, zero connections, unreadable CA file, ...).
    #[error("invalid APNs configuration: {0}")]
    Config(String),
    /// The credential cannot be used (unparseable key or certificate, mismatched pair, ...).
    /// Never contains secret material.
    #[error("unusable APNs credential: {0}")]
    Credential(String),
    /// Building the TLS context failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// Where one environment's connections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Host for TCP and TLS: a DNS name or a bare IP (IPv6 without brackets).
    pub(crate) host: String,
    /// TCP port.
    pub(crate) port: u16,
    /// `https://authority` prefix for request URIs.
    pub(crate) base: String,
}

impl Endpoint {
    /// Parses `https://host[:port][/]`.
    pub(crate) fn parse(url: &str) -> Result<Self, ApnsError> {
        let bad = |why: &str| ApnsError::Config(format!("APNs URL {url:?}: {why}"));
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("scheme must be https"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("must not have a path or query"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not hold user info"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(443),
            base: format!("https://{}", authority.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_apple() {
        let c = ApnsConfig::default();
        assert_eq!(c.url(Environment::Production), "https://api.push.apple.com");
        assert_eq!(
            c.url(Environment::Sandbox),
            "https://api.sandbox.push.apple.com"
        );
        assert_eq!(c.connections_per_environment, 2);
        c.validate().expect("defaults are valid");
        let e = Endpoint::parse(PRODUCTION_URL).expect("parse");
        assert_eq!((e.host.as_str(), e.port), ("api.push.apple.com", 443));
        assert_eq!(e.base, "https://api.push.apple.com");
    }

    #[test]
    fn accepts_local_and_ipv6_urls() {
        let e = Endpoint::parse("https://127.0.0.1:8443/").expect("parse");
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8443));
        assert_eq!(e.base, "https://127.0.0.1:8443");
        let e = Endpoint::parse("https://[::1]:2197").expect("parse");
        assert_eq!((e.host.as_str(), e.port), ("::1", 2197));
        let c = ApnsConfig::default().with_url_for_both("https://localhost:1");
        assert_eq!(c.production_url, c.sandbox_url);
    }

    #[test]
    fn rejects_bad_urls_and_settings() {
        for url in [
            "http://api.push.apple.com",
            "https://h/3/device",
            "nope",
            "https://u@h",
            "https://h?q=1",
        ] {
            assert!(Endpoint::parse(url).is_err(), "{url}");
        }
        let zero = ApnsConfig {
            connections_per_environment: 0,
            ..ApnsConfig::default()
        };
        assert!(zero.validate().is_err());
        let no_timeout = ApnsConfig {
            request_timeout: Duration::ZERO,
            ..ApnsConfig::default()
        };
        assert!(no_timeout.validate().is_err());
        assert!(
            ApnsConfig::default()
                .with_extra_root_pem_file("/nonexistent/ca.pem")
                .is_err()
        );
    }
}
