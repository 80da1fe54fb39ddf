//! Request extractors that fail with [`ApiError`]s: JSON bodies, API-key callers (HTTP
//! Basic) and phones (access tokens).

use axum::extract::rejection::JsonRejection;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, code};
use crate::auth::{ApiKeyPrincipal, AuthError, TokenError, VerifiedToken, access_token};
use crate::clock::now_secs;

/// `axum::Json` with our error body on every rejection. The body must be a JSON object, as
/// every body of the API is described: serde would otherwise read a struct from an array too.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        type Object = serde_json::Map<String, serde_json::Value>;
        let object = match axum::Json::<Object>::from_request(req, state).await {
            Ok(axum::Json(object)) => object,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        T::deserialize(serde_json::Value::Object(object))
            .map(Json)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    code::MALFORMED_JSON,
                    format!("body does not have the expected fields: {e}"),
                )
            })
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            code::MALFORMED_JSON,
            format!("body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            code::MALFORMED_JSON,
            format!("body does not have the expected fields: {}", e.body_text()),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        other => ApiError::new(other.status(), code::MALFORMED_JSON, other.body_text()),
    }
}

/// The request body was larger than `max_body_bytes`.
pub fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::BODY_TOO_LARGE,
        "request body is larger than the configured limit (max_body_bytes)",
    )
}

/// A backend or operator, authenticated with HTTP Basic `SK…:secret`.
pub struct ApiKeyAuth(pub ApiKeyPrincipal);

impl FromRequestParts<AppState> for ApiKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        match crate::auth::basic::authenticate_basic(&state.keys, header).await {
            Ok(principal) => Ok(ApiKeyAuth(principal)),
            Err(e @ AuthError::Failed) => Err(failed(state, parts, e.into())),
            Err(e) => Err(e.into()),
        }
    }
}

/// A phone, authenticated with an access token in `X-Twilio-Token` or `Authorization: Bearer`.
pub struct PhoneAuth(pub VerifiedToken);

impl FromRequestParts<AppState> for PhoneAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = phone_token(parts) else {
            return Err(token_refused(state, TokenError::Missing));
        };
        Ok(PhoneAuth(verify_token(state, parts, token).await?))
    }
}

/// Either kind of caller, for endpoints both may use.
pub enum Caller {
    Phone(VerifiedToken),
    ApiKey(ApiKeyPrincipal),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = phone_token(parts) {
            return Ok(Caller::Phone(verify_token(state, parts, token).await?));
        }
        let ApiKeyAuth(principal) = ApiKeyAuth::from_request_parts(parts, state).await?;
        Ok(Caller::ApiKey(principal))
    }
}

fn phone_token(parts: &Parts) -> Option<&str> {
    if let Some(token) = parts.headers.get("x-twilio-token") {
        return token.to_str().ok();
    }
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| crate::auth::credentials(h, "Bearer"))
}

async fn verify_token(
    state: &AppState,
    parts: &Parts,
    token: &str,
) -> Result<VerifiedToken, ApiError> {
    match check_token(state, token).await {
        Ok(verified) => Ok(verified),
        Err(TokenCheck::Token(e)) => Err(failed(state, parts, token_refused(state, e))),
        Err(TokenCheck::Auth(e)) => Err(e.into()),
    }
}

enum TokenCheck {
    Token(TokenError),
    Auth(AuthError),
}

async fn check_token(state: &AppState, token: &str) -> Result<VerifiedToken, TokenCheck> {
    let unverified = access_token::parse(token).map_err(TokenCheck::Token)?;
    let Some((record, secret)) = state
        .keys
        .active(unverified.key())
        .await
        .map_err(TokenCheck::Auth)?
    else {
        return Err(TokenCheck::Token(TokenError::BadIssuer(
            "unknown or revoked API key",
        )));
    };
    let leeway = state.config.token_leeway_seconds as i64;
    unverified
        .verify(&secret, &record.account_sid, now_secs(), leeway)
        .map_err(TokenCheck::Token)
}

/// Counts an access token refused with `e` (by its Twilio code) and answers its 401.
pub(super) fn token_refused(state: &AppState, e: TokenError) -> ApiError {
    state
        .metrics
        .token_rejections
        .with_label_values(&[&e.code().to_string()])
        .inc();
    e.into()
}

/// Counts a failed authentication against the client's address: the 401 `refusal`, or 429
/// once the address is over `auth_failures_per_minute`.
pub(super) fn failed(state: &AppState, parts: &Parts, refusal: ApiError) -> ApiError {
    failed_from(state, client_ip(parts), refusal)
}

/// Counts a failed authentication from `ip` (e.g. a refused signature, judged after the
/// request was read): `refusal`, or 429 once the address is over `auth_failures_per_minute`.
pub(super) fn failed_from(state: &AppState, ip: Option<IpAddr>, refusal: ApiError) -> ApiError {
    match state.auth_failures.failed(ip, std::time::Instant::now()) {
        Ok(()) => refusal,
        Err(limited) => ApiError::auth_rate_limited(limited.retry_after.as_secs()),
    }
}

/// The client's address, when the server recorded the connection's peer.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// The client's address, when the server recorded the connection's peer.
pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}
