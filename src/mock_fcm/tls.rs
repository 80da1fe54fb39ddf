//! TLS material and the OpenSSL acceptor: a CA and server certificate generated with
//! [`devcerts`] (written to the out dir when there is one), ALPN `h2` preferred and
//! `http/1.1` accepted (Google's Python auth library requests tokens over HTTP/1.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use openssl::ssl::{AlpnError, SslAcceptor, SslMethod, SslVersion};
use secrecy::ExposeSecret;

use super::config::Error;
use crate::credentials::devcerts::{self, DevCertError};

/// Host names the generated server certificate is valid for.
const SERVER_DNS_NAMES: &[&str] = &["localhost", "fcm.googleapis.com", "oauth2.googleapis.com"];

/// IP addresses the generated server certificate is valid for.
const SERVER_IPS: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

/// ALPN protocols offered, in preference order (wire format).
const ALPN: &[u8] = b"\x02h2\x08http/1.1";

fn generation_error(e: DevCertError) -> Error {
    match e {
        DevCertError::OpenSsl(stack) => Error::Tls(stack),
        DevCertError::InvalidOption(what) => {
            Error::Config(format!("generating TLS material: {what}"))
        }
    }
}

/// Writes `text` to `dir/name`.
pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: format!("creating {}", dir.display()),
        source,
    })?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| Error::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

/// The acceptor plus the PEM of the CA that signed the server certificate.
pub(crate) struct TlsSetup {
    pub acceptor: SslAcceptor,
    pub ca_pem: String,
}

/// Generates the CA and server certificate and builds the acceptor.
pub(crate) fn build_acceptor(out_dir: Option<&Path>) -> Result<TlsSetup, Error> {
    // Wall-clock time, not the simulator's clock: TLS clients check validity against
    // their own clock.
    let now = crate::clock::now_secs();
    let ca = devcerts::generate_ca("pushgate mock-fcm CA", now).map_err(generation_error)?;
    let server =
        devcerts::issue_server(&ca, SERVER_DNS_NAMES, SERVER_IPS, now).map_err(generation_error)?;
    let ca_pem = ca.cert_pem().map_err(generation_error)?;
    if let Some(dir) = out_dir {
        let server_pem = server.cert_pem().map_err(generation_error)?;
        let key_pem = server.key_pkcs8_pem().map_err(generation_error)?;
        write_file(dir, "ca.pem", &ca_pem)?;
        write_file(dir, "server.pem", &server_pem)?;
        write_file(dir, "server-key.pem", key_pem.expose_secret())?;
    }
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_certificate(&server.cert)?;
    b.add_extra_chain_cert(ca.cert)?;
    b.set_private_key(&server.key)?;
    b.check_private_key()?;
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(ALPN, client).ok_or(AlpnError::NOACK)
    });
    Ok(TlsSetup {
        acceptor: b.build(),
        ca_pem,
    })
}
