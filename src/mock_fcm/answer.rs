//! What a request handler decides, independent of HTTP/2 or HTTP/1.1: a response, a reset
//! stream, or a dropped connection; and the request as the handlers see it.

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Serialize;

/// A request with its body read (up to the route's limit).
#[derive(Debug)]
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The body was longer than the route allows (`body` holds its start only).
    pub too_large: bool,
    /// Connection number, from 1.
    pub conn_id: u64,
    /// `HTTP/2` or `HTTP/1.1`.
    pub protocol: &'static str,
}

impl Req<'_> {
    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// Send this response.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    },
    /// Reset the HTTP/2 stream with REFUSED_STREAM (HTTP/1.1: close the connection).
    ResetStream,
    /// Reset the TCP connection (SO_LINGER 0), failing everything in flight on it.
    DropConnection,
}

impl Answer {
    /// A JSON response.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Answer {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Answer::Respond {
            status,
            headers: vec![(
                "content-type",
                "application/json; charset=UTF-8".to_string(),
            )],
            body: Bytes::from(body),
        }
    }

    /// Adds a header to a response (no effect on resets and drops).
    pub fn with_header(mut self, name: &'static str, value: String) -> Answer {
        if let Answer::Respond { headers, .. } = &mut self {
            headers.push((name, value));
        }
        self
    }

    /// The HTTP status (0 for resets and drops).
    pub fn status(&self) -> u16 {
        match self {
            Answer::Respond { status, .. } => *status,
            _ => 0,
        }
    }
}

/// Largest body of a `/token` request.
pub(crate) const MAX_TOKEN_BODY: usize = 16 * 1024;
/// Largest body of a `messages:send` request.
pub(crate) const MAX_SEND_BODY: usize = 64 * 1024;

/// The body limit of the route `path` is served by.
pub(crate) fn body_limit(path: &str) -> usize {
    if path == "/token" {
        MAX_TOKEN_BODY
    } else {
        MAX_SEND_BODY
    }
}
