//! Twilio's REST shapes, so a backend written against Twilio's helper libraries works against
//! pushgate by changing only the library's base URL (issue #16 part 2):
//! - `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` and `GET`/`POST …/Calls/{Sid}.json`
//!   for `client:` targets, over the invites service (`calls.rs`, rendered by `call_view.rs`);
//! - `/v2/Credentials` and `/v2/Credentials/{Sid}` (Chat's push credentials), over the same
//!   credential service and upload parser as `/v1/credentials` (`credentials.rs`).
//!
//! - `POST /v1/twilio/call-notifications`, Twilio's Client Call Notification webhook
//!   (`webhook.rs`, over [`crate::twilio::Webhook`]), and `/v1/twilio/links`, the Twilio
//!   accounts whose notifications ring an account (`links.rs`).
//!
//! Requests are form-encoded as Twilio's are (`form.rs`); errors keep the one error body,
//! which already is Twilio's REST error shape. Their API description is `openapi.rs`.

mod call_form;
mod call_view;
mod calls;
mod credentials;
mod form;
pub(super) mod links;
pub(super) mod openapi;
pub(super) mod webhook;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{delete, get, post};

use super::{ApiError, AppState};
use crate::auth::ApiKeyPrincipal;

/// The routes of Twilio's shapes, merged into the public router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(calls::create),
        )
        // `{Sid}.json`: the router matches whole segments; the handlers strip the suffix.
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(calls::fetch).post(calls::update),
        )
        .route(
            "/v2/Credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/v2/Credentials/{sid}",
            get(credentials::fetch)
                .post(credentials::update)
                .delete(credentials::remove),
        )
        .route(
            "/v1/twilio/call-notifications",
            post(webhook::call_notification),
        )
        .route("/v1/twilio/links", get(links::list).post(links::create))
        .route("/v1/twilio/links/{sid}", delete(links::delete))
}

/// The path's `AccountSid` must be the API key's account. Any other (another account's, or
/// no account SID at all) is answered as Twilio answers a resource the caller can't see: 404
/// (20404), which tells nothing about whether that account exists.
fn same_account(caller: &ApiKeyPrincipal, account: &str) -> Result<(), ApiError> {
    if caller.account.as_str() == account {
        Ok(())
    } else {
        Err(ApiError::not_found("account"))
    }
}

/// `scheme://host[:port]` of this request as the client addressed it (its `Host` header, and
/// `X-Forwarded-Proto: https` from a TLS-terminating proxy), for the absolute URLs Twilio's
/// lists carry (`next_page_url`, which the libraries request as given). Empty when the
/// request named no usable host: the URLs are then relative.
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| plausible_host(h));
        let https = parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
        let scheme = if https { "https" } else { "http" };
        Ok(BaseUrl(
            host.map(|h| format!("{scheme}://{h}")).unwrap_or_default(),
        ))
    }
}

/// A host name or address with an optional port, nothing else (no user info, path or spaces).
fn plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 261
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::plausible_host;

    #[test]
    fn only_plain_hosts_make_absolute_urls() {
        assert!(plausible_host("127.0.0.1:8080"));
        assert!(plausible_host("[::1]:8080"));
        assert!(plausible_host("pushgate.example.com"));
        for bad in ["", "a b", "evil.com/path", "user@host", "h\u{e9}"] {
            assert!(!plausible_host(bad), "{bad:?}");
        }
    }
}
