//! The quickstart app server's endpoints, served by pushgate itself (seed steps 3–10 without a
//! separate server): `/accessToken` mints a phone's access token and `/placeCall` rings an
//! identity, both with the account's default API key and push credential. Enabled by
//! `serve --quickstart`; loopback only unless `quickstart_allow_remote`. A browser on the
//! operator's machine can be made to reach a loopback listener (DNS rebinding, cross-site
//! requests), so both also require a `Host` naming a loopback host (unless
//! `quickstart_allow_remote`), and `/placeCall` — which rings phones — is POST only.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use super::error::code;
use super::extract::token_refused;
use super::{ApiError, AppState};
use crate::auth::access_token::{MintRequest, mint};
use crate::auth::accounts::{self, AccountChoice};
use crate::auth::{ApiKeyPrincipal, api_keys};
use crate::clock::now_secs;
use crate::domain::Identity;
use crate::invites::{InviteError, InviteFields, NewInvite};

/// The caller quickstart calls come from, as in the quickstart servers.
pub const CALLER: &str = "client:quick_start";
/// The identity used when none is given, as in the quickstart servers.
pub const DEFAULT_IDENTITY: &str = "alice";

/// The request's `Host` names this machine's loopback interface (or remote use is allowed).
pub struct LoopbackHost;

impl FromRequestParts<AppState> for LoopbackHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.quickstart_allow_remote {
            return Ok(LoopbackHost);
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        if host.is_some_and(is_loopback_host) {
            Ok(LoopbackHost)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                code::QUICKSTART_HOST,
                "quickstart endpoints answer only requests addressed to localhost, 127.0.0.1 \
                 or [::1]",
            ))
        }
    }
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || is_port(port) => return ip == "::1",
            _ => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .unwrap_or(s)
        .parse::<u16>()
        .is_ok_and(|_| !s.is_empty())
}

/// Query parameters, plus form fields of a POST body.
fn params(query: HashMap<String, String>, body: &Bytes) -> HashMap<String, String> {
    let mut all: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    all.extend(query);
    all
}

/// The quickstart's account ([`accounts::resolve`] with `quickstart_account`), its oldest
/// active key, and the default push credential.
async fn defaults(
    state: &AppState,
) -> Result<
    (
        ApiKeyPrincipal,
        secrecy::SecretString,
        crate::domain::CredentialSid,
    ),
    ApiError,
> {
    let unconfigured = |what: &str| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::QUICKSTART_UNCONFIGURED,
            format!("quickstart needs {what}: run `pushgate init` and `pushgate credentials add`"),
        )
    };
    let account =
        match accounts::resolve(&state.store, state.config.quickstart_account.as_ref()).await {
            Ok(account) => account,
            Err(AccountChoice::NoAccount) => return Err(unconfigured("an account")),
            Err(AccountChoice::Store(e)) => return Err(e.into()),
            Err(e @ (AccountChoice::Several { .. } | AccountChoice::NotFound(_))) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::QUICKSTART_UNCONFIGURED,
                    format!("quickstart needs one account: {e}; set quickstart_account = \"AC…\""),
                ));
            }
        };
    let keys = state.store.api_keys(&account.sid).await?;
    let key = keys
        .iter()
        .find(|k| k.date_revoked.is_none())
        .ok_or_else(|| unconfigured("an API key"))?;
    let (_, secret) = api_keys::active_key_secret(&state.store, &state.master_key, &key.sid)
        .await?
        .ok_or_else(|| unconfigured("an API key"))?;
    let credential = state
        .store
        .credentials(&account.sid)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| unconfigured("a push credential"))?;
    let principal = ApiKeyPrincipal {
        account: account.sid,
        key: key.sid.clone(),
    };
    Ok((principal, secret, credential.sid))
}

/// `GET|POST /accessToken?identity=alice`: a raw access token, as the quickstart servers return.
pub async fn access_token(
    _: LoopbackHost,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<String, ApiError> {
    let params = params(query, &body);
    let identity = params
        .get("identity")
        .map(String::as_str)
        .unwrap_or(DEFAULT_IDENTITY);
    let identity = Identity::parse(identity)?;
    let (principal, secret, credential) = defaults(&state).await?;
    let token = mint(MintRequest {
        account: &principal.account,
        key: &principal.key,
        secret: &secret,
        identity: &identity,
        push_credential: Some(&credential),
        ttl_secs: 3600,
        now: now_secs(),
    })
    .map_err(|e| token_refused(&state, e))?;
    Ok(token)
}

/// `POST /placeCall?to=alice` (or a `to` form field): rings `to` from `client:quick_start`;
/// answers the call SID.
pub async fn place_call(
    _: LoopbackHost,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<String, ApiError> {
    let params = params(query, &body);
    let to = params
        .get("to")
        .cloned()
        .unwrap_or_else(|| DEFAULT_IDENTITY.to_owned());
    let (principal, _, _) = defaults(&state).await?;
    let new = NewInvite::try_from(InviteFields {
        to,
        from: CALLER.to_owned(),
        ..InviteFields::default()
    })
    .map_err(InviteError::from)?;
    let placed = state.invites.place(&principal, new).await?;
    Ok(placed.invite.call_sid.to_string())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "localhost",
            "LocalHost:8080",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "127.0.0.2",
            "[::2]",
            "[::1]x",
            "localhost:x",
            "localhost:",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
