//! The one error type of the HTTP layer, and the one place errors become responses:
//! `{"code": N, "message": "...", "status": S, "more_info": "..."}` with a stable code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AuthError, TokenError};
use crate::domain::DomainError;
use crate::invites::{InvalidInvite, InviteError};
use crate::registrations::RegistrationError;
use crate::store::StoreError;

/// Stable numeric error codes. Twilio's where Twilio has one, pushgate's own otherwise.
pub mod code {
    pub const INVALID_PARAMETER: u32 = 20001;
    pub const AUTH_REQUIRED: u32 = 20003;
    pub const AUTH_FAILED: u32 = 20151;
    pub const AUTH_RATE_LIMITED: u32 = 20429;
    pub const NOT_FOUND: u32 = 20404;
    pub const METHOD_NOT_ALLOWED: u32 = 20405;
    pub const MALFORMED_JSON: u32 = 21001;
    pub const UNSUPPORTED_MEDIA_TYPE: u32 = 21002;
    pub const BODY_TOO_LARGE: u32 = 21003;
    pub const INVALID_DEVICE_TOKEN: u32 = 21004;
    pub const UNSUPPORTED_BINDING_TYPE: u32 = 21005;
    pub const PLATFORM_MISMATCH: u32 = 21006;
    pub const LAST_API_KEY: u32 = 21010;
    pub const REGISTRATION_FAILED: u32 = 31301;
    pub const NO_REGISTRATIONS: u32 = 21201;
    pub const PAYLOAD_TOO_LARGE: u32 = 21202;
    pub const BRIDGE_TOKEN_INVALID: u32 = 21301;
    pub const BRIDGE_TOKEN_OTHER_INVITE: u32 = 21302;
    pub const ANSWERED_ELSEWHERE: u32 = 21310;
    pub const CALL_ENDED: u32 = 21311;
    pub const TWILIO_NOT_LINKED: u32 = 21601;
    pub const TWILIO_SIGNATURE_INVALID: u32 = 21602;
    pub const TWILIO_NOTIFICATION_INVALID: u32 = 21603;
    pub const TWILIO_CALL_TAKEN: u32 = 21604;
    pub const TWILIO_LINK_INVALID: u32 = 21605;
    pub const TWILIO_LINKED_ELSEWHERE: u32 = 21606;
    pub const QUICKSTART_UNCONFIGURED: u32 = 21401;
    pub const QUICKSTART_HOST: u32 = 21402;
    pub const REQUEST_TIMEOUT: u32 = 21501;
    pub const EVENT_STREAMS_LIMIT: u32 = 21502;
    // Twilio's REST shapes (src/http/twilio/): 21610–21629.
    /// The Calls API's `To` is not a `client:` target (pushgate rings app identities only).
    pub const TWILIO_TO_NOT_CLIENT: u32 = 21610;
    /// A required form parameter is missing (`To`, `From`, `Status`).
    pub const TWILIO_MISSING_PARAMETER: u32 = 21611;
    /// `Url` is not an absolute http(s) URL of at most 2048 bytes.
    pub const TWILIO_INVALID_URL: u32 = 21612;
    /// `Twiml` is longer than 4000 characters.
    pub const TWILIO_TWIML_TOO_LONG: u32 = 21613;
    /// `Timeout` is not a whole number of seconds.
    pub const TWILIO_INVALID_TIMEOUT: u32 = 21614;
    /// A `StatusCallbackEvent` is not initiated, ringing, answered or completed.
    pub const TWILIO_INVALID_STATUS_CALLBACK_EVENT: u32 = 21615;
    /// A call update other than `Status=canceled` or `Status=completed`.
    pub const TWILIO_UNSUPPORTED_UPDATE: u32 = 21616;
    /// `ApplicationSid` is not `AP` + 32 hex.
    pub const TWILIO_INVALID_APPLICATION_SID: u32 = 21617;
    /// `PageSize`, `Page` or `PageToken` is invalid.
    pub const TWILIO_INVALID_PAGE: u32 = 21618;
    pub const INTERNAL: u32 = 20500;
    pub const STORE_UNAVAILABLE: u32 = 20503;
}

