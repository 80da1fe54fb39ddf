//! The quickstart app server's endpoints, served by pushgate itself (seed steps 3–10 without a
//! separate server): `/accessToken` mints a phone's access token and `/placeCall` rings an
//! identity, both with the account's default API key and push credential. Enabled by
//! `serve --quickstart`; loopback only unless `quickstart_allow_remote`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::error::code;
use super::invites::{CreateInviteBody, place};
use super::{ApiError, AppState};
use crate::auth::access_token::{MintRequest, mint};
use crate::auth::{ApiKeyPrincipal, api_keys};
use crate::clock::now_secs;
use crate::domain::Identity;

/// The caller quickstart calls come from, as in the quickstart servers.
pub const CALLER: &str = "client:quick_start";
/// The identity used when none is given, as in the quickstart servers.
pub const DEFAULT_IDENTITY: &str = "alice";

/// Query parameters, plus form fields of a POST body.
fn params(query: HashMap<String, String>, body: &Bytes) -> HashMap<String, String> {
    let mut all: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    all.extend(query);
    all
}

/// The first account, its oldest active key, and the default push credential.
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
    let account = state
        .store
        .accounts()
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| unconfigured("an account"))?;
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
    })?;
    Ok(token)
}

/// `GET|POST /placeCall?to=alice`: rings `to` from `client:quick_start`; answers the call SID.
pub async fn place_call(
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
    let request = CreateInviteBody {
        to,
        from: CALLER.to_owned(),
        call_sid: None,
        params: None,
        ttl: None,
        status_callback: None,
        cancel_push: None,
    };
    let (invite, _) = place(&state, &principal, request).await?;
    Ok(invite.call_sid.to_string())
}
