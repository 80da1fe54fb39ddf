//! `devcerts` output is usable beyond `validate`: the leaf chains to the CA under
//! OpenSSL's verifier (what an APNs simulator doing mutual TLS would check), and so does
//! a server certificate for the names it was issued for (what a TLS client checks).

use std::net::{IpAddr, Ipv6Addr};

use openssl::stack::Stack;
use openssl::x509::X509PurposeId;
use openssl::x509::X509StoreContext;
use openssl::x509::store::X509StoreBuilder;

use super::*;

fn verifies(leaf: &DevCert, at: i64) -> bool {
    verifies_as(leaf, X509PurposeId::SSL_CLIENT, None, at)
}

/// Whether `leaf` verifies against [`ca`] for `purpose` at `at`, and matches `host`
/// (a DNS name or IP address) when given.
fn verifies_as(leaf: &DevCert, purpose: X509PurposeId, host: Option<&str>, at: i64) -> bool {
    let mut store = X509StoreBuilder::new().unwrap();
    store.add_cert(ca().cert.clone()).unwrap();
    store.set_purpose(purpose).unwrap();
    let mut params = openssl::x509::verify::X509VerifyParam::new().unwrap();
    params.set_time(at);
    match host.map(str::parse::<IpAddr>) {
        Some(Ok(ip)) => params.set_ip(ip).unwrap(),
        Some(Err(_)) => params.set_host(host.unwrap()).unwrap(),
        None => {}
    }
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
    let stranger = VoipPair::issue_with(&voip_opts(AppleEnvironment::Universal), NOW);
    assert!(!verifies(&stranger.unwrap().leaf, NOW));
}

#[test]
fn server_chains_to_ca_as_tls_server_for_its_names() {
    let ips = [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(Ipv6Addr::LOCALHOST),
    ];
    let server = devcerts::issue_server(ca(), &["localhost", "api.push.apple.com"], &ips, NOW);
    let server = server.unwrap();
    let tls_server = X509PurposeId::SSL_SERVER;
    for host in ["localhost", "api.push.apple.com", "127.0.0.1", "::1"] {
        assert!(verifies_as(&server, tls_server, Some(host), NOW), "{host}");
    }
    assert!(!verifies_as(&server, tls_server, Some("example.com"), NOW));
    assert!(!verifies_as(&server, tls_server, Some("10.0.0.1"), NOW));
    assert!(!verifies_as(&server, tls_server, None, NOW + 400 * DAY));
    assert!(!verifies(&server, NOW), "not a client certificate");
    let cn = |c: &DevCert| {
        let entry = c.cert.subject_name().entries().next().unwrap();
        entry.data().to_string().unwrap()
    };
    assert_eq!(cn(&server), "localhost");

    let ip_only = devcerts::issue_server(ca(), &[], &ips[..1], NOW).unwrap();
    assert!(verifies_as(&ip_only, tls_server, Some("127.0.0.1"), NOW));
    assert_eq!(cn(&ip_only), "127.0.0.1");
    assert!(devcerts::issue_server(ca(), &[], &[], NOW).is_err());
    assert!(devcerts::issue_server(ca(), &[""], &[], NOW).is_err());
}

#[test]
fn environment_from_flags() {
    use AppleEnvironment::*;
    let cases = [
        ((true, false), Development),
        ((false, true), Production),
        ((true, true), Universal),
        ((false, false), Unmarked),
    ];
    for ((dev, prod), env) in cases {
        assert_eq!(AppleEnvironment::from_flags(dev, prod), env);
    }
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
