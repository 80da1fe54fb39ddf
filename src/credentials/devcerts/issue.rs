//! Signing certificates for [`devcerts`](super): the CA, Apple-like push client
//! certificates and TLS server certificates, and the X.509 details they share.

use std::net::IpAddr;

use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Extension, X509Name, X509NameBuilder, X509NameRef};

use super::{DevCert, DevCertError, KeyKind, LeafOptions, Result, generate_key};
use crate::credentials::apple::{self, ARC_DEVELOPMENT, ARC_PRODUCTION, ARC_TOPICS};
use crate::credentials::der::{self, tag};

/// A self-signed CA (EC P-256) valid from a day before `now_unix` for ten years.
pub fn generate_ca(common_name: &str, now_unix: i64) -> Result<DevCert> {
    let key = generate_key(KeyKind::EcP256)?;
    let mut name = X509NameBuilder::new()?;
    append(&mut name, "CN", common_name)?;
    append(&mut name, "O", "pushgate development CA")?;
    let name = name.build();
    let mut builder = base_builder(
        &name,
        &name,
        &key,
        now_unix - 86_400,
        now_unix + 3_650 * 86_400,
    )?;
    builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    builder.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
    builder.append_extension(ski)?;
    let signer = key.clone();
    signed(builder, &signer, key)
}

/// Issues an Apple-like push client certificate signed by `ca`.
pub fn issue_leaf(ca: &DevCert, opts: &LeafOptions) -> Result<DevCert> {
    let key = generate_key(opts.key)?;
    let mut name = X509NameBuilder::new()?;
    if !opts.uid.is_empty() {
        append(&mut name, "UID", &opts.uid)?;
    }
    append(&mut name, "CN", &opts.common_name)?;
    append(&mut name, "O", "pushgate development")?;
    append(&mut name, "C", "US")?;
    let eku = ExtendedKeyUsage::new().client_auth().build()?;
    let mut builder = end_entity_builder(
        ca,
        &name.build(),
        &key,
        opts.key,
        (opts.not_before, opts.not_after),
        eku,
    )?;
    let null = der::encode(tag::NULL, &[]);
    let (dev, prod) = opts.environment.flags();
    if dev {
        builder.append_extension(apple_extension(ARC_DEVELOPMENT, &null)?)?;
    }
    if prod {
        builder.append_extension(apple_extension(ARC_PRODUCTION, &null)?)?;
    }
    if !opts.topics.is_empty() {
        builder.append_extension(apple_extension(ARC_TOPICS, &topics_der(&opts.topics))?)?;
    }
    signed(builder, &ca.key, key)
}

/// Issues a TLS server certificate signed by `ca` for `dns_names` and `ips` (its subject
/// alternative names; the CN is the first of them): EC P-256 key, serverAuth, valid from
/// a day before `now_unix` for a year. Fails when both lists are empty or a DNS name is
/// empty or contains NUL.
pub fn issue_server(
    ca: &DevCert,
    dns_names: &[&str],
    ips: &[IpAddr],
    now_unix: i64,
) -> Result<DevCert> {
    if dns_names.iter().any(|d| d.is_empty() || d.contains('\0')) {
        return Err(DevCertError::InvalidOption(
            "DNS name is empty or contains NUL",
        ));
    }
    let common_name = match (dns_names.first(), ips.first()) {
        (Some(dns), _) => (*dns).to_owned(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => return Err(DevCertError::InvalidOption("no DNS name or IP address")),
    };
    let key = generate_key(KeyKind::EcP256)?;
    let mut name = X509NameBuilder::new()?;
    append(&mut name, "CN", &common_name)?;
    let eku = ExtendedKeyUsage::new().server_auth().build()?;
    let mut builder = end_entity_builder(
        ca,
        &name.build(),
        &key,
        KeyKind::EcP256,
        (now_unix - 86_400, now_unix + 365 * 86_400),
        eku,
    )?;
    let mut san = SubjectAlternativeName::new();
    for dns in dns_names {
        san.dns(dns);
    }
    for ip in ips {
        san.ip(&ip.to_string());
    }
    let san = san.build(&builder.x509v3_context(Some(&ca.cert), None))?;
    builder.append_extension(san)?;
    signed(builder, &ca.key, key)
}

/// A builder for a certificate of `key` signed by `ca`, valid over `validity` (Unix
/// seconds), with what every end-entity certificate here carries: not a CA, key usage
/// fitting `kind`, extended key usage `eku`, subject and authority key identifiers.
fn end_entity_builder(
    ca: &DevCert,
    subject: &X509Name,
    key: &PKey<Private>,
    kind: KeyKind,
    validity: (i64, i64),
    eku: X509Extension,
) -> Result<X509Builder> {
    let mut builder = base_builder(subject, ca.cert.subject_name(), key, validity.0, validity.1)?;
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    let mut usage = KeyUsage::new();
    usage.critical().digital_signature();
    if kind == KeyKind::Rsa2048 {
        usage.key_encipherment();
    }
    builder.append_extension(usage.build()?)?;
    builder.append_extension(eku)?;
    let ctx = builder.x509v3_context(Some(&ca.cert), None);
    let ski = SubjectKeyIdentifier::new().build(&ctx)?;
    let aki = AuthorityKeyIdentifier::new().keyid(false).build(&ctx)?;
    builder.append_extension(ski)?;
    builder.append_extension(aki)?;
    Ok(builder)
}

/// Signs `builder` with `signer` and pairs the certificate with its `key`.
fn signed(mut builder: X509Builder, signer: &PKey<Private>, key: PKey<Private>) -> Result<DevCert> {
    builder.sign(signer, MessageDigest::sha256())?;
    Ok(DevCert {
        cert: builder.build(),
        key,
    })
}

fn append(name: &mut X509NameBuilder, field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(DevCertError::InvalidOption("name contains NUL"));
    }
    Ok(name.append_entry_by_text(field, value)?)
}

fn base_builder(
    subject: &X509Name,
    issuer: &X509NameRef,
    key: &PKey<Private>,
    not_before: i64,
    not_after: i64,
) -> Result<X509Builder> {
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(subject)?;
    builder.set_issuer_name(issuer)?;
    builder.set_pubkey(key)?;
    let not_before = Asn1Time::from_unix(not_before)?;
    let not_after = Asn1Time::from_unix(not_after)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    Ok(builder)
}

fn apple_extension(arc: u64, value_der: &[u8]) -> Result<X509Extension> {
    let oid = Asn1Object::from_str(&apple::apple_oid_text(arc))?;
    let value = Asn1OctetString::new_from_bytes(value_der)?;
    Ok(X509Extension::new_from_der(&oid, false, &value)?)
}

/// Apple's layout: SEQUENCE { UTF8String topic, SEQUENCE { UTF8String kind }, … }.
fn topics_der(topics: &[String]) -> Vec<u8> {
    let mut body = Vec::new();
    for topic in topics {
        let kind = if topic.ends_with(apple::VOIP_SUFFIX) {
            "voip"
        } else if topic.ends_with(".complication") {
            "complication"
        } else {
            "app"
        };
        body.extend(der::encode(tag::UTF8_STRING, topic.as_bytes()));
        body.extend(der::encode(
            tag::SEQUENCE,
            &der::encode(tag::UTF8_STRING, kind.as_bytes()),
        ));
    }
    der::encode(tag::SEQUENCE, &body)
}
