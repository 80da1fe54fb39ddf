//! Hardening: secrets — `.p12` key-derivation bombs and the validation limit, master key
//! rotation rolled through two servers without a failed request, and private file modes.

mod files;
mod live_rotation;
mod p12;
mod rotation;
