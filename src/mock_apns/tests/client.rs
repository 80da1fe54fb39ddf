//! A real HTTP/2-over-TLS APNs client for the tests (h2 over
//! tokio-openssl), with a read-side tap that records GOAWAY debug data.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderMap, Request};
use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_openssl::SslStream;

use crate::credentials::devcerts::DevCert;
use crate::mock_apns::Simulator;
use crate::mock_apns::goaway::FRAME_GOAWAY;

/// An answer from the simulator.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The `reason` of an error body ("" for none).
    pub fn reason(&self) -> String {
        self.json()["reason"].as_str().unwrap_or("").to_string()
    }

    /// The body as JSON (Null when empty).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP/2 connection to the simulator.
pub struct Client {
    send: SendRequest<Bytes>,
    /// Debug data of every GOAWAY frame received.
    pub goaways: Arc<Mutex<Vec<Bytes>>>,
    /// The h2 connection driver; ends when the connection closes.
    pub conn: JoinHandle<Result<(), h2::Error>>,
}

impl Client {
    /// Connects, trusting the simulator's CA; presents `identity` if given.
    pub async fn connect(sim: &Simulator, identity: Option<&DevCert>) -> Client {
        let tcp = TcpStream::connect(sim.tls_addr()).await.expect("tcp");
        let mut b = SslConnector::builder(SslMethod::tls_client()).expect("connector");
        let ca = X509::from_pem(sim.ca_pem().expect("ca").as_bytes()).expect("ca pem");
        b.cert_store_mut().add_cert(ca).expect("trust ca");
        b.set_alpn_protos(b"\x02h2").expect("alpn");
        if let Some(id) = identity {
            b.set_certificate(&id.cert).expect("client cert");
            b.set_private_key(&id.key).expect("client key");
        }
        let ssl = b
            .build()
            .configure()
            .expect("cfg")
            .into_ssl("localhost")
            .expect("ssl");
        let mut tls = SslStream::new(ssl, tcp).expect("stream");
        Pin::new(&mut tls).connect().await.expect("tls handshake");
        assert_eq!(tls.ssl().selected_alpn_protocol(), Some(&b"h2"[..]));
        let goaways = Arc::new(Mutex::new(Vec::new()));
        let tap = FrameTap::new(tls, goaways.clone());
        let (send, conn) = h2::client::handshake(tap).await.expect("h2 handshake");
        Client {
            send,
            goaways,
            conn: tokio::spawn(conn),
        }
    }

    /// A sender for concurrent use.
    pub fn sender(&self) -> SendRequest<Bytes> {
        self.send.clone()
    }

    /// Sends `req` with `body` and reads the whole answer.
    pub async fn send(&self, req: Request<()>, body: &[u8]) -> Result<Reply, h2::Error> {
        send_on(self.send.clone(), req, body).await
    }
}

/// Sends one request on `send` and reads the whole answer.
pub async fn send_on(
    send: SendRequest<Bytes>,
    req: Request<()>,
    body: &[u8],
) -> Result<Reply, h2::Error> {
    let mut send = send.ready().await?;
    let (response, mut stream) = send.send_request(req, body.is_empty())?;
    if !body.is_empty() {
        stream.send_data(Bytes::copy_from_slice(body), true)?;
    }
    let (parts, mut recv) = response.await?.into_parts();
    let mut out = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: Bytes::from(out),
    })
}

/// Builds a push request to `path` with `headers`.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).expect("request")
}

/// Records the debug data of GOAWAY frames read from the server.
struct FrameTap<S> {
    inner: S,
    goaways: Arc<Mutex<Vec<Bytes>>>,
    header: Vec<u8>,
    remaining: usize,
    capture: Option<Vec<u8>>,
}

impl<S> FrameTap<S> {
    fn new(inner: S, goaways: Arc<Mutex<Vec<Bytes>>>) -> Self {
        FrameTap {
            inner,
            goaways,
            header: Vec::with_capacity(9),
            remaining: 0,
            capture: None,
        }
    }

    fn scan(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining == 0 && self.capture.is_none() {
                let n = (9 - self.header.len()).min(data.len());
                self.header.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.header.len() == 9 {
                    let h = &self.header;
                    self.remaining = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                    self.capture = (h[3] == FRAME_GOAWAY).then(Vec::new);
                    self.header.clear();
                }
            } else {
                let n = self.remaining.min(data.len());
                if let Some(c) = self.capture.as_mut() {
                    c.extend_from_slice(&data[..n]);
                }
                self.remaining -= n;
                data = &data[n..];
            }
            if self.remaining == 0
                && let Some(frame) = self.capture.take()
            {
                // GOAWAY payload: last stream id (4), error code (4), debug.
                let debug = Bytes::copy_from_slice(frame.get(8..).unwrap_or(&[]));
                self.goaways.lock().expect("goaways").push(debug);
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameTap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = buf.filled()[before..].to_vec();
            this.scan(&new);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameTap<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, b)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
