//! `.p12` key-derivation bombs: iteration counts read and bounded before OpenSSL derives.

use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::*;
use crate::credentials::devcerts::{P12Encryption, patch_der_integers};
use crate::credentials::p12_params::{MAX_ITERATIONS, check_iterations};

const PASSWORD: &str = "pw";
/// Distinct counts to find and patch: MAC, then encryption.
const MAC: u32 = 3001;
const ENC: u32 = 3002;

fn file(encryption: P12Encryption, mac: u32, enc: u32) -> Vec<u8> {
    issue(&voip_opts(AppleEnvironment::Universal))
        .to_p12_with_iterations(&[], PASSWORD, encryption, mac, enc)
        .unwrap()
}

fn input(der: Vec<u8>) -> CredentialInput {
    CredentialInput::P12 {
        der,
        password: SecretString::from(PASSWORD),
    }
}

#[test]
fn bombed_counts_are_refused_before_any_derivation() {
    for encryption in [P12Encryption::Modern, P12Encryption::Legacy] {
        let base = file(encryption, MAC, ENC);
        for bomb in [30_000_000, (1u64 << 31) - 1, u64::MAX, MAX_ITERATIONS + 1] {
            for marker in [MAC, ENC] {
                let der = patch_der_integers(&base, u64::from(marker), bomb);
                assert_ne!(der, base, "patched {marker}");
                let started = Instant::now();
                let e = err(input(der), false);
                let took = started.elapsed();
                assert_eq!(e.code(), 21123, "{bomb} at {marker}: {e:?}");
                assert!(took < Duration::from_millis(100), "{took:?}");
            }
        }
    }
}

#[test]
fn real_counts_are_accepted() {
    for (mac, enc) in [(2048, 2048), (100_000, 100_000)] {
        let v = ok(input(file(P12Encryption::Modern, mac, enc)), false);
        assert_eq!(v.bundle_id, BUNDLE);
    }
    let legacy = file(P12Encryption::Legacy, 2048, 2048);
    assert!(check_iterations(&legacy).is_ok());
    // At the bound exactly: accepted by the check (OpenSSL then derives ~3 × 1M).
    let base = file(P12Encryption::Modern, MAC, ENC);
    let at_bound = patch_der_integers(&base, u64::from(MAC), MAX_ITERATIONS);
    assert!(check_iterations(&at_bound).is_ok());
}

#[test]
fn truncated_and_damaged_files_are_malformed_never_a_panic() {
    let base = file(P12Encryption::Modern, MAC, ENC);
    let started = Instant::now();
    for len in (0..base.len()).step_by(7) {
        let e = check_iterations(&base[..len]).unwrap_err();
        assert_eq!(e.code(), 21120, "truncated to {len}");
    }
    for i in (0..base.len()).step_by(3) {
        let mut damaged = base.clone();
        damaged[i] ^= 0xff;
        let _ = check_iterations(&damaged); // any answer, quickly, without panicking
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // A negative count is malformed, not a huge or tiny one.
    let negative = patch_der_integers(&base, u64::from(MAC), 0xff);
    let negative = {
        // 0xff encodes as 00 ff; make it the negative ff.
        let needle = [0x02, 0x02, 0x00, 0xff];
        let at = negative.windows(4).position(|w| w == needle).unwrap();
        let mut n = negative.clone();
        n.splice(at..at + 4, [0x02, 0x02, 0xff, 0xff]);
        n
    };
    assert_eq!(check_iterations(&negative).unwrap_err().code(), 21120);
}
