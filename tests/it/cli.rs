//! The binary as a user runs it: `init` (twice), `keys`, `token`, `serve`, a registration
//! with the printed token, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use secrecy::ExposeSecret;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_pushgate");

fn pushgate(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PUSHGATE_DATA_DIR", dir)
        .env("PUSHGATE_LOG", "warn")
        .output()
        .expect("run pushgate")
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not in output: {text}"))
}

/// Starts `pushgate serve` on port 0 with the data dir `dir`.
fn serve(dir: &std::path::Path) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().env("PUSHGATE_DATA_DIR", dir);
    crate::helpers::serve_on_free_port(cmd)
}

#[tokio::test]
async fn init_token_register_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let first = stdout(&pushgate(dir.path(), &["init"]));
    let account = value(&first, "ACCOUNT_SID").to_owned();
    let key = value(&first, "API_KEY").to_owned();
    let secret = value(&first, "API_KEY_SECRET").to_owned();
    let second = stdout(&pushgate(dir.path(), &["init"]));
    assert!(second.contains("already exists") && second.contains(&account));
    assert!(!second.contains(&secret), "the secret is shown only once");

    let listed = stdout(&pushgate(dir.path(), &["keys", "list"]));
    assert!(listed.contains(&key) && !listed.contains(&secret));
    let created = stdout(&pushgate(dir.path(), &["keys", "create", "--name", "ci"]));
    let new_key = value(&created, "API_KEY").to_owned();
    stdout(&pushgate(dir.path(), &["keys", "revoke", &new_key]));
    let refused = pushgate(dir.path(), &["keys", "revoke", &key]);
    assert!(!refused.status.success(), "last key can't be revoked");

    let (_, leaf) = crate::helpers::voip_certificate("com.example.app");
    let cert = dir.path().join("cert.pem");
    let key_pem = dir.path().join("key.pem");
    std::fs::write(&cert, leaf.cert_pem().unwrap()).unwrap();
    std::fs::write(&key_pem, leaf.key_pkcs8_pem().unwrap().expose_secret()).unwrap();
    let added = stdout(&pushgate(
        dir.path(),
        &[
            "credentials",
            "add",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key_pem.to_str().unwrap(),
        ],
    ));
    let cr = value(&added, "PUSH_CREDENTIAL_SID").to_owned();
    assert!(stdout(&pushgate(dir.path(), &["credentials", "list"])).contains(&cr));
    // With a single credential, --push-credential may be left out.
    let token = stdout(&pushgate(dir.path(), &["token", "--identity", "alice"]))
        .trim()
        .to_owned();
    assert_eq!(token.split('.').count(), 3);

    let (mut child, addr) = serve(dir.path());
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
    let out = Command::new(BIN)
        .arg("migrate")
        .env_clear()
        .env("PUSHGATE_DATA_DIR", dir.path())
        .env("PUSHGATE_DATABASE_URL", "postgres://127.0.0.1:1/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PUSHGATE_MASTER_KEY is required"), "{err}");
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PUSHGATE_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("listen")
    );
}

fn pushgate_env(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PUSHGATE_DATA_DIR", dir)
        .env("PUSHGATE_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("run pushgate")
}

#[test]
fn credentials_by_cli_and_master_key_rotation() {
    use pushgate::credentials::devcerts::{self, P12Encryption};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&pushgate(d, &["init"]));

    let (_, leaf) = crate::helpers::voip_certificate("com.example.p12");
    let p12 = d.join("cert.p12");
    std::fs::write(
        &p12,
        leaf.to_p12(&[], "s3cret", P12Encryption::Legacy).unwrap(),
    )
    .unwrap();
    let out = pushgate_env(
        d,
        &[
            "credentials",
            "add",
            "--p12",
            p12.to_str().unwrap(),
            "--password-env",
            "P12_PASSWORD",
            "--sandbox",
        ],
        &[("P12_PASSWORD", "s3cret")],
    );
    let p12_sid = value(&stdout(&out), "PUSH_CREDENTIAL_SID").to_owned();
    let wrong = pushgate_env(
        d,
        &[
            "credentials",
            "add",
            "--p12",
            p12.to_str().unwrap(),
            "--password-env",
            "P12_PASSWORD",
        ],
        &[("P12_PASSWORD", "nope")],
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("password"));

    let p8 = d.join("AuthKey_ABC123DEFG.p8");
    std::fs::write(&p8, devcerts::generate_p8().unwrap().expose_secret()).unwrap();
    let out = pushgate(
        d,
        &[
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
        ],
    );
    let p8_sid = value(&stdout(&out), "PUSH_CREDENTIAL_SID").to_owned();
    let list = stdout(&pushgate(d, &["credentials", "list"]));
    assert!(list.contains(&p12_sid) && list.contains(&p8_sid) && list.contains("apn_token"));
    let ambiguous = pushgate(d, &["token", "--identity", "alice"]);
    assert!(
        !ambiguous.status.success(),
        "two credentials: --push-credential needed"
    );
    stdout(&pushgate(d, &["credentials", "rm", &p8_sid]));

    // Rotate the generated master key: secrets still open, the key file holds the new key.
    let old_key = std::fs::read_to_string(d.join("master.key")).unwrap();
    let new_key = pushgate::secrets::MasterKey::generate().to_base64();
    let out = pushgate_env(
        d,
        &["rotate-master-key", "--new-key-env", "NEW_KEY"],
        &[("NEW_KEY", &new_key)],
    );
    let text = stdout(&out);
    assert!(text.contains("re-encrypted 2 secret(s)"), "{text}");
    let now_key = std::fs::read_to_string(d.join("master.key")).unwrap();
    assert_eq!(now_key.trim(), new_key);
    assert_ne!(now_key, old_key);
    let token = stdout(&pushgate(d, &["token", "--identity", "alice"]));
    assert_eq!(
        token.trim().split('.').count(),
        3,
        "the API key secret opens with the new key"
    );
}

