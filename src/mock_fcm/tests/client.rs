//! A real HTTP/2-over-TLS client for the tests (h2 over tokio-openssl, ALPN `h2`).

use std::pin::Pin;

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderMap, Request};
use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_openssl::SslStream;

use crate::mock_fcm::Simulator;

/// An answer from the simulator.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (Null when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `error.message` of an error body.
    pub fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP/2 connection to the simulator.
pub struct H2 {
    send: SendRequest<Bytes>,
    /// The h2 connection driver; ends when the connection closes.
    pub conn: JoinHandle<Result<(), h2::Error>>,
}

impl H2 {
    /// Connects, trusting the simulator's CA, and checks that h2 was negotiated.
    pub async fn connect(sim: &Simulator) -> H2 {
        let tcp = TcpStream::connect(sim.addr()).await.expect("tcp");
        let mut b = SslConnector::builder(SslMethod::tls_client()).expect("connector");
        let ca = X509::from_pem(sim.ca_pem().as_bytes()).expect("ca pem");
        b.cert_store_mut().add_cert(ca).expect("trust ca");
        b.set_alpn_protos(b"\x02h2\x08http/1.1").expect("alpn");
        let ssl = b
            .build()
            .configure()
            .expect("cfg")
            .into_ssl("localhost")
            .expect("ssl");
        let mut tls = SslStream::new(ssl, tcp).expect("stream");
        Pin::new(&mut tls).connect().await.expect("tls handshake");
        assert_eq!(tls.ssl().selected_alpn_protocol(), Some(&b"h2"[..]));
        let (send, conn) = h2::client::handshake(tls).await.expect("h2 handshake");
        let conn = tokio::spawn(conn);
        H2 { send, conn }
    }

    /// Sends one request; `Err` when the stream was reset or the connection failed.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, h2::Error> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("https://localhost{path}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(()).expect("request");
        let mut send = self.send.clone().ready().await?;
        let (resp, mut stream) = send.send_request(req, body.is_empty())?;
        if !body.is_empty() {
            stream.send_data(Bytes::copy_from_slice(body), true)?;
        }
        let resp = resp.await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut recv = resp.into_body();
        let mut out = Vec::new();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk?;
            let _ = recv.flow_control().release_capacity(chunk.len());
            out.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body: Bytes::from(out),
        })
    }

    /// POSTs a JSON `body` to `path` with a bearer token ("" for none).
    pub async fn post(&self, path: &str, bearer: &str, body: &[u8]) -> Result<Reply, h2::Error> {
        let auth = format!("Bearer {bearer}");
        let mut headers = vec![("content-type", "application/json")];
        if !bearer.is_empty() {
            headers.push(("authorization", auth.as_str()));
        }
        self.request("POST", path, &headers, body).await
    }
}
