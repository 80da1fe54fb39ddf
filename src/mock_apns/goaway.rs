//! An I/O wrapper that adds debug data to outgoing HTTP/2 GOAWAY frames.
//!
//! APNs puts a JSON reason (`{"reason":"Shutdown"}`) in its GOAWAY frames.
//! The `h2` crate has no API for that, so the server's plaintext output is
//! followed frame by frame (every server byte belongs to a frame: 9-byte
//! header, then payload) and, once debug data has been set, each GOAWAY
//! frame is rewritten with the data appended and its length adjusted.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// HTTP/2 frame type GOAWAY.
pub(crate) const FRAME_GOAWAY: u8 = 0x7;
const HEADER_LEN: usize = 9;
/// Buffered output above which writes wait for the socket.
const HIGH_WATER: usize = 256 * 1024;

/// Shared slot holding the debug data to put in GOAWAY frames.
pub(crate) type DebugSlot = Arc<Mutex<Option<Bytes>>>;

enum Scan {
    Header {
        buf: [u8; HEADER_LEN],
        have: usize,
    },
    Payload {
        remaining: usize,
        append: Option<Bytes>,
    },
}

/// Wraps the server side of a connection; see the module docs.
pub(crate) struct GoAwayDebug<S> {
    inner: S,
    slot: DebugSlot,
    out: BytesMut,
    scan: Scan,
}

impl<S> GoAwayDebug<S> {
    /// Wraps `inner`; GOAWAY frames get whatever `slot` holds when sent.
    pub fn new(inner: S, slot: DebugSlot) -> Self {
        GoAwayDebug {
            inner,
            slot,
            out: BytesMut::with_capacity(16 * 1024),
            scan: Scan::Header {
                buf: [0; HEADER_LEN],
                have: 0,
            },
        }
    }

    /// Copies `input` to the output buffer, rewriting GOAWAY frames.
    fn absorb(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match &mut self.scan {
                Scan::Header { buf, have } => {
                    let n = (HEADER_LEN - *have).min(input.len());
                    buf[*have..*have + n].copy_from_slice(&input[..n]);
                    *have += n;
                    input = &input[n..];
                    if *have < HEADER_LEN {
                        continue;
                    }
                    let mut header = *buf;
                    let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
                    let append = if header[3] == FRAME_GOAWAY {
                        self.slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
                    } else {
                        None
                    };
                    if let Some(extra) = &append {
                        let total = (len + extra.len()) as u32;
                        header[..3].copy_from_slice(&total.to_be_bytes()[1..]);
                    }
                    self.out.extend_from_slice(&header);
                    self.scan = Scan::Payload {
                        remaining: len,
                        append,
                    };
                }
                Scan::Payload { remaining, .. } => {
                    let n = (*remaining).min(input.len());
                    self.out.extend_from_slice(&input[..n]);
                    *remaining -= n;
                    input = &input[n..];
                }
            }
            self.finish_payload();
        }
        self.finish_payload();
    }

    /// Ends a completed payload (appending debug data) and expects a header.
    fn finish_payload(&mut self) {
        if let Scan::Payload {
            remaining: 0,
            append,
        } = &mut self.scan
        {
            if let Some(extra) = append.take() {
                self.out.extend_from_slice(&extra);
            }
            self.scan = Scan::Header {
                buf: [0; HEADER_LEN],
                have: 0,
            };
        }
    }
}

impl<S: AsyncWrite + Unpin> GoAwayDebug<S> {
    /// Writes buffered output to the inner stream until done or blocked.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GoAwayDebug<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GoAwayDebug<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= HIGH_WATER {
            ready!(this.drain(cx))?;
        }
        this.absorb(buf);
        // Push out what we can now; a blocked socket is retried on flush.
        if let Poll::Ready(Err(e)) = this.drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
