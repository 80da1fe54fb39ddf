//! TLS material and the OpenSSL acceptor: generated CA and server
//! certificate, ALPN `h2`, and optional client-certificate verification.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{AlpnError, SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509Builder, X509Extension, X509Name, X509NameBuilder};

use super::config::{Error, PemSource, TlsSource};

/// Host names the generated server certificate is valid for.
const SERVER_DNS_NAMES: &[&str] = &[
    "localhost",
    "api.push.apple.com",
    "api.sandbox.push.apple.com",
    "api.development.push.apple.com",
];

/// A certificate with its private key, both also as PEM text.
pub(crate) struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
    pub cert_pem: String,
    pub key_pem: String,
}

/// What a certificate to be issued looks like.
pub(crate) struct CertSpec<'a> {
    /// Subject name entries, e.g. `[(Nid::COMMONNAME, "x")]`.
    pub subject: &'a [(Nid, &'a str)],
    /// Whether this is a CA certificate.
    pub is_ca: bool,
    /// DNS names and IP addresses for the SAN extension.
    pub dns: &'a [&'a str],
    pub ips: &'a [&'a str],
    /// Extended key usage: server (true) or client (false); ignored for CAs.
    pub server_auth: bool,
    /// Extra extensions (e.g. Apple's OIDs), added verbatim.
    pub extra: Vec<X509Extension>,
    /// Validity window relative to now, in seconds.
    pub not_before_secs: i64,
    pub not_after_secs: i64,
}

/// A fresh P-256 private key.
pub(crate) fn new_p256_key() -> Result<PKey<Private>, Error> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

fn name(entries: &[(Nid, &str)]) -> Result<X509Name, Error> {
    let mut b = X509NameBuilder::new()?;
    for (nid, value) in entries {
        b.append_entry_by_nid(*nid, value)?;
    }
    Ok(b.build())
}

fn time_from_now(secs: i64) -> Result<Asn1Time, Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(Asn1Time::from_unix(now + secs)?)
}

/// Issues a certificate for `spec`, signed by `issuer` (self-signed if None).
pub(crate) fn issue(spec: &CertSpec<'_>, issuer: Option<&Issued>) -> Result<Issued, Error> {
    let key = new_p256_key()?;
    let subject = name(spec.subject)?;
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&subject)?;
    match issuer {
        Some(ca) => b.set_issuer_name(ca.cert.subject_name())?,
        None => b.set_issuer_name(&subject)?,
    }
    let (not_before, not_after) = (
        time_from_now(spec.not_before_secs)?,
        time_from_now(spec.not_after_secs)?,
    );
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.set_pubkey(&key)?;
    if spec.is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        b.append_extension(BasicConstraints::new().build()?)?;
        b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        let mut eku = ExtendedKeyUsage::new();
        if spec.server_auth {
            eku.server_auth();
        } else {
            eku.client_auth();
        }
        b.append_extension(eku.build()?)?;
    }
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    if let Some(ca) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&b.x509v3_context(Some(&ca.cert), None))?;
        b.append_extension(aki)?;
    }
    if !spec.dns.is_empty() || !spec.ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in spec.dns {
            san.dns(d);
        }
        for ip in spec.ips {
            san.ip(ip);
        }
        let ext = san.build(&b.x509v3_context(issuer.map(|ca| ca.cert.as_ref()), None))?;
        b.append_extension(ext)?;
    }
    for ext in &spec.extra {
        b.append_extension2(ext)?;
    }
    let signer = issuer.map(|ca| &ca.key).unwrap_or(&key);
    b.sign(signer, MessageDigest::sha256())?;
    let cert = b.build();
    Ok(Issued {
        cert_pem: pem_string(cert.to_pem()?),
        key_pem: pem_string(key.private_key_to_pem_pkcs8()?),
        cert,
        key,
    })
}

fn pem_string(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Generates a CA and a server certificate signed by it.
pub(crate) fn generate_server_identity() -> Result<(Issued, Issued), Error> {
    let ca = issue(
        &CertSpec {
            subject: &[
                (Nid::ORGANIZATIONNAME, "pushgate"),
                (Nid::COMMONNAME, "pushgate mock-apns CA"),
            ],
            is_ca: true,
            dns: &[],
            ips: &[],
            server_auth: false,
            extra: Vec::new(),
            not_before_secs: -3600,
            not_after_secs: 825 * 86_400,
        },
        None,
    )?;
    let server = issue(
        &CertSpec {
            subject: &[(Nid::COMMONNAME, "localhost")],
            is_ca: false,
            dns: SERVER_DNS_NAMES,
            ips: &["127.0.0.1", "::1"],
            server_auth: true,
            extra: Vec::new(),
            not_before_secs: -3600,
            not_after_secs: 365 * 86_400,
        },
        Some(&ca),
    )?;
    Ok((ca, server))
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
            if let Some(dir) = out_dir {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    context: format!("creating {}", dir.display()),
                    source,
                })?;
                write_file(dir, "ca.pem", &ca.cert_pem)?;
                write_file(dir, "server.pem", &server.cert_pem)?;
                write_file(dir, "server-key.pem", &server.key_pem)?;
            }
            b.set_certificate(&server.cert)?;
            b.add_extra_chain_cert(ca.cert.clone())?;
            b.set_private_key(&server.key)?;
            Some(ca.cert_pem)
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
