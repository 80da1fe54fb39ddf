//! TLS material and the OpenSSL acceptor: a CA and server certificate
//! generated with [`devcerts`], ALPN `h2`, and optional client-certificate
//! verification.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use openssl::pkey::PKey;
use openssl::ssl::{AlpnError, SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use secrecy::ExposeSecret;

use super::config::{Error, PemSource, TlsSource};
use crate::credentials::devcerts::{self, DevCert, DevCertError};

/// Host names the generated server certificate is valid for.
const SERVER_DNS_NAMES: &[&str] = &[
    "localhost",
    "api.push.apple.com",
    "api.sandbox.push.apple.com",
    "api.development.push.apple.com",
];

/// IP addresses the generated server certificate is valid for.
const SERVER_IPS: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

/// Generates a CA and a server certificate signed by it.
fn generate_server_identity() -> Result<(DevCert, DevCert), Error> {
    // Wall-clock time, not the simulator's clock: TLS clients check validity against
    // their own clock.
    let now = crate::clock::now_secs();
    let ca = devcerts::generate_ca("pushgate mock-apns CA", now).map_err(generation_error)?;
    let server =
        devcerts::issue_server(&ca, SERVER_DNS_NAMES, SERVER_IPS, now).map_err(generation_error)?;
    Ok((ca, server))
}

fn generation_error(e: DevCertError) -> Error {
    match e {
        DevCertError::OpenSsl(stack) => Error::Tls(stack),
        DevCertError::InvalidOption(what) => {
            Error::Config(format!("generating TLS material: {what}"))
        }
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), Error> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| Error::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// The acceptor plus the PEM of the CA that signed the server certificate
/// (known only for generated material).
pub(crate) struct TlsSetup {
    pub acceptor: SslAcceptor,
    pub ca_pem: Option<String>,
    /// Whether client certificates are chain-verified against a CA.
    pub verifies_clients: bool,
}

/// Builds the TLS acceptor from the configured sources.
pub(crate) fn build_acceptor(
    source: &TlsSource,
    client_ca: Option<&PemSource>,
) -> Result<TlsSetup, Error> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    let ca_pem = match source {
        TlsSource::Generate { out_dir } => {
            let (ca, server) = generate_server_identity()?;
            let ca_pem = ca.cert_pem().map_err(generation_error)?;
            if let Some(dir) = out_dir {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    context: format!("creating {}", dir.display()),
                    source,
                })?;
                let server_pem = server.cert_pem().map_err(generation_error)?;
                let key_pem = server.key_pkcs8_pem().map_err(generation_error)?;
                write_file(dir, "ca.pem", &ca_pem)?;
                write_file(dir, "server.pem", &server_pem)?;
                write_file(dir, "server-key.pem", key_pem.expose_secret())?;
            }
            b.set_certificate(&server.cert)?;
            b.add_extra_chain_cert(ca.cert)?;
            b.set_private_key(&server.key)?;
            Some(ca_pem)
        }
        TlsSource::Files { cert, key } => {
            let chain = X509::stack_from_pem(&PemSource::File(cert.clone()).load()?)?;
            let mut certs = chain.into_iter();
            let leaf = certs
                .next()
                .ok_or_else(|| Error::Config(format!("no certificate in {}", cert.display())))?;
            b.set_certificate(&leaf)?;
            for extra in certs {
                b.add_extra_chain_cert(extra)?;
            }
            let pkey = PKey::private_key_from_pem(&PemSource::File(key.clone()).load()?)?;
            b.set_private_key(&pkey)?;
            b.check_private_key()?;
            None
        }
    };
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x02h2", client).ok_or(AlpnError::ALERT_FATAL)
    });
    let verifies_clients = match client_ca {
        Some(src) => {
            let cas = X509::stack_from_pem(&src.load()?)?;
            if cas.is_empty() {
                return Err(Error::Config("client CA PEM holds no certificate".into()));
            }
            let mut store = X509StoreBuilder::new()?;
            for ca in &cas {
                store.add_cert(ca.clone())?;
                b.add_client_ca(ca)?;
            }
            b.set_verify_cert_store(store.build())?;
            true
        }
        None => false,
    };
    // Request a client certificate but never fail the handshake: token-auth
    // connections present none, and a bad one is answered per request with
    // 403 BadCertificate (the verify result is read after the handshake).
    b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    Ok(TlsSetup {
        acceptor: b.build(),
        ca_pem,
        verifies_clients,
    })
}
