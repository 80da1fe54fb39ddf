//! Damaged and hostile input must produce errors, never panics.

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::credentials::der;
use crate::credentials::devcerts::P12Encryption;

/// Deterministic xorshift so failures are reproducible without a rand dependency.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn mutations(original: &[u8], count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed;
    let mut out = Vec::new();
    for i in 0..count {
        let mut data = original.to_vec();
        match i % 3 {
            0 => data.truncate(xorshift(&mut state) as usize % original.len()),
            1 => {
                for _ in 0..1 + xorshift(&mut state) % 4 {
                    let pos = xorshift(&mut state) as usize % data.len();
                    data[pos] ^= (xorshift(&mut state) % 255 + 1) as u8;
                }
            }
            _ => {
                let pos = xorshift(&mut state) as usize % data.len();
                data.insert(pos, 0x84);
                data.insert(pos, 0x30);
            }
        }
        out.push(data);
    }
    out
}

#[test]
fn mutated_p12_never_panics() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    for encryption in [P12Encryption::Modern, P12Encryption::Legacy] {
        let file = leaf.to_p12(&[&ca().cert], "pw", encryption).unwrap();
        for data in mutations(&file, 150, 0x9e37_79b9_7f4a_7c15) {
            let _ = validate(
                CredentialInput::P12 {
                    der: data,
                    password: SecretString::from("pw"),
                },
                true,
                NOW,
            );
        }
    }
}

#[test]
fn mutated_certificate_der_never_panics() {
    let opts = LeafOptions {
        topics: vec![BUNDLE.into(), "com.example.app.voip".into()],
        ..voip_opts(AppleEnvironment::Universal)
    };
    let leaf = issue(&opts);
    let cert_der = leaf.cert.to_der().unwrap();
    for data in mutations(&cert_der, 600, 0xdead_beef_cafe_f00d) {
        let _ = der::certificate_extensions(&data);
        let _ = der::collect_strings(&data, 8);
        // If OpenSSL still accepts the mutated certificate, full validation must not
        // panic either.
        if let Ok(cert) = openssl::x509::X509::from_der(&data) {
            let pem = String::from_utf8(cert.to_pem().unwrap()).unwrap();
            let _ = validate(pem_input(pem, leaf.key_pkcs8_pem().unwrap()), true, NOW);
        }
    }
}

#[test]
fn mutated_pem_text_never_panics() {
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    let cert = leaf.cert_pem().unwrap();
    let key = leaf.key_pkcs8_pem().unwrap();
    let p8 = devcerts::generate_p8().unwrap();
    for data in mutations(cert.as_bytes(), 100, 7) {
        let text = String::from_utf8_lossy(&data).into_owned();
        let _ = validate(pem_input(text, key.clone()), true, NOW);
    }
    for data in mutations(key.expose_secret().as_bytes(), 100, 11) {
        let text = String::from_utf8_lossy(&data).into_owned();
        let _ = validate(pem_input(cert.clone(), SecretString::from(text)), true, NOW);
    }
    for data in mutations(p8.expose_secret().as_bytes(), 100, 13) {
        let text = String::from_utf8_lossy(&data).into_owned();
        let _ = validate(
            CredentialInput::TokenKey {
                p8_pem: SecretString::from(text),
                key_id: "ABC123DEFG".into(),
                team_id: "TEAM123456".into(),
                bundle_id: BUNDLE.into(),
            },
            true,
            NOW,
        );
    }
}
