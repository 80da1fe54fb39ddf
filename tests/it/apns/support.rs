//! Shared helpers for the network tests: an APNs simulator on loopback,
//! Apple-like client certificates made with OpenSSL, `.p8` keys, and a way to
//! await a condition instead of sleeping and hoping.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder};
use pushgate::apns::{ApnsAuth, ApnsClient, ApnsConfig, Clock, Environment, Notification};
use pushgate::mock_apns::{
    self as sim, EnvironmentMode, KeyRegistration, PemSource, Simulator, SimulatorConfig,
    TokenRegistration,
};
use secrecy::SecretString;

pub const TOPIC: &str = "com.example.app.voip";
pub const KEY_ID: &str = "KEYID12345";
pub const TEAM_ID: &str = "TEAMID1234";

/// A throwaway certificate authority.
pub struct Ca {
    pub cert: X509,
    pub key: PKey<Private>,
    pub pem: String,
}

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey")
}

fn builder(subject: &[(Nid, &str)], key: &PKey<Private>) -> X509Builder {
    let mut name = X509NameBuilder::new().expect("name");
    for (nid, value) in subject {
        name.append_entry_by_nid(*nid, value).expect("name entry");
    }
    let name = name.build();
    let mut b = X509Builder::new().expect("x509");
    b.set_version(2).expect("version");
    let mut serial = BigNum::new().expect("bn");
    serial
        .rand(120, MsbOption::MAYBE_ZERO, false)
        .expect("rand");
    let serial = Asn1Integer::from_bn(&serial).expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_pubkey(key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(365).expect("t"))
        .expect("na");
    b
}

impl Ca {
    /// A self-signed CA named `name`.
    pub fn new(name: &str) -> Ca {
        let key = p256();
        let mut b = builder(&[(Nid::COMMONNAME, name)], &key);
        let subject = {
            let mut n = X509NameBuilder::new().expect("name");
            n.append_entry_by_nid(Nid::COMMONNAME, name).expect("cn");
            n.build()
        };
        b.set_issuer_name(&subject).expect("issuer");
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("ext");
        b.append_extension(
            KeyUsage::new()
                .key_cert_sign()
                .crl_sign()
                .build()
                .expect("ku"),
        )
        .expect("ext");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        let cert = b.build();
        let pem = String::from_utf8(cert.to_pem().expect("pem")).expect("utf8");
        Ca { cert, key, pem }
    }

    /// An Apple-style push client certificate: subject `UID=<uid>, CN=...`,
    /// environment OIDs `.3.1` (development) / `.3.2` (production) and, when
    /// `topics` is non-empty, the `.3.6` topic list.
    pub fn client_cert(&self, uid: &str, dev: bool, prod: bool, topics: &[&str]) -> ApnsAuth {
        let key = p256();
        let cn = format!("VoIP Services: {}", uid.trim_end_matches(".voip"));
        let mut b = builder(&[(Nid::USERID, uid), (Nid::COMMONNAME, &cn)], &key);
        b.set_issuer_name(self.cert.subject_name()).expect("issuer");
        b.append_extension(BasicConstraints::new().build().expect("bc"))
            .expect("ext");
        b.append_extension(ExtendedKeyUsage::new().client_auth().build().expect("eku"))
            .expect("ext");
        let null = [0x05, 0x00];
        if dev {
            b.append_extension(apple_ext("1.2.840.113635.100.6.3.1", &null))
                .expect("ext");
        }
        if prod {
            b.append_extension(apple_ext("1.2.840.113635.100.6.3.2", &null))
                .expect("ext");
        }
        if !topics.is_empty() {
            b.append_extension(apple_ext("1.2.840.113635.100.6.3.6", &topic_list(topics)))
                .expect("ext");
        }
        b.sign(&self.key, MessageDigest::sha256()).expect("sign");
        let cert = b.build();
        ApnsAuth::Certificate {
            cert_chain_pem: String::from_utf8(cert.to_pem().expect("pem")).expect("utf8"),
            private_key_pem: SecretString::from(
                String::from_utf8(key.private_key_to_pem_pkcs8().expect("pem")).expect("utf8"),
            ),
        }
    }
}

impl Ca {
    /// A TLS server certificate for `127.0.0.1`, signed by this CA.
    pub fn server_identity(&self) -> (X509, PKey<Private>) {
        let key = p256();
        let mut b = builder(&[(Nid::COMMONNAME, "127.0.0.1")], &key);
        b.set_issuer_name(self.cert.subject_name()).expect("issuer");
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&b.x509v3_context(Some(&self.cert), None))
            .expect("san");
        b.append_extension(san).expect("ext");
        b.append_extension(ExtendedKeyUsage::new().server_auth().build().expect("eku"))
            .expect("ext");
        b.sign(&self.key, MessageDigest::sha256()).expect("sign");
        (b.build(), key)
    }
}

