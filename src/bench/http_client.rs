//! The bench's HTTP client: pooled HTTP/1.1 with keep-alive, shared by the invites, their
//! follow-ups (accept, reject, cancel) and the seeding, and how a refusal is named in the
//! report's errors.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Budget for one request, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled HTTP/1.1 client (keep-alive; opens another connection when all are busy).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpClient { client }
    }
}

impl HttpClient {
    /// Sends a request; the answer's status and body, or the kind of failure.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<(u16, Bytes), &'static str> {
        let mut req = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let req = req.body(Full::new(body)).map_err(|_| "bad_request")?;
        let call = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| if e.is_connect() { "connect" } else { "http_io" })?;
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.map_err(|_| "http_body")?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, call)
            .await
            .unwrap_or(Err("timeout"))
    }

    /// The status of `GET url`, if it answered.
    pub async fn get_status(&self, url: &str) -> Option<u16> {
        self.request(Method::GET, url, &[], Bytes::new())
            .await
            .ok()
            .map(|(s, _)| s)
    }
}

#[derive(serde::Deserialize)]
struct Refused {
    code: Option<u64>,
}

/// The error kind of a refusal: `http_<status>_<code>` (the body's error code), or
/// `http_<status>` when the body has none.
pub fn refused(status: u16, body: &[u8]) -> String {
    let code = serde_json::from_slice::<Refused>(body)
        .ok()
        .and_then(|r| r.code)
        .map(|code| format!("_{code}"))
        .unwrap_or_default();
    format!("http_{status}{code}")
}
