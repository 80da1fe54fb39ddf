//! Hardening: api.
