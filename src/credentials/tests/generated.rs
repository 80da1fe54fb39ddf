//! `devcerts` output is usable beyond `validate`: the leaf chains to the CA under
//! OpenSSL's verifier (what an APNs simulator doing mutual TLS would check).

use openssl::stack::Stack;
use openssl::x509::X509PurposeId;
use openssl::x509::X509StoreContext;
use openssl::x509::store::X509StoreBuilder;

use super::*;

fn verifies(leaf: &DevCert, at: i64) -> bool {
    let mut store = X509StoreBuilder::new().unwrap();
    store.add_cert(ca().cert.clone()).unwrap();
    store.set_purpose(X509PurposeId::SSL_CLIENT).unwrap();
    let mut params = openssl::x509::verify::X509VerifyParam::new().unwrap();
    params.set_time(at);
    store.set_param(&params).unwrap();
    let store = store.build();
    let chain = Stack::new().unwrap();
    let mut ctx = X509StoreContext::new().unwrap();
    ctx.init(&store, &leaf.cert, &chain, |c| c.verify_cert())
        .unwrap()
}

#[test]
fn leaf_chains_to_ca_as_tls_client() {
    for key in [KeyKind::Rsa2048, KeyKind::EcP256, KeyKind::EcP384] {
        let leaf = issue(&LeafOptions {
            key,
            ..LeafOptions::apple_push(BUNDLE, NOW)
        });
        assert!(verifies(&leaf, NOW), "{key:?}");
        assert!(!verifies(&leaf, NOW + 400 * DAY), "{key:?} after expiry");
    }
    let other_ca = devcerts::generate_ca("another CA", NOW).unwrap();
    let stranger = devcerts::issue_leaf(&other_ca, &voip_opts(AppleEnvironment::Universal));
    assert!(!verifies(&stranger.unwrap(), NOW));
}

#[test]
fn key_formats() {
    let rsa = devcerts::generate_key(KeyKind::Rsa2048).unwrap();
    let ec = devcerts::generate_key(KeyKind::EcP256).unwrap();
    let pem = |s: secrecy::SecretString| secrecy::ExposeSecret::expose_secret(&s).to_owned();
    assert!(
        pem(devcerts::traditional_pem(&rsa).unwrap()).starts_with("-----BEGIN RSA PRIVATE KEY")
    );
    assert!(pem(devcerts::traditional_pem(&ec).unwrap()).starts_with("-----BEGIN EC PRIVATE KEY"));
    assert!(pem(devcerts::pkcs8_pem(&rsa).unwrap()).starts_with("-----BEGIN PRIVATE KEY"));
    let ed = openssl::pkey::PKey::generate_ed25519().unwrap();
    assert!(devcerts::traditional_pem(&ed).is_err());
    let leaf = issue(&voip_opts(AppleEnvironment::Universal));
    assert!(
        leaf.to_p12(&[], "nul\0", devcerts::P12Encryption::Modern)
            .is_err()
    );
}
