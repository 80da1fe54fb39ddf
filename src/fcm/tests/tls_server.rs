//! A small HTTPS server on 127.0.0.1 for end-to-end tests: HTTP/2 (or HTTP/1.1) by ALPN,
//! a certificate from a throwaway CA, `/token` granting `tok-<n>` and `…/messages:send`
//! accepting — unless a reply is scripted. Every request is recorded.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslMethod};

use crate::credentials::devcerts;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub version: http::Version,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Default)]
pub struct State {
    pub requests: Mutex<Vec<Recorded>>,
    pub token_calls: AtomicUsize,
    pub send_calls: AtomicUsize,
    pub token_replies: Mutex<VecDeque<Reply>>,
    pub send_replies: Mutex<VecDeque<Reply>>,
}

impl State {
    pub fn requests_to(&self, suffix: &str) -> Vec<Recorded> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    pub fn script_send(&self, reply: Reply) {
        self.send_replies.lock().unwrap().push_back(reply);
    }

    pub fn script_token(&self, reply: Reply) {
        self.token_replies.lock().unwrap().push_back(reply);
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub async fn start() -> Self {
        let now = crate::clock::now_secs();
        let ca = devcerts::generate_ca("fcm test CA", now).expect("ca");
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let server = devcerts::issue_server(&ca, &["localhost"], &[localhost], now).expect("leaf");
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        builder.set_certificate(&server.cert).unwrap();
        builder.set_private_key(&server.key).unwrap();
        builder.set_alpn_select_callback(|_, client| {
            openssl::ssl::select_next_proto(b"\x02h2\x08http/1.1", client).ok_or(AlpnError::NOACK)
        });
        let acceptor = Arc::new(builder.build());
        let listener = tokio::net::TcpListener::bind((localhost, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let state = shared.clone();
                tokio::spawn(serve_connection(acceptor, tcp, state));
            }
        });
        Self {
            addr,
            ca_pem: ca.cert_pem().unwrap(),
            state,
            task,
        }
    }
}

async fn serve_connection(
    acceptor: Arc<SslAcceptor>,
    tcp: tokio::net::TcpStream,
    state: Arc<State>,
) {
    let Ok(ssl) = Ssl::new(acceptor.context()) else {
        return;
    };
    let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, tcp) else {
        return;
    };
    if Pin::new(&mut tls).accept().await.is_err() {
        return;
    }
    let h2 = tls.ssl().selected_alpn_protocol() == Some(b"h2");
    let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
    let io = TokioIo::new(tls);
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await;
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: http::header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let path = req.uri().path().to_owned();
    let version = req.version();
    let authorization = header(http::header::AUTHORIZATION);
    let content_type = header(http::header::CONTENT_TYPE);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    state.requests.lock().unwrap().push(Recorded {
        path: path.clone(),
        version,
        authorization,
        content_type,
        body,
    });
    let reply =
        if path == "/token" {
            let n = state.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
            state.token_replies.lock().unwrap().pop_front().unwrap_or_else(|| {
            Reply::new(200, format!(
                r#"{{"access_token":"tok-{n}","expires_in":3599,"token_type":"Bearer"}}"#
            ))
        })
        } else if path.ends_with("/messages:send") {
            let n = state.send_calls.fetch_add(1, Ordering::SeqCst) + 1;
            state
                .send_replies
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| {
                    Reply::new(
                        200,
                        format!(r#"{{"name":"projects/demo-project/messages/0:{n}"}}"#),
                    )
                })
        } else {
            Reply::new(404, "")
        };
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json; charset=UTF-8");
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    Ok(response.body(Full::new(Bytes::from(reply.body))).unwrap())
}
