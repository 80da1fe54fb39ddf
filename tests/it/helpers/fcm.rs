//! An FCM simulator (with its Google token endpoint) standing in for Firebase ([`Fcm`]),
//! and a gateway pushing to it and to two APNs simulators ([`spawn_app_with_fcm`]), with
//! the simulator's service account uploaded as an `fcm` credential.

use pushgate::config::Config;
use pushgate::credentials::manage::{self, CredentialPatch, Material};
use pushgate::domain::CredentialSid;
use pushgate::mock_fcm::{FaultSpec, PushRecord, Simulator, SimulatorConfig, TokenRegistration};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Apns, Backend, TestApp, spawn_app_with_apns};

/// The FCM simulator and the gateway's credential for its project.
pub struct Fcm {
    pub sim: Simulator,
    pub credential: CredentialSid,
}

impl Fcm {
    /// Makes `token` a registration token of the simulator's project.
    pub fn register(&self, token: &str) {
        self.sim
            .register_token(&TokenRegistration {
                token: token.to_owned(),
                project_id: self.sim.service_account().project_id.clone(),
            })
            .unwrap();
    }

    /// Every send the simulator received so far.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.sim.pushes(0)
    }

    /// Adds a fault rule given as the control API's JSON.
    pub fn fault(&self, spec: Value) {
        let spec: FaultSpec = serde_json::from_value(spec).unwrap();
        self.sim.add_fault(&spec).unwrap();
    }
}

/// An FCM registration token as Firebase issues them (case-sensitive, `:`-separated).
pub fn fcm_token(seed: u8) -> String {
    format!("fcm{seed:03}Tok:APA91b{}", "Xy-_9q".repeat(24))
}

/// Starts the FCM simulator (strict: only registered tokens exist), two APNs simulators and
/// a gateway pushing to them; uploads the simulator's service account.
pub async fn spawn_app_with_fcm(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
) -> (TestApp, Apns, Fcm) {
    spawn_app_with_fcm_sim(backend, |_| {}, adjust).await
}

/// [`spawn_app_with_fcm`] with the simulator's settings adjusted by `sim_adjust`.
pub async fn spawn_app_with_fcm_sim(
    backend: Backend,
    sim_adjust: impl FnOnce(&mut SimulatorConfig),
    adjust: impl FnOnce(&mut Config),
) -> (TestApp, Apns, Fcm) {
    let mut sim_config = SimulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        strict_tokens: true,
        log_pushes: true,
        ..SimulatorConfig::default()
    };
    sim_adjust(&mut sim_config);
    let sim = pushgate::mock_fcm::start(sim_config, std::future::pending())
        .await
        .expect("start the FCM simulator");
    let ca_file = tempfile::NamedTempFile::new()
        .unwrap()
        .into_temp_path()
        .keep()
        .unwrap();
    std::fs::write(&ca_file, sim.ca_pem()).unwrap();
    let base = sim.base_url();
    let (app, apns) = spawn_app_with_apns(backend, |c| {
        c.fcm_url = base;
        c.fcm_ca_file = Some(ca_file);
        c.fcm_token_hosts = vec!["127.0.0.1".into()];
        adjust(c);
    })
    .await;
    let credential = manage::create(
        &app.store,
        &app.master,
        &app.account,
        CredentialPatch {
            friendly_name: Some("android".into()),
            material: Some(Material::ServiceAccount {
                json: SecretString::from(sim.service_account_json()),
            }),
            ..CredentialPatch::default()
        },
        &app.config.intake_rules(),
    )
    .await
    .expect("upload the simulator's service account")
    .sid;
    (app, apns, Fcm { sim, credential })
}

impl TestApp {
    /// Registers Android `token` for `identity` under `credential` (the SDK's wire format),
    /// returning the registration SID.
    pub async fn register_android(
        &self,
        identity: &str,
        credential: &CredentialSid,
        token: &str,
    ) -> String {
        let res = self
            .client
            .post(self.url("/v1/registrations"))
            .header("X-Twilio-Token", self.token_for(identity, credential))
            .json(
                &json!({"channel_type": "fcm", "message_types": ["twilio.voice.call"],
                          "data": {"registration_id": token}, "version": "3"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        body["sid"].as_str().unwrap().to_owned()
    }
}
