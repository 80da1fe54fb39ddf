//! Call invites end to end against the APNs simulators over real TLS: fan-out, the push's
//! headers and payload, retries within the ttl, the token lifecycle, idempotency, and refusals.

mod fan_out;
mod tokens;
mod writes;

/// A valid call SID made of `n` (the same `n`, the same SID).
fn call_sid(n: u8) -> String {
    format!("CA{}", format!("{n:02x}").repeat(16))
}
