//! Per-connection authentication, as APNs does it: a connection with a
//! client certificate uses certificate auth; otherwise every request needs
//! `authorization: bearer <provider token>`.
//!
//! A verified provider token is cached per connection, so a connection that
//! keeps one token pays for signature verification once; its age is checked
//! on every request against the (injectable) clock.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use super::Shared;
use super::client_cert::ClientCertInfo;
use super::config::Environment;
use super::provider_token;
use super::records::AuthInfo;
use super::registry::ProviderKey;

/// An authentication failure: HTTP status and Apple reason.
pub(crate) type Rejection = (u16, &'static str);

/// A successful authentication.
#[derive(Debug)]
pub(crate) struct Authed<'c> {
    pub info: AuthInfo,
    /// Environment pinned by the credential (single-environment cert/key).
    pub environment: Option<Environment>,
    pub cert: Option<&'c ClientCertInfo>,
    pub key: Option<Arc<ProviderKey>>,
}

#[derive(Debug)]
struct Cached {
    token: String,
    key_id: String,
    team_id: String,
    issued_at: i64,
    key: Option<Arc<ProviderKey>>,
    generation: u64,
}

#[derive(Debug, Default)]
struct TokenState {
    cached: Option<Cached>,
    /// Team of the first authenticated push on this connection.
    team: Option<String>,
}

/// Authentication state of one connection.
#[derive(Debug)]
pub(crate) struct ConnAuth {
    cert: Option<ClientCertInfo>,
    state: Mutex<TokenState>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl ConnAuth {
    /// State for a connection that presented `cert` (if any).
    pub fn new(cert: Option<ClientCertInfo>) -> ConnAuth {
        ConnAuth {
            cert,
            state: Mutex::new(TokenState::default()),
        }
    }

    /// Authenticates one request.
    pub fn authenticate(
        &self,
        shared: &Shared,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authed<'_>, Rejection> {
        if let Some(cert) = &self.cert {
            if !cert.trusted {
                return Err((403, "BadCertificate"));
            }
            if !cert.allowed_in(shared.mode) {
                return Err((403, "BadCertificateEnvironment"));
            }
            return Ok(Authed {
                info: AuthInfo::Certificate {
                    subject: cert.subject.clone(),
                    fingerprint_sha256: cert.fingerprint_sha256.clone(),
                    uid: cert.uid.clone(),
                },
                environment: cert.sole_environment(),
                cert: Some(cert),
                key: None,
            });
        }
        let token = bearer(headers).ok_or((403, "MissingProviderToken"))?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let generation = shared.registry.key_generation();
        let cache_hit = state
            .cached
            .as_ref()
            .is_some_and(|c| c.token == token && c.generation == generation);
        let candidate = if cache_hit {
            None
        } else {
            Some(self.verify(shared, token, generation)?)
        };
        let current = candidate.as_ref().or(state.cached.as_ref());
        let Some(current) = current else {
            return Err((403, "InvalidProviderToken"));
        };
        if let Some(team) = &state.team
            && *team != current.team_id
        {
            return Err((403, "UnrelatedKeyIdInToken"));
        }
        let key_env = current.key.as_ref().and_then(|k| k.environment);
        if let Some(env) = key_env
            && !shared.mode.serves(env)
        {
            return Err((403, "BadEnvironmentKeyIdInToken"));
        }
        let now_secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let max_age = shared.provider_token_max_age.as_secs() as i64;
        if current.issued_at.saturating_add(max_age) < now_secs {
            return Err((403, "ExpiredProviderToken"));
        }
        if candidate.is_some()
            && !shared.registry.note_token_use(
                &current.key_id,
                token,
                now,
                shared.provider_token_min_refresh,
            )
        {
            return Err((429, "TooManyProviderTokenUpdates"));
        }
        let authed = Authed {
            info: AuthInfo::Token {
                key_id: current.key_id.clone(),
                team_id: current.team_id.clone(),
                issued_at: current.issued_at,
            },
            environment: key_env,
            cert: None,
            key: current.key.clone(),
        };
        if let Some(c) = candidate {
            state.team.get_or_insert_with(|| c.team_id.clone());
            state.cached = Some(c);
        }
        Ok(authed)
    }

    /// Parses and (when keys are enforced) verifies a new provider token.
    fn verify(&self, shared: &Shared, token: &str, generation: u64) -> Result<Cached, Rejection> {
        const INVALID: Rejection = (403, "InvalidProviderToken");
        let parsed = provider_token::parse(token).ok_or(INVALID)?;
        let key = if shared.strict || shared.registry.keys_active() {
            let key = shared.registry.key(&parsed.key_id).ok_or(INVALID)?;
            if !parsed.verify(&key.public) || parsed.team_id != key.team_id {
                return Err(INVALID);
            }
            Some(key)
        } else {
            None
        };
        Ok(Cached {
            token: token.to_string(),
            key_id: parsed.key_id,
            team_id: parsed.team_id,
            issued_at: parsed.issued_at,
            key,
            generation,
        })
    }
}