/// An error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiError {
    /// Stable numeric code; see the README's error table.
    pub code: u32,
    /// What went wrong and what to fix.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// Where the code is documented.
    pub more_info: String,
    #[serde(skip)]
    #[schema(ignore)]
    www_authenticate: bool,
    /// Seconds for a `Retry-After` header.
    #[serde(skip)]
    #[schema(ignore)]
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: status.as_u16(),
            more_info: format!("README.md#error-codes ({code})"),
            www_authenticate: false,
            retry_after: None,
        }
    }

    /// 429: too many failed authentications from the client's address; retry after `secs`.
    pub fn auth_rate_limited(secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                code::AUTH_RATE_LIMITED,
                format!("too many failed authentications from this address; retry in {secs} s"),
            )
        }
    }

    /// The same error, telling the client to retry after `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400 invalid parameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_PARAMETER, message)
    }

    /// 404 for a resource that doesn't exist (or isn't the caller's).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("{what} not found"),
        )
    }

    /// 500, after logging the cause; the client learns nothing internal.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal error; the server log has the details",
        )
    }

    pub(crate) fn challenge(mut self) -> Self {
        self.www_authenticate = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let challenge = self.www_authenticate;
        let retry_after = self.retry_after;
        let mut response = (status, axum::Json(self)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"pushgate\""),
            );
        }
        response
    }
}

/// A store that can't be reached is a 503 the client may retry; any other store failure
/// (a conflict or a missing row the code did not expect included) is our 500.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::STORE_UNAVAILABLE,
                    "the database is unavailable; retry shortly",
                )
            }
            // Shedding load: logged by the metrics (status 503), not once per request.
            StoreError::Overloaded(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::STORE_UNAVAILABLE,
                "too many invites are waiting for the database; retry shortly",
            )
            .retry_after(1),
            other @ (StoreError::Conflict(_)
            | StoreError::NotFound(_)
            | StoreError::Other(_)
            | StoreError::Migrate(_)) => Self::internal(&other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => {
                Self::new(StatusCode::UNAUTHORIZED, code::AUTH_REQUIRED, e.to_string()).challenge()
            }
            AuthError::Failed => {
                Self::new(StatusCode::UNAUTHORIZED, code::AUTH_FAILED, e.to_string()).challenge()
            }
            AuthError::Store(store) => store.into(),
            AuthError::Secrets(secrets) => Self::internal(&secrets),
        }
    }
}

/// The 401 of a refused access token. Pure: the refusal is counted where it happens
/// (`extract::token_refused`).
impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let code = match e {
            DomainError::InvalidDeviceToken(_) => code::INVALID_DEVICE_TOKEN,
            DomainError::InvalidSid { .. } | DomainError::InvalidIdentity(_) => {
                code::INVALID_PARAMETER
            }
        };
        Self::new(StatusCode::BAD_REQUEST, code, e.to_string())
    }
}

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            InviteError::Store(store) => return store.into(),
            InviteError::Invalid(InvalidInvite::Domain(d)) => return d.into(),
            InviteError::NotFound => return Self::not_found("invite"),
            InviteError::Invalid(InvalidInvite::Field(_)) | InviteError::Callback(_) => {
                (StatusCode::BAD_REQUEST, code::INVALID_PARAMETER)
            }
            InviteError::NoRegistrations(_) => (StatusCode::NOT_FOUND, code::NO_REGISTRATIONS),
            InviteError::PayloadTooLarge { .. } => {
                (StatusCode::BAD_REQUEST, code::PAYLOAD_TOO_LARGE)
            }
            InviteError::OtherCall => (StatusCode::FORBIDDEN, code::BRIDGE_TOKEN_OTHER_INVITE),
            InviteError::AnsweredElsewhere => (StatusCode::CONFLICT, code::ANSWERED_ELSEWHERE),
            InviteError::Ended(_) => (StatusCode::CONFLICT, code::CALL_ENDED),
            InviteError::CallTaken => (StatusCode::CONFLICT, code::TWILIO_CALL_TAKEN),
        };
        Self::new(status, code, message)
    }
}

impl From<RegistrationError> for ApiError {
    fn from(e: RegistrationError) -> Self {
        match e {
            RegistrationError::UnknownCredential => {
                TokenError::BadGrants(crate::registrations::UNKNOWN_CREDENTIAL).into()
            }
            e @ RegistrationError::PlatformMismatch { .. } => Self::new(
                StatusCode::BAD_REQUEST,
                code::PLATFORM_MISMATCH,
                e.to_string(),
            ),
            RegistrationError::NotFound => Self::not_found("registration"),
            RegistrationError::Store(store) => store.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_store_is_a_503_and_other_store_errors_a_500() {
        let e = ApiError::from(StoreError::unavailable("down"));
        assert_eq!((e.status, e.code), (503, code::STORE_UNAVAILABLE));
        for e in [
            StoreError::Conflict("dup".into()),
            StoreError::NotFound("gone".into()),
            StoreError::Other("bad".into()),
            StoreError::Migrate("old".into()),
        ] {
            let e = ApiError::from(e);
            assert_eq!((e.status, e.code), (500, code::INTERNAL));
        }
    }
}