/// Starts `pushgate mock-apns` on free ports; returns it with its TLS port, control address
/// and CA file.
fn mock_apns(dir: &std::path::Path, extra: &[&str]) -> (Child, u16, String, std::path::PathBuf) {
    let mut child = Command::new(BIN)
        .args([
            "mock-apns",
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_clear()
        .env("PUSHGATE_DATA_DIR", dir)
        .env("PUSHGATE_LOG", "warn")
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
    stdout(&pushgate(d, &["init"]));
    let (_, leaf) = crate::helpers::voip_certificate("com.example.app");
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    std::fs::write(&cert, leaf.cert_pem().unwrap()).unwrap();
    std::fs::write(&key, leaf.key_pkcs8_pem().unwrap().expose_secret()).unwrap();
    let added = stdout(&pushgate(
        d,
        &[
            "credentials",
            "add",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    ));
    let cr = value(&added, "PUSH_CREDENTIAL_SID").to_owned();
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
    let env = [
        ("PUSHGATE_APNS_PRODUCTION_URL", url.as_str()),
        ("PUSHGATE_APNS_SANDBOX_URL", url.as_str()),
        ("PUSHGATE_APNS_CA_FILE", ca.to_str().unwrap()),
    ];
    let ok = pushgate_env(d, &["push", "--credential", &cr, "--token", &device], &env);
    assert!(stdout(&ok).contains("outcome: accepted"));
    // A debug build's token sent to production: the hint says to try the sandbox.
    let wrong_env = pushgate_env(
        d,
        &["push", "--credential", &cr, "--token", &debug_build],
        &env,
    );
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
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--apns-listen",
            "127.0.0.1:0",
            "--apns-control",
            "127.0.0.1:0",
        ])
        .env_clear()
        .env("PUSHGATE_DATA_DIR", dir.path())
        .env("PUSHGATE_LISTEN", "127.0.0.1:0")
        .env("PUSHGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut gateway, mut control, mut auth) = (String::new(), String::new(), String::new());
    while gateway.is_empty() || control.is_empty() {
        let line = lines.next().expect("demo exited early").unwrap();
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("G=") {
            let (g, a) = rest.split_once("; AUTH=").unwrap();
            gateway = g.to_owned();
            auth = a.trim_matches('"').to_owned();
        } else if let Some(rest) = line.strip_prefix("bridge() { curl -s \"") {
            control = rest.split("/pushes").next().unwrap().to_owned();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let client = reqwest::Client::new();
    // As the printed steps do: place a call, read the pushes, answer on phone 1.
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
    let pushes: Value = client
        .get(format!("{control}/pushes?since=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pushes = pushes["pushes"].as_array().unwrap();
    assert_eq!(pushes.len(), 3);
    let phone1 = pushes
        .iter()
        .find(|p| p["device_token"].as_str().unwrap().starts_with("d1"))
        .unwrap();
    assert_eq!(phone1["payload"]["twi_call_sid"], call.as_str());
    let bridge = phone1["payload"]["twi_bridge_token"].as_str().unwrap();
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
