//! Twilio's REST shapes driven by Twilio's own helper libraries, from their registries:
//! twilio-python (`PUSHGATE_TEST_PYTHON`) and twilio-node (`PUSHGATE_TEST_NODE_PATH`), each
//! pointed at the gateway by changing only its base URL. `scripts/test.sh` installs both;
//! without them the tests fail, they never skip. Everything stays on 127.0.0.1.

mod calls;
mod credentials;
mod node;
mod python;
mod shapes;

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::{Apns, TestApp, device_token};

/// The interpreter of the virtualenv holding twilio-python.
fn python() -> String {
    std::env::var("PUSHGATE_TEST_PYTHON")
        .unwrap_or_else(|_| "target/py-venv-twilio/bin/python".into())
}

/// The `node_modules` holding twilio-node.
fn node_path() -> String {
    std::env::var("PUSHGATE_TEST_NODE_PATH")
        .unwrap_or_else(|_| "target/node-twilio/node_modules".into())
}

/// Which helper library a test drives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Library {
    Python,
    Node,
}

impl Library {
    /// Runs `script` with the library, the gateway's base URL and the seeded API key as its
    /// first arguments (then `args`); returns each line it printed, parsed as JSON. The
    /// program runs beside the test's runtime, which serves its requests meanwhile.
    pub(crate) async fn run(self, app: &TestApp, script: &str, args: &[&str]) -> Vec<Value> {
        let base = format!("http://{}", app.addr);
        let mut command = match self {
            Library::Python => {
                let mut c = tokio::process::Command::new(python());
                c.args(["-W", "ignore", "-c", script]);
                c
            }
            Library::Node => {
                let mut c = tokio::process::Command::new("node");
                c.env("NODE_PATH", node_path()).args(["-e", script, "--"]);
                c
            }
        };
        command.args([
            base.as_str(),
            app.account.as_str(),
            app.key.as_str(),
            app.secret.expose_secret(),
        ]);
        command.args(args);
        let missing = match self {
            Library::Python => {
                "twilio-python is required (scripts/test.sh installs it into \
                 target/py-venv-twilio; or set PUSHGATE_TEST_PYTHON)"
            }
            Library::Node => {
                "twilio-node is required (scripts/test.sh installs it into target/node-twilio; \
                 or set PUSHGATE_TEST_NODE_PATH to its node_modules)"
            }
        };
        let out = command.output().await.expect(missing);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{self:?} script failed ({missing}):\n{stderr}"
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
            .collect()
    }
}

/// Registers one iPhone for `identity` that the APNs simulator accepts pushes for.
pub(crate) async fn phone(app: &TestApp, apns: &Apns, identity: &str, seed: u8) -> String {
    apns.register(&device_token(seed), "production");
    app.register_device(identity, &device_token(seed)).await;
    device_token(seed)
}

/// Waits (10 s at most) until the APNs simulator has a push for `call_sid`; returns it.
pub(crate) async fn push_for(apns: &Apns, call_sid: &str) -> Value {
    for _ in 0..200 {
        if let Some(push) = apns.pushes("production").into_iter().find(|p| {
            p.payload
                .as_ref()
                .is_some_and(|b| b["twi_call_sid"] == call_sid)
        }) {
            return push.payload.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no push for {call_sid} reached the simulator");
}
