//! Twilio's Client Call Notification webhook, as Twilio calls it: bodies in Twilio's shape,
//! signed by Twilio's own helper libraries (twilio-python's `RequestValidator`, twilio-node's
//! `getExpectedTwilioSignature`; `scripts/test.sh` installs both), or authenticated with an
//! API key in HTTP Basic. These tests fail, never skip, without the libraries.

mod auth;
mod cli_redis;
mod relay;
mod signed;

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The Twilio account the tests link, and its Auth Token.
pub const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
/// The webhook's path.
pub const PATH: &str = "/v1/twilio/call-notifications";

/// A call SID from `seed`.
pub fn call_sid(seed: u8) -> String {
    format!("CA{}", format!("{seed:02x}").repeat(16))
}

/// A notification for `to` (an identity) in Twilio's shape, with extra keys Twilio may add.
pub fn notification(to: &str, call: &str) -> Value {
    json!({
        "twi_account_sid": TWILIO_ACCOUNT,
        "twi_call_sid": call,
        "twi_bridge_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0d2lsaW8iOiJicmlkZ2UifQ.c2lnbmVk",
        "twi_from": "client:quick_start",
        "twi_to": format!("client:{to}"),
        "twi_message_id": "WBa1b2c3d4e5f60718293a4b5c6d7e8f90",
        "twi_message_type": "twilio.voice.call",
        "twi_params": "caller_name=Quick+Start&topic=a%26b",
        "twi_stir_status": "TN-Validation-Passed-A",
    })
}

/// Links [`TWILIO_ACCOUNT`] to `app`'s account with `ring_timeout` seconds.
pub async fn link(app: &TestApp, ring_timeout: u32) {
    let res = app
        .client
        .post(app.url("/v1/twilio/links"))
        .header("Authorization", app.basic())
        .json(
            &json!({"twilio_account_sid": TWILIO_ACCOUNT, "auth_token": AUTH_TOKEN,
                      "ring_timeout": ring_timeout}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

/// twilio-python (`PUSHGATE_TEST_PYTHON`), as `scripts/test.sh` installs it.
pub fn python() -> String {
    std::env::var("PUSHGATE_TEST_PYTHON")
        .unwrap_or_else(|_| "target/py-venv-twilio/bin/python".into())
}

/// The `node_modules` holding twilio-node (`PUSHGATE_TEST_NODE_PATH`).
pub fn node_modules() -> String {
    std::env::var("PUSHGATE_TEST_NODE_PATH").unwrap_or_else(|_| {
        format!(
            "{}/target/node-twilio/node_modules",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

const PY_SIGN: &str = r#"
import sys
from twilio.request_validator import RequestValidator
token, base, body = sys.argv[1], sys.argv[2], sys.stdin.read()
v = RequestValidator(token)
url = base + ("&" if "?" in base else "?") + "bodySHA256=" + v.compute_hash(body)
sig = v.compute_signature(url, {})
assert v.validate(url, body, sig), "twilio-python does not validate its own signature"
print(url)
print(sig)
"#;

/// The URL (with `bodySHA256`) and `X-Twilio-Signature` twilio-python's `RequestValidator`
/// computes for `body` posted to `base` under `token`.
pub fn sign_python(token: &str, base: &str, body: &str) -> (String, String) {
    let mut cmd = std::process::Command::new(python());
    cmd.args(["-W", "ignore", "-c", PY_SIGN, token, base]);
    let out = run_with_stdin(cmd, body, "twilio-python");
    split(&out)
}

const NODE_SIGN: &str = r#"
const twilio = require(process.argv[1] + "/twilio");
const [token, base] = process.argv.slice(2);
let body = "";
process.stdin.on("data", (d) => (body += d));
process.stdin.on("end", () => {
  const url = base + (base.includes("?") ? "&" : "?") + "bodySHA256=" + twilio.getExpectedBodyHash(body);
  const sig = twilio.getExpectedTwilioSignature(token, url, {});
  if (!twilio.validateRequestWithBody(token, sig, url, body)) {
    throw new Error("twilio-node does not validate its own signature");
  }
  console.log(url);
  console.log(sig);
});
"#;

/// [`sign_python`] by twilio-node's `getExpectedTwilioSignature` / `getExpectedBodyHash`.
pub fn sign_node(token: &str, base: &str, body: &str) -> (String, String) {
    let mut cmd = std::process::Command::new("node");
    cmd.args(["-e", NODE_SIGN, &node_modules(), token, base]);
    let out = run_with_stdin(cmd, body, "twilio-node");
    split(&out)
}

fn run_with_stdin(mut cmd: std::process::Command, input: &str, what: &str) -> String {
    use std::io::Write as _;
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what} is required (scripts/test.sh installs it): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn split(out: &str) -> (String, String) {
    let mut lines = out.lines();
    let url = lines.next().expect("a URL").to_owned();
    let sig = lines.next().expect("a signature").to_owned();
    (url, sig)
}

/// POSTs `body` (raw) to `url` with `X-Twilio-Signature: sig` and no other credentials.
pub async fn post_signed(app: &TestApp, url: &str, body: &str, sig: &str) -> reqwest::Response {
    app.client
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", sig)
        .header("I-Twilio-Idempotency-Token", "test")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// POSTs `body` with the app's API key over HTTP Basic (and no signature).
pub async fn post_basic(app: &TestApp, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(PATH))
        .header("Content-Type", "application/json")
        .header("Authorization", app.basic())
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The webhook URL of `app` as Twilio is configured with it.
pub fn base(app: &TestApp) -> String {
    app.url(PATH)
}
