//! Idle PING over real TLS: a connection whose peer stops answering PINGs is
//! closed by the client. Uses a tiny h2 server
//! of its own, because answering PINGs is automatic in every real server.

use std::pin::Pin;
use std::time::Duration;

use super::support::*;
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslMethod};
use pushgate::apns::{ApnsClient, ApnsConfig, Environment};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_openssl::SslStream;

/// Serves one connection, answering every request 200, until `freeze` fires;
/// then holds the connection open without ever reading from it again.
async fn serve_then_freeze(
    listener: TcpListener,
    acceptor: SslAcceptor,
    freeze: oneshot::Receiver<()>,
) {
    let (tcp, _) = listener.accept().await.expect("accept");
    let ssl = Ssl::new(acceptor.context()).expect("ssl");
    let mut tls = SslStream::new(ssl, tcp).expect("tls");
    Pin::new(&mut tls).accept().await.expect("tls accept");
    let mut conn = h2::server::handshake(tls).await.expect("h2");
    tokio::pin!(freeze);
    loop {
        tokio::select! {
            req = conn.accept() => {
                let Some(Ok((_req, mut respond))) = req else { return };
                let response = http::Response::builder().status(200).body(()).expect("response");
                let _ = respond.send_response(response, true);
            }
            _ = &mut freeze => break,
        }
    }
    // Keep the socket open but never poll the connection: PINGs go unanswered.
    std::future::pending::<()>().await;
    drop(conn);
}

#[tokio::test]
async fn an_unanswered_ping_closes_the_connection() {
    let ca = Ca::new();
    let (cert, key) = ca.server_identity();
    let mut acceptor =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("acceptor");
    acceptor.set_certificate(&cert).expect("cert");
    acceptor.set_private_key(&key).expect("key");
    acceptor.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x02h2", client).ok_or(AlpnError::ALERT_FATAL)
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (freeze_tx, freeze_rx) = oneshot::channel();
    tokio::spawn(serve_then_freeze(listener, acceptor.build(), freeze_rx));

    let config = ApnsConfig {
        idle_ping_interval: Some(Duration::from_millis(50)),
        ping_timeout: Duration::from_millis(200),
        connections_per_environment: 1,
        ..ApnsConfig::default()
    }
    .with_url_for_both(format!("https://127.0.0.1:{port}"))
    .with_extra_root_pem(ca.pem.clone().into_bytes());
    let client = ApnsClient::new(config, ca.client_cert(TOPIC, true, true, &[])).expect("client");
    let outcome = client
        .send(invite(&device_token(1), Environment::Production))
        .await;
    assert!(outcome.is_accepted(), "{outcome:?}");
    assert_eq!(client.stats(Environment::Production).connections, 1);

    freeze_tx.send(()).expect("server alive");
    eventually("the silent connection is closed", || async {
        client.stats(Environment::Production).connections == 0
    })
    .await;
}
