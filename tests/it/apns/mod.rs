//! The APNs client against the simulator over real HTTP/2 + TLS: every credential kind,
//! every classified outcome, faults, provider tokens, pings and load.

pub(crate) mod support;

mod auth;
mod devices;
mod faults;
mod load;
mod ping;
mod provider_tokens;
