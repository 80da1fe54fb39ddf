//! Shared helpers for the network tests: an APNs simulator on loopback,
//! Apple-like client certificates and `.p8` keys made with
//! `credentials::devcerts`, and a way to await a condition instead of sleeping
//! and hoping.

#![allow(dead_code)]

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use pushgate::apns::{ApnsAuth, ApnsClient, ApnsConfig, Clock, Environment, Notification};
use pushgate::clock::now_secs;
use pushgate::credentials::devcerts::{self, AppleEnvironment, VoipPair};
use pushgate::mock_apns::{
    self as sim, EnvironmentMode, KeyRegistration, PemSource, Simulator, SimulatorConfig,
    TokenRegistration,
};
use secrecy::{ExposeSecret, SecretString};

pub const TOPIC: &str = "com.example.app.voip";
pub const KEY_ID: &str = "KEYID12345";
pub const TEAM_ID: &str = "TEAMID1234";

/// A throwaway certificate authority (the CA of a [`VoipPair`]).
pub struct Ca {
    pair: VoipPair,
    /// The CA certificate as PEM.
    pub pem: String,
}

impl Ca {
    /// A fresh self-signed CA.
    pub fn new() -> Ca {
        let pair = VoipPair::issue("com.example.app").expect("CA");
        let pem = pair.ca_pem().expect("CA pem");
        Ca { pair, pem }
    }

    /// An Apple-style push client certificate: subject `UID=<uid>, CN=VoIP Services: ...`,
    /// environment OIDs `.3.1` (development) / `.3.2` (production) and, when
    /// `topics` is non-empty, the `.3.6` topic list.
    pub fn client_cert(&self, uid: &str, dev: bool, prod: bool, topics: &[&str]) -> ApnsAuth {
        let opts = VoipPair::voip(uid.trim_end_matches(".voip"), now_secs())
            .with_uid(uid)
            .with_environment(AppleEnvironment::from_flags(dev, prod))
            .with_topics(topics);
        let leaf = self.pair.sibling(&opts).expect("client cert");
        ApnsAuth::Certificate {
            cert_chain_pem: leaf.cert_pem().expect("pem"),
            private_key_pem: leaf.key_pkcs8_pem().expect("pem"),
        }
    }

    /// A TLS server certificate for `127.0.0.1`, signed by this CA.
    pub fn server_identity(&self) -> (X509, PKey<Private>) {
        let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let server =
            devcerts::issue_server(&self.pair.ca, &[], &loopback, now_secs()).expect("server");
        (server.cert, server.key)
    }
}

/// A fresh `.p8` key: (private PKCS#8 PEM, the same as text for the simulator).
pub fn p8() -> (SecretString, String) {
    let secret = devcerts::generate_p8().expect("p8");
    let pem = secret.expose_secret().to_owned();
    (secret, pem)
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
