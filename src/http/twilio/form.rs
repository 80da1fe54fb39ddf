//! A form-encoded body as Twilio's helper libraries send it: `application/x-www-form-urlencoded`,
//! PascalCase names, list parameters repeated (`StatusCallbackEvent=ringing&StatusCallbackEvent=
//! answered`). Names are matched exactly, as Twilio does; the first value of a name counts.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;

use super::super::error::code;
use super::super::extract::body_too_large;
use super::ApiError;

/// The name/value pairs of a form body, in order.
#[derive(Debug, Default)]
pub struct TwilioForm {
    pairs: Vec<(String, String)>,
}

impl TwilioForm {
    /// The first value of `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            pairs: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for TwilioForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::UNSUPPORTED_MEDIA_TYPE,
                "send the parameters form-encoded, with Content-Type: \
                 application/x-www-form-urlencoded (as Twilio's helper libraries do)",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| body_too_large())?;
        let pairs = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::invalid(format!("form body could not be read: {e}")))?;
        Ok(Self { pairs })
    }
}
