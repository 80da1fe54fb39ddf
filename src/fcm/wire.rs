//! HTTP details shared by the token exchange and the send: bounded body reads, `Retry-After`
//! and what a transport error means.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// The most of a response body ever read (FCM and token-endpoint bodies are a few hundred
/// bytes; the rest of a longer one is dropped unread).
pub const MAX_BODY: usize = 64 * 1024;
/// The longest `Retry-After` honoured; longer values are clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What a failed request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// No answer within the timeout.
    Timeout,
    /// Connecting (TCP, TLS) failed: nothing was sent.
    Connect,
    /// Anything after connecting: the request may have been received.
    ConnectionLost,
}

impl Transport {
    pub(crate) fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Transport::Timeout
        } else if error.is_connect() {
            Transport::Connect
        } else {
            Transport::ConnectionLost
        }
    }
}

/// Reads at most `cap` bytes of `response`'s body; a longer body is truncated. A body that
/// breaks off mid-way is returned as far as it arrived (classification treats it as
/// unparseable); only a timeout is an error.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, Transport> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= cap {
                    return Ok(body);
                }
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(Transport::Timeout),
            Err(_) => return Ok(body),
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (relative to `now`; a past date is zero),
/// clamped to [`MAX_RETRY_AFTER`]. Absent or unreadable: `None`.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or_default()
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// `text` cut to at most `max` characters.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
