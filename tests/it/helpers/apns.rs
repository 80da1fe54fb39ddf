//! Two strict APNs simulators standing in for Apple's hosts ([`Apns`]) and a gateway whose
//! APNs endpoints are them ([`spawn_app_with_apns`]).

use pushgate::config::Config;
use pushgate::mock_apns::{
    Environment as SimEnvironment, EnvironmentMode, PushRecord, Simulator, SimulatorConfig,
    TokenRegistration,
};

use super::{Backend, TestApp, spawn_app_with};

/// The VoIP topic of the seeded credential.
pub const TOPIC: &str = "com.example.app.voip";

/// Two strict APNs simulators standing in for Apple's production and sandbox hosts.
pub struct Apns {
    pub production: Simulator,
    pub sandbox: Simulator,
}

impl Apns {
    /// The simulator of `env` (`production` or `sandbox`).
    pub fn of(&self, env: &str) -> &Simulator {
        if env == "sandbox" {
            &self.sandbox
        } else {
            &self.production
        }
    }

    /// Makes `token` a valid device token of the seeded app in `env`.
    pub fn register(&self, token: &str, env: &str) {
        let environment = if env == "sandbox" {
            SimEnvironment::Sandbox
        } else {
            SimEnvironment::Production
        };
        self.of(env)
            .register_token(&TokenRegistration {
                token: token.to_owned(),
                topic: TOPIC.to_owned(),
                environment,
            })
            .unwrap();
    }

    /// Every push the simulator of `env` received so far.
    pub fn pushes(&self, env: &str) -> Vec<PushRecord> {
        self.of(env).pushes(0)
    }
}

async fn simulator(environment: EnvironmentMode) -> Simulator {
    pushgate::mock_apns::start(
        SimulatorConfig {
            tls_listen: "127.0.0.1:0".parse().unwrap(),
            environment,
            strict: true,
            log_pushes: true,
            ..SimulatorConfig::default()
        },
        std::future::pending(),
    )
    .await
    .expect("start simulator")
}

/// Starts two simulators and a gateway whose APNs endpoints are them.
pub async fn spawn_app_with_apns(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
) -> (TestApp, Apns) {
    let apns = Apns {
        production: simulator(EnvironmentMode::Production).await,
        sandbox: simulator(EnvironmentMode::Development).await,
    };
    let ca_file = tempfile::NamedTempFile::new()
        .unwrap()
        .into_temp_path()
        .keep()
        .unwrap();
    let pem = format!(
        "{}{}",
        apns.production.ca_pem().unwrap(),
        apns.sandbox.ca_pem().unwrap()
    );
    std::fs::write(&ca_file, pem).unwrap();
    let app = spawn_app_with(backend, |c| {
        c.apns_production_url = apns.production.base_url();
        c.apns_sandbox_url = apns.sandbox.base_url();
        c.apns_ca_file = Some(ca_file);
        adjust(c);
    })
    .await;
    (app, apns)
}
