//! The console's errors, rendered once: a signed-out request goes to the sign-in page (the
//! cookie cleared); everything else is a page with the status, the stable code and the
//! message — the API's own code where a service refused (`ApiError`), the console's codes
//! 21701–21729 otherwise.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout;
use crate::http::ApiError;

/// A `Set-Cookie` value that deletes the session cookie.
pub const CLEAR_COOKIE: &str =
    "pushgate_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0";

/// The console's own error codes.
pub mod code {
    /// Sign-in failed: unknown or revoked key, or wrong secret (401).
    pub const SIGN_IN_FAILED: u32 = 21701;
    /// The request needs a session: none, ended, expired or its key revoked (401).
    pub const SIGNED_OUT: u32 = 21702;
    /// A state-changing form without this session's CSRF token (403).
    pub const CSRF: u32 = 21703;
    /// A form posted from another origin (`Origin` / `Sec-Fetch-Site`) (403).
    pub const CROSS_ORIGIN: u32 = 21704;
    /// A form that could not be read, or lacks a field (400).
    pub const BAD_FORM: u32 = 21705;
    /// No such console page (404).
    pub const NOT_FOUND: u32 = 21706;
}

/// Why a console request was not served.
#[derive(Debug)]
pub enum ConsoleError {
    /// No valid session: to the sign-in page, saying why.
    SignedOut(&'static str),
    /// An error page.
    Page {
        status: StatusCode,
        code: u32,
        message: String,
    },
}

impl ConsoleError {
    pub fn csrf() -> Self {
        Self::page(
            StatusCode::FORBIDDEN,
            code::CSRF,
            "the form's CSRF token is missing or not this session's: reload the page and try again",
        )
    }

    pub fn cross_origin() -> Self {
        Self::page(
            StatusCode::FORBIDDEN,
            code::CROSS_ORIGIN,
            "this form was posted from another site",
        )
    }

    pub fn bad_form(message: impl Into<String>) -> Self {
        Self::page(StatusCode::BAD_REQUEST, code::BAD_FORM, message)
    }

    pub fn page(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self::Page {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        Self::Page {
            status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code,
            message: e.message,
        }
    }
}

impl From<crate::store::StoreError> for ConsoleError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignedOut(reason) => {
                let mut res = (
                    StatusCode::SEE_OTHER,
                    [(
                        header::LOCATION,
                        format!("/console/sign-in?reason={reason}"),
                    )],
                )
                    .into_response();
                res.headers_mut()
                    .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
                res
            }
            ConsoleError::Page {
                status,
                code,
                message,
            } => {
                let body = html! {
                    section.error role="alert" {
                        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                        p { "Error " code.code { (code) } ": " (message) }
                        p { a href="/console" { "Back to the console" } }
                    }
                };
                (status, layout::bare("Error", body)).into_response()
            }
        }
    }
}

/// The console's fallback: 404 with its code.
pub async fn not_found() -> ConsoleError {
    ConsoleError::page(
        StatusCode::NOT_FOUND,
        code::NOT_FOUND,
        "no such console page",
    )
}
