//! Hardening: what a hostile or slow HTTP client can make the gateway hold — metric series,
//! connections, file descriptors, event streams — and the quickstart endpoints' exposure to
//! browsers.

mod conns;
mod labels;
mod quickstart;
mod shutdown;
mod streams;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// A raw connection to the app that has sent `bytes`.
pub(super) async fn raw(app: &TestApp, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Reads until the server closes the connection (EOF or reset), at most `within`; returns
/// what was read, or `None` if the connection was still open.
pub(super) async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read_all).await.ok()?;
    Some(got)
}
