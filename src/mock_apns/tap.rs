//! An optional, always-on observer of received pushes: a callback the simulator calls once
//! per answered request with its receive time, collapse id and payload bytes, so a benchmark
//! can match pushes to the invites that caused them (and answer them, as a phone would)
//! without the full push log.
//!
//! The simulator takes no lock and allocates nothing for it (the payload is the body it
//! already read, lent, never parsed); without a tap it costs one `Option` check per push.
//! The callback runs on the stream's task, so it must be quick.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// What a [`PushTap`] sees of one push.
#[derive(Debug, Clone, Copy)]
pub struct TapEvent<'a> {
    /// When the request's headers arrived (monotonic clock, before the body was read).
    pub received: Instant,
    /// The `apns-collapse-id` header (pushgate sets it to the invite's call SID).
    pub collapse_id: Option<&'a str>,
    /// The `apns-id` header, if any.
    pub apns_id: Option<&'a str>,
    /// Status answered: 200, an error status, or 0 when a fault reset the stream or
    /// dropped the connection.
    pub status: u16,
    /// Error reason answered, if any.
    pub reason: Option<&'a str>,
    /// The request body as received (the push payload JSON, unparsed); `None` when a fault
    /// answered before the body was read.
    pub payload: Option<&'a [u8]>,
}

/// A callback observing every push (see the module documentation).
#[derive(Clone)]
pub struct PushTap(Arc<dyn Fn(&TapEvent<'_>) + Send + Sync>);

impl PushTap {
    /// Wraps `observe`, called once per push.
    pub fn new(observe: impl Fn(&TapEvent<'_>) + Send + Sync + 'static) -> Self {
        PushTap(Arc::new(observe))
    }

    pub(crate) fn observe(&self, event: &TapEvent<'_>) {
        (self.0)(event)
    }
}

impl fmt::Debug for PushTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PushTap(..)")
    }
}
