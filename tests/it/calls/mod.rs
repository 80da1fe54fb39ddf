//! The call lifecycle: answer on one device (the others hear "answered" elsewhere), cancel,
//! late streams, bridge token scoping, signed status callbacks with retries, legacy cancel
//! pushes, and the quickstart endpoints.

mod bridge_tokens;
mod callbacks;
mod expiry;
mod lifecycle;
mod quickstart;
mod support;

pub(crate) use support::{Events, ring};
