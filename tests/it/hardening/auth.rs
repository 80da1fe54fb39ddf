//! Hardening: auth.
