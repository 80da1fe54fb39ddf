//! Every setting checked once at load, so the rest of the code can trust the values.

use secrecy::ExposeSecret;

use super::{Config, ConfigError, store_kind};
use crate::secrets::MasterKey;

/// The shortest retention of ended invites (besides 0, forever): the final status callback
/// replay looks back a day (`invites::callbacks`).
const MIN_INVITE_RETENTION_HOURS: u32 = 24;

impl Config {
    /// Checks every value; [`Config::load`] already does.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self
            .database_url
            .as_deref()
            .is_some_and(|u| store_kind(u).is_none())
        {
            return invalid("database_url must start with sqlite: or postgres://");
        }
        if let Some(key) = &self.master_key {
            MasterKey::from_base64(key.expose_secret())?;
        }
        if self.previous_keys().is_err() {
            return invalid("master_key_previous: each key must be base64 of exactly 32 bytes");
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).ok();
            let ok = parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && !url.ends_with('/')
                    && u.query().is_none()
                    && u.username().is_empty()
            });
            if !ok {
                return invalid(
                    "public_url must be the gateway's base URL without a path or a trailing slash, e.g. https://push.example.com",
                );
            }
        }
        if !(1..=1440).contains(&self.console_idle_minutes) {
            return invalid("console_idle_minutes must be between 1 and 1440");
        }
        if self.max_concurrent_credential_validations == 0 {
            return invalid("max_concurrent_credential_validations must be at least 1");
        }
        if self.credential_validation_wait_ms > 60_000 {
            return invalid("credential_validation_wait_ms must be at most 60000");
        }
        if self.max_waiting_invites == 0 {
            return invalid("max_waiting_invites must be at least 1");
        }
        if self.max_invites_calling_back == 0 {
            return invalid("max_invites_calling_back must be at least 1");
        }
        if self.max_registrations_per_identity == 0 {
            return invalid("max_registrations_per_identity must be at least 1");
        }
        if self.api_key_cache_seconds > 300 {
            return invalid("api_key_cache_seconds must be at most 300");
        }
        if self.token_leeway_seconds > 300 {
            return invalid("token_leeway_seconds must be at most 300");
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes must be at least 1024");
        }
        if !(100..=60_000).contains(&self.database_acquire_timeout_ms) {
            return invalid("database_acquire_timeout_ms must be between 100 and 60000");
        }
        if self.database_max_connections == 0 {
            return invalid("database_max_connections must be at least 1");
        }
        if self.apns_connections == 0 || self.apns_connections > 64 {
            return invalid("apns_connections must be between 1 and 64");
        }
        if self.delivery_concurrency == 0 {
            return invalid("delivery_concurrency must be at least 1");
        }
        if self.quickstart && !self.listen.ip().is_loopback() && !self.quickstart_allow_remote {
            return invalid(
                "quickstart endpoints mint tokens for anyone who asks: they run on a loopback \
                 listen address only, unless quickstart_allow_remote = true",
            );
        }
        if self
            .redis_url
            .as_deref()
            .is_some_and(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
        {
            return invalid("redis_url must start with redis:// or rediss://");
        }
        if self.queue_claim_idle_ms <= self.apns_request_timeout_ms {
            return invalid(
                "queue_claim_idle_ms must exceed apns_request_timeout_ms, or a live replica's \
                 pushes in flight would be claimed and sent twice",
            );
        }
        if self.queue_max_deliveries == 0 {
            return invalid("queue_max_deliveries must be at least 1");
        }
        if self.queue_sweep_after_ms < 1_000 {
            return invalid("queue_sweep_after_ms must be at least 1000");
        }
        if self.metrics_refresh_seconds == 0 {
            return invalid("metrics_refresh_seconds must be at least 1");
        }
        crate::http::server::validate_settings(self)?;
        if self.registration_ttl_days == 0 {
            return invalid("registration_ttl_days must be at least 1");
        }
        if (1..MIN_INVITE_RETENTION_HOURS).contains(&self.invite_retention_hours) {
            return invalid(
                "invite_retention_hours must be 0 (keep forever) or at least 24: an ended call's \
                 final status callback may be sent again within a day, and a repeated call_sid \
                 is recognized only while its invite is kept",
            );
        }
        if self.apns_request_timeout_ms == 0 {
            return invalid("apns_request_timeout_ms must be positive");
        }
        for (name, url) in [
            ("apns_production_url", &self.apns_production_url),
            ("apns_sandbox_url", &self.apns_sandbox_url),
        ] {
            if !url.starts_with("https://") {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be an https:// URL"
                )));
            }
        }
        if self.apns_ca_file.as_ref().is_some_and(|p| !p.is_file()) {
            return invalid("apns_ca_file does not name a readable file");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            return invalid("log is not a valid filter (e.g. `info` or `pushgate=debug,info`)");
        }
        Ok(())
    }
}
