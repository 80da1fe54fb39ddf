//! The binary as a user runs it: `init` (twice), `keys`, `token`, `serve`, a registration
//! with the printed token, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::bin::{Pushgate, output_value, stdout};

#[tokio::test]
async fn init_token_register_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Pushgate::in_dir(dir.path());
    let first = pg.run(&["init"]);
    let account = output_value(&first, "ACCOUNT_SID").to_owned();
    let key = output_value(&first, "API_KEY").to_owned();
    let secret = output_value(&first, "API_KEY_SECRET").to_owned();
    let second = pg.run(&["init"]);
    assert!(second.contains("already exists") && second.contains(&account));
    assert!(!second.contains(&secret), "the secret is shown only once");

    let listed = pg.run(&["keys", "list"]);
    assert!(listed.contains(&key) && !listed.contains(&secret));
    let created = pg.run(&["keys", "create", "--name", "ci"]);
    let new_key = output_value(&created, "API_KEY").to_owned();
    pg.run(&["keys", "revoke", &new_key]);
    let refused = pg.output(&["keys", "revoke", &key]);
    assert!(!refused.status.success(), "last key can't be revoked");

    let added = pg.add_voip_credential(dir.path(), "com.example.app", &[]);
    let cr = output_value(&added, "PUSH_CREDENTIAL_SID").to_owned();
    assert!(pg.run(&["credentials", "list"]).contains(&cr));
    // With a single credential, --push-credential may be left out.
    let token = pg.run(&["token", "--identity", "alice"]).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    let (mut child, addr) = pg.serve();
    let client = reqwest::Client::new();
    let res = client
        .post(format!("http://{addr}/v1/registrations"))
        .header("X-Twilio-Token", &token)
        .json(
            &json!({"channel_type": "apn", "message_types": ["twilio.voice.call"],
                      "data": {"registration_id": "ab".repeat(32)}, "version": "3"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/v1/registrations/BS")
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit 0 after SIGTERM, got {exit:?}");
}

#[test]
fn bad_configuration_is_reported_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Pushgate::default()
        .env("PUSHGATE_DATA_DIR", dir.path().to_str().unwrap())
        .env("PUSHGATE_DATABASE_URL", "postgres://127.0.0.1:1/x")
        .output(&["migrate"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PUSHGATE_MASTER_KEY is required"), "{err}");
    let out = Pushgate::default()
        .env("PUSHGATE_LISTEN", "not-an-address")
        .output(&["serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("listen")
    );
}

#[test]
fn credentials_by_cli_and_master_key_rotation() {
    use pushgate::credentials::devcerts::{self, P12Encryption, VoipPair};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pg = Pushgate::in_dir(d);
    pg.run(&["init"]);

    let leaf = VoipPair::issue("com.example.p12").unwrap().leaf;
    let p12 = d.join("cert.p12");
    std::fs::write(
        &p12,
        leaf.to_p12(&[], "s3cret", P12Encryption::Legacy).unwrap(),
    )
    .unwrap();
    let out = pg.clone().env("P12_PASSWORD", "s3cret").output(&[
        "credentials",
        "add",
        "--p12",
        p12.to_str().unwrap(),
        "--password-env",
        "P12_PASSWORD",
        "--sandbox",
    ]);
    let p12_sid = output_value(&stdout(&out), "PUSH_CREDENTIAL_SID").to_owned();
    let wrong = pg.clone().env("P12_PASSWORD", "nope").output(&[
        "credentials",
        "add",
        "--p12",
        p12.to_str().unwrap(),
        "--password-env",
        "P12_PASSWORD",
    ]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("password"));

    let p8 = d.join("AuthKey_ABC123DEFG.p8");
    std::fs::write(&p8, devcerts::generate_p8().unwrap().expose_secret()).unwrap();
    let out = pg.output(&[
        "credentials",
        "add",
        "--p8",
        p8.to_str().unwrap(),
        "--key-id",
        "ABC123DEFG",
        "--team-id",
        "TEAM123456",
        "--bundle-id",
        "com.example.token",
    ]);
    let p8_sid = output_value(&stdout(&out), "PUSH_CREDENTIAL_SID").to_owned();
    let list = pg.run(&["credentials", "list"]);
    assert!(list.contains(&p12_sid) && list.contains(&p8_sid) && list.contains("apn_token"));
    let ambiguous = pg.output(&["token", "--identity", "alice"]);
    assert!(
        !ambiguous.status.success(),
        "two credentials: --push-credential needed"
    );
    pg.run(&["credentials", "rm", &p8_sid]);

    // Rotate the generated master key: secrets still open, the key file holds the new key.
    let old_key = std::fs::read_to_string(d.join("master.key")).unwrap();
    let new_key = pushgate::secrets::MasterKey::generate().to_base64();
    let out = pg.clone().env("NEW_KEY", &new_key).output(&[
        "rotate-master-key",
        "--new-key-env",
        "NEW_KEY",
    ]);
    let text = stdout(&out);
    assert!(text.contains("re-encrypted 2 secret(s)"), "{text}");
    let now_key = std::fs::read_to_string(d.join("master.key")).unwrap();
    assert_eq!(now_key.trim(), new_key);
    assert_ne!(now_key, old_key);
    let token = pg.run(&["token", "--identity", "alice"]);
    assert_eq!(
        token.trim().split('.').count(),
        3,
        "the API key secret opens with the new key"
    );
}

/// Starts `pushgate mock-apns` on free ports; returns it with its TLS port, control address
/// and CA file.
fn mock_apns(dir: &std::path::Path, extra: &[&str]) -> (Child, u16, String, std::path::PathBuf) {
    let mut child = Pushgate::in_dir(dir)
        .command(&[
            "mock-apns",
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn mock-apns");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut port, mut control) = (0, String::new());
    loop {
        let line = lines.next().expect("mock-apns exited early").unwrap();
        if let Some(rest) = line.strip_prefix("mock-apns: APNs simulator on https://") {
            let host_port = rest.split_whitespace().next().unwrap();
            port = host_port.rsplit(':').next().unwrap().parse().unwrap();
        } else if let Some(rest) = line.strip_prefix("control API: http://") {
            control = rest.split_whitespace().next().unwrap().to_owned();
        } else if line.starts_with("CA certificate:") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, port, control, dir.join("mock-apns/ca.pem"))
}

#[tokio::test]
async fn push_reaches_mock_apns_and_prints_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut sim, port, control, ca) =
        mock_apns(d, &["--strict", "--log-pushes", "--env", "production"]);
    let pg = Pushgate::in_dir(d);
    pg.run(&["init"]);
    let added = pg.add_voip_credential(d, "com.example.app", &[]);
    let cr = output_value(&added, "PUSH_CREDENTIAL_SID").to_owned();
    let (device, debug_build) = ("ab".repeat(32), "cd".repeat(32));
    let client = reqwest::Client::new();
    for (token, environment) in [(&device, "production"), (&debug_build, "development")] {
        let res = client
            .post(format!("http://{control}/tokens"))
            .json(&json!({"token": token, "topic": "com.example.app.voip", "environment": environment}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }

    let url = format!("https://127.0.0.1:{port}");
    let pg = pg
        .env("PUSHGATE_APNS_PRODUCTION_URL", &url)
        .env("PUSHGATE_APNS_SANDBOX_URL", &url)
        .env("PUSHGATE_APNS_CA_FILE", ca.to_str().unwrap());
    let ok = pg.run(&["push", "--credential", &cr, "--token", &device]);
    assert!(ok.contains("outcome: accepted"));
    // A debug build's token sent to production: the hint says to try the sandbox.
    let wrong_env = pg.output(&["push", "--credential", &cr, "--token", &debug_build]);
    assert!(!wrong_env.status.success());
    let text = String::from_utf8_lossy(&wrong_env.stdout);
    assert!(
        text.contains("wrong_environment") && text.contains("BadDeviceToken"),
        "{text}"
    );
    assert!(text.contains("--sandbox"), "{text}");

    let log: Value = client
        .get(format!("http://{control}/pushes?since=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &log["pushes"][0];
    assert_eq!(first["headers"]["apns-push-type"], "voip");
    assert_eq!(first["headers"]["apns-topic"], "com.example.app.voip");
    assert_eq!(first["auth"]["type"], "certificate");

    Command::new("kill")
        .args(["-TERM", &sim.id().to_string()])
        .status()
        .unwrap();
    assert!(sim.wait().unwrap().success());
}

#[tokio::test]
async fn demo_rings_a_call_through_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Pushgate::in_dir(dir.path())
        .env("PUSHGATE_LISTEN", "127.0.0.1:0")
        .command(&[
            "demo",
            "--apns-listen",
            "127.0.0.1:0",
            "--apns-control",
            "127.0.0.1:0",
            "--fcm-listen",
            "127.0.0.1:0",
            "--fcm-control",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut gateway, mut auth) = (String::new(), String::new());
    let (mut apns, mut fcm) = (String::new(), String::new());
    while gateway.is_empty() || apns.is_empty() {
        let line = lines.next().expect("demo exited early").unwrap();
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("G=") {
            let (g, a) = rest.split_once("; AUTH=").unwrap();
            gateway = g.to_owned();
            auth = a.trim_matches('"').to_owned();
        } else if let Some(rest) = line.strip_prefix("APNS=") {
            let (a, f) = rest.split_once("; FCM=").unwrap();
            (apns, fcm) = (a.to_owned(), f.to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let client = reqwest::Client::new();
    // As the printed steps do: place a call, read both simulators' pushes, answer on the
    // Android phone.
    let call = client
        .post(format!("{gateway}/placeCall?to=alice"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(call.starts_with("CA"), "{call}");
    let (user, password) = auth.split_once(':').unwrap();
    let settled: Value = client
        .get(format!("{gateway}/v1/invites/{call}?wait=5000"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settled["status"], "delivered", "{settled}");
    assert_eq!(settled["devices"], 3);
    let deliveries = settled["deliveries"].as_array().unwrap();
    assert!(
        deliveries.iter().all(|d| d["status"] == "accepted"),
        "{settled}"
    );
    let on = |p: &str| deliveries.iter().filter(|d| d["platform"] == p).count();
    assert_eq!((on("apn"), on("fcm")), (2, 1), "{settled}");
    let log = |control: String| {
        let client = client.clone();
        async move {
            let v: Value = client
                .get(format!("{control}/pushes?since=0"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["pushes"].as_array().unwrap().clone()
        }
    };
    let iphones = log(apns).await;
    assert_eq!(iphones.len(), 2);
    let phone1 = iphones
        .iter()
        .find(|p| p["device_token"].as_str().unwrap().starts_with("d1"))
        .unwrap();
    assert_eq!(phone1["payload"]["twi_call_sid"], call.as_str());
    let android = log(fcm).await;
    assert_eq!(android.len(), 1);
    let phone3 = &android[0];
    assert!(
        phone3["token"].as_str().unwrap().starts_with("d3"),
        "{phone3}"
    );
    assert_eq!(phone3["status"], 200);
    assert_eq!(phone3["data"]["twi_call_sid"], call.as_str());
    let bridge = phone3["data"]["twi_bridge_token"].as_str().unwrap();
    let res = client
        .post(format!("{gateway}/v1/invites/{call}/accept"))
        .bearer_auth(bridge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}
