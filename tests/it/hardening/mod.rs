//! The standing attack suite (issue #12): what a hostile client, a slow client and a careless
//! operator could once do, each proven refused.

mod api;
mod auth;
mod http;
mod secrets;
