//! Who may use a console page: [`Operator`] for reads (a valid session, from the cookie) and
//! [`Submitted`] for every state-changing form (same origin, a valid session, and the
//! session's CSRF token in the form, compared in constant time). The cookie is `HttpOnly`,
//! `SameSite=Strict`, `Path=/console`, and `Secure` when `public_url` is https.

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;

use super::error::ConsoleError;
use crate::auth::console_session::{ConsoleSession, SessionError, Sessions};
use crate::http::{AppState, FieldValue};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "pushgate_console";
/// Most fields a console form may have.
const MAX_FIELDS: usize = 32;

/// The console's sessions in `state`.
pub fn sessions(state: &AppState) -> Sessions<'_> {
    Sessions {
        store: &state.store,
        keys: &state.keys,
        failures: &state.auth_failures,
        idle_minutes: state.config.console_idle_minutes,
    }
}

/// The `Set-Cookie` value of a new session `id`.
pub fn session_cookie(state: &AppState, id: &str) -> String {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    format!(
        "{COOKIE_NAME}={id}; Path=/console; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

fn cookie_id(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// A signed-in operator.
pub struct Operator(pub ConsoleSession);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A script's request (htmx, the live calls stream) can't follow a redirect to the
        // sign-in page: it gets 401 with the code instead.
        let scripted = parts.headers.contains_key("hx-request")
            || parts
                .headers
                .get(axum::http::header::ACCEPT)
                .is_some_and(|a| a.as_bytes().starts_with(b"text/event-stream"));
        let signed_out = |reason: &'static str| {
            if scripted {
                ConsoleError::page(
                    axum::http::StatusCode::UNAUTHORIZED,
                    super::error::code::SIGNED_OUT,
                    "sign in again: the console session ended",
                )
            } else {
                ConsoleError::SignedOut(reason)
            }
        };
        let Some(id) = cookie_id(parts) else {
            return Err(signed_out("signed-out"));
        };
        match sessions(state).open(id).await {
            Ok(session) => Ok(Operator(session)),
            Err(SessionError::Missing) => Err(signed_out("signed-out")),
            Err(SessionError::Expired(_)) => Err(signed_out("expired")),
            Err(SessionError::KeyRevoked) => Err(signed_out("revoked")),
            Err(SessionError::Auth(e)) => Err(crate::http::ApiError::from(e).into()),
            Err(SessionError::Store(e)) => Err(e.into()),
        }
    }
}

/// Refuses a form posted from another origin: `Sec-Fetch-Site: cross-site` (browsers send
/// it), or an `Origin` that is neither the request's `Host` nor `public_url` (the URL a proxy
/// that rewrites `Host` serves the console at).
pub fn same_origin(parts: &Parts, public_url: Option<&str>) -> Result<(), ConsoleError> {
    if parts
        .headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return Err(ConsoleError::cross_origin());
    }
    let Some(origin) = parts.headers.get(ORIGIN) else {
        return Ok(());
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else {
        return Err(ConsoleError::cross_origin());
    };
    let public = public_url.and_then(|u| url::Url::parse(u).ok());
    if public.is_some_and(|p| p.origin() == origin.origin()) {
        return Ok(());
    }
    let origin_host = match origin.port() {
        Some(port) => format!("{}:{port}", origin.host_str().unwrap_or("")),
        None => origin.host_str().unwrap_or("").to_owned(),
    };
    match parts.headers.get(HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if origin_host.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(ConsoleError::cross_origin()),
    }
}

/// A form's fields (URL-encoded or multipart), in order; empty ones (an unfilled input, an
/// unchosen file) are left out.
#[derive(Default)]
pub struct Fields(pub Vec<(String, FieldValue)>);

impl Fields {
    /// The text of field `name`, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|(n, v)| match v {
            FieldValue::Text(t) if n == name => Some(t.as_str()),
            _ => None,
        })
    }

    /// Reads a form body (URL-encoded or multipart).
    pub async fn read(req: Request) -> Result<Self, ConsoleError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut fields = Vec::new();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, &())
                .await
                .map_err(|e| ConsoleError::bad_form(e.body_text()))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| ConsoleError::bad_form(e.body_text()))?
            {
                let name = field.name().unwrap_or_default().to_owned();
                let is_file = field.file_name().is_some();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| ConsoleError::bad_form(e.body_text()))?;
                let value = match String::from_utf8(bytes.to_vec()) {
                    Ok(text) if !(is_file && name == "p12") => FieldValue::Text(text),
                    Ok(_) | Err(_) => FieldValue::Bytes(bytes.to_vec()),
                };
                fields.push((name, value));
                if fields.len() > MAX_FIELDS {
                    return Err(ConsoleError::bad_form("too many form fields"));
                }
            }
        } else {
            let bytes = axum::body::Bytes::from_request(req, &())
                .await
                .map_err(|_| ConsoleError::bad_form("the form is too large"))?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| ConsoleError::bad_form(format!("the form could not be read: {e}")))?;
            if pairs.len() > MAX_FIELDS {
                return Err(ConsoleError::bad_form("too many form fields"));
            }
            fields.extend(pairs.into_iter().map(|(k, v)| (k, FieldValue::Text(v))));
        }
        fields.retain(|(_, v)| match v {
            FieldValue::Text(t) => !t.trim().is_empty(),
            FieldValue::Bytes(b) => !b.is_empty(),
        });
        Ok(Fields(fields))
    }
}

/// A state-changing form: from this origin, with a valid session and its CSRF token.
pub struct Submitted {
    pub session: ConsoleSession,
    /// The form's fields, without the token.
    pub fields: Fields,
}

impl FromRequest<AppState> for Submitted {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts, state.config.public_url.as_deref())?;
        let Operator(session) = Operator::from_request_parts(&mut parts, state).await?;
        let mut fields = Fields::read(Request::from_parts(parts, body)).await?;
        let token = fields.text("csrf").unwrap_or("").to_owned();
        if !session.csrf_matches(&token) {
            return Err(ConsoleError::csrf());
        }
        fields.0.retain(|(name, _)| name != "csrf");
        Ok(Submitted { session, fields })
    }
}
