//! Caps on open Server-Sent Event streams (`/v1/invites/{sid}/events`): per invite, per
//! registration (the bridge token's `reg` claim) and per process. A stream holds a
//! [`StreamSlot`] for as long as its response body lives; dropping it — the stream ended, the
//! client went away, the server dropped the connection — gives the slot back, so the counts are
//! exact. The caps are per process (per replica when scaled out).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::error::code;

/// Seconds a refused client is told to wait before trying again.
const RETRY_AFTER_SECS: &str = "5";

/// The configured caps.
#[derive(Debug, Clone, Copy)]
pub struct StreamCaps {
    pub per_invite: usize,
    pub per_registration: usize,
    pub global: usize,
}

#[derive(Default)]
struct Counts {
    global: usize,
    invites: HashMap<String, usize>,
    registrations: HashMap<String, usize>,
}

/// The open event streams of this process.
pub struct EventStreams {
    caps: StreamCaps,
    counts: Mutex<Counts>,
}

/// Which cap refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapReached {
    Invite,
    Registration,
    Global,
}

impl EventStreams {
    /// No streams open yet.
    pub fn new(caps: StreamCaps) -> Arc<Self> {
        Arc::new(Self {
            caps,
            counts: Mutex::default(),
        })
    }

    /// Takes a slot for a stream of `invite` opened by `registration`, unless a cap is reached.
    pub fn open(
        self: &Arc<Self>,
        invite: &str,
        registration: &str,
    ) -> Result<StreamSlot, CapReached> {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if c.global >= self.caps.global {
            return Err(CapReached::Global);
        }
        if c.invites.get(invite).copied().unwrap_or(0) >= self.caps.per_invite {
            return Err(CapReached::Invite);
        }
        if c.registrations.get(registration).copied().unwrap_or(0) >= self.caps.per_registration {
            return Err(CapReached::Registration);
        }
        c.global += 1;
        *c.invites.entry(invite.to_owned()).or_default() += 1;
        *c.registrations.entry(registration.to_owned()).or_default() += 1;
        Ok(StreamSlot {
            streams: self.clone(),
            invite: invite.to_owned(),
            registration: registration.to_owned(),
        })
    }

    /// Streams open now.
    pub fn open_count(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).global
    }
}

fn release(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// One open stream's place under the caps; given back on drop.
pub struct StreamSlot {
    streams: Arc<EventStreams>,
    invite: String,
    registration: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut c = self
            .streams
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        c.global = c.global.saturating_sub(1);
        release(&mut c.invites, &self.invite);
        release(&mut c.registrations, &self.registration);
    }
}

impl IntoResponse for CapReached {
    fn into_response(self) -> Response {
        let what = match self {
            CapReached::Invite => "this call has the most event streams allowed open",
            CapReached::Registration => "this device has the most event streams allowed open",
            CapReached::Global => "the server has the most event streams allowed open",
        };
        let mut res = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code::EVENT_STREAMS_LIMIT,
            format!("{what}; close one or retry later"),
        )
        .into_response();
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_exactly_and_returned_on_drop() {
        let s = EventStreams::new(StreamCaps {
            per_invite: 3,
            per_registration: 2,
            global: 4,
        });
        let a = s.open("IV1", "BS1").unwrap();
        let _b = s.open("IV1", "BS1").unwrap();
        assert_eq!(s.open("IV1", "BS1").err(), Some(CapReached::Registration));
        let _c = s.open("IV1", "BS2").unwrap();
        assert_eq!(s.open("IV1", "BS3").err(), Some(CapReached::Invite));
        let _d = s.open("IV2", "BS3").unwrap();
        assert_eq!(s.open("IV3", "BS4").err(), Some(CapReached::Global));
        drop(a);
        assert_eq!(s.open_count(), 3);
        assert!(s.open("IV1", "BS1").is_ok());
    }
}