fn apple_ext(oid: &str, der: &[u8]) -> X509Extension {
    let oid = Asn1Object::from_str(oid).expect("oid");
    let value = Asn1OctetString::new_from_bytes(der).expect("octets");
    X509Extension::new_from_der(&oid, false, &value).expect("extension")
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 0x80, "short form only");
    let mut out = vec![tag, content.len() as u8];
    out.extend_from_slice(content);
    out
}

/// `SEQUENCE { UTF8String topic, SEQUENCE { UTF8String "voip" } ... }`, as Apple writes it.
fn topic_list(topics: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    for topic in topics {
        body.extend(tlv(0x0c, topic.as_bytes()));
        body.extend(tlv(0x30, &tlv(0x0c, b"voip")));
    }
    tlv(0x30, &body)
}

/// A fresh `.p8` key: (private PKCS#8 PEM, the same as text for the simulator).
pub fn p8() -> (SecretString, String) {
    let key = p256();
    let pem = String::from_utf8(key.private_key_to_pem_pkcs8().expect("pem")).expect("utf8");
    (SecretString::from(pem.clone()), pem)
}

/// Token auth with a fresh key that `sim` knows (so signatures are verified).
pub fn token_auth(sims: &[&Simulator]) -> ApnsAuth {
    let (secret, pem) = p8();
    for s in sims {
        s.register_key(&KeyRegistration {
            key_id: KEY_ID.into(),
            team_id: TEAM_ID.into(),
            private_key_pem: Some(pem.clone()),
            ..KeyRegistration::default()
        })
        .expect("register key");
    }
    ApnsAuth::Token {
        p8_pem: secret,
        key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
    }
}

/// Simulator settings for tests: loopback, free port.
pub fn sim_config() -> SimulatorConfig {
    SimulatorConfig {
        tls_listen: "127.0.0.1:0".parse().expect("addr"),
        environment: EnvironmentMode::Both,
        ..SimulatorConfig::default()
    }
}

/// `sim_config` that verifies client certificates against `ca`.
pub fn sim_config_with_client_ca(ca: &Ca) -> SimulatorConfig {
    SimulatorConfig {
        client_ca: Some(PemSource::Pem(ca.pem.clone())),
        ..sim_config()
    }
}

/// Starts a simulator that runs until the test ends.
pub async fn start(config: SimulatorConfig) -> Simulator {
    sim::start(config, std::future::pending())
        .await
        .expect("simulator starts")
}

/// `https://127.0.0.1:<port>` of `sim`.
pub fn url(sim: &Simulator) -> String {
    format!("https://127.0.0.1:{}", sim.tls_addr().port())
}

/// Client config pointing both environments at `sim` and trusting its CA.
pub fn client_config(sim: &Simulator) -> ApnsConfig {
    ApnsConfig {
        request_timeout: Duration::from_secs(20),
        ..ApnsConfig::default()
    }
    .with_url_for_both(url(sim))
    .with_extra_root_pem(sim.ca_pem().expect("generated CA").as_bytes().to_vec())
}

/// A client for `sim` with `auth`, pool size `connections`.
pub fn client(sim: &Simulator, auth: ApnsAuth, connections: usize) -> ApnsClient {
    let config = ApnsConfig {
        connections_per_environment: connections,
        ..client_config(sim)
    };
    ApnsClient::new(config, auth).expect("client builds")
}

/// Like [`client`] with an injected clock for provider tokens.
pub fn client_with_clock(sim: &Simulator, auth: ApnsAuth, clock: Arc<dyn Clock>) -> ApnsClient {
    ApnsClient::builder(auth)
        .config(client_config(sim))
        .clock(clock)
        .build()
        .expect("client builds")
}

/// A 64-hex-character device token derived from `n`.
pub fn device_token(n: u32) -> String {
    format!("{:064x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15 + 1)
}

/// A VoIP invite to `token`.
pub fn invite(token: &str, env: Environment) -> Notification {
    let mut n = Notification::voip(
        token,
        env,
        TOPIC,
        br#"{"twi_message_type":"twilio.voice.call","twi_call_sid":"CA123"}"#.to_vec(),
    );
    n.expiration = Some(0);
    n
}

/// Waits until `cond` holds, checking every few milliseconds; panics after 10 s.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for: {what}"));
}

/// A fixed start time for manual clocks.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000)
}

/// Registers `token` with `s` for `topic` in `env`.
pub fn register(s: &Simulator, token: &str, topic: &str, env: sim::Environment) {
    s.register_token(&TokenRegistration {
        token: token.into(),
        topic: topic.into(),
        environment: env,
    })
    .expect("register token");
}

/// `sim_config` with the push log on.
pub fn logged() -> SimulatorConfig {
    SimulatorConfig {
        log_pushes: true,
        ..sim_config()
    }
}
