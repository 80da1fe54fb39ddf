//! A gateway killed with SIGKILL in the middle of a fan-out and started again: every
//! unexpired delivery completes, and none whose acceptance was recorded is sent twice.

use std::collections::HashMap;
use std::process::Command;

use pushgate::mock_apns::{FaultSpec, SimulatorConfig};
use serde_json::{Value, json};

use crate::helpers::bin::{Pushgate, output_value};
use crate::helpers::{Backend, basic, device_token, fresh_database, store_tests};

const DEVICES: u8 = 10;

async fn killed_mid_fan_out_and_restarted(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = pushgate::mock_apns::start(
        SimulatorConfig {
            tls_listen: "127.0.0.1:0".parse().unwrap(),
            log_pushes: true,
            ..SimulatorConfig::default()
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    std::fs::write(d.join("ca.pem"), sim.ca_pem().unwrap()).unwrap();
    let mut env = vec![
        ("PUSHGATE_DATA_DIR", d.to_str().unwrap().to_owned()),
        ("PUSHGATE_LOG", "warn".to_owned()),
        ("PUSHGATE_APNS_PRODUCTION_URL", sim.base_url()),
        ("PUSHGATE_APNS_SANDBOX_URL", sim.base_url()),
        (
            "PUSHGATE_APNS_CA_FILE",
            d.join("ca.pem").to_str().unwrap().to_owned(),
        ),
    ];
    if b == Backend::Postgres {
        env.push(("PUSHGATE_DATABASE_URL", fresh_database(b, d).await));
        env.push((
            "PUSHGATE_MASTER_KEY",
            pushgate::secrets::MasterKey::generate().to_base64(),
        ));
    }
    let gw = Pushgate::with_env(env);
    let init = gw.run(&["init"]);
    let auth = basic(
        output_value(&init, "API_KEY"),
        output_value(&init, "API_KEY_SECRET"),
    );
    gw.add_voip_credential(d, "com.example.app", &[]);
    let token = gw.run(&["token", "--identity", "alice"]).trim().to_owned();

    let (mut server, addr) = gw.serve();
    let client = reqwest::Client::new();
    for seed in 1..=DEVICES {
        let res = client
            .post(format!("http://{addr}/v1/registrations"))
            .header("X-Twilio-Token", &token)
            .json(&json!({"binding_type": "apn", "address": device_token(seed)}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    // Every second push hangs at APNs, so the fan-out is half done when the process dies.
    sim.add_fault(&FaultSpec {
        delay_ms: Some(5_000),
        ratio: Some(0.5),
        ..FaultSpec::default()
    })
    .unwrap();
    let res = client
        .post(format!("http://{addr}/v1/invites"))
        .header("Authorization", &auth)
        .json(&json!({"to": "alice", "from": "client:bob", "ttl": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let sid = res.json::<Value>().await.unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let accepted_ids = |invite: &Value| -> Vec<String> {
        invite["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == "accepted")
            .map(|d| d["apns_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |addr: String, wait: u32| {
        let (client, auth, sid) = (client.clone(), auth.clone(), sid.clone());
        async move {
            client
                .get(format!("http://{addr}/v1/invites/{sid}?wait={wait}"))
                .header("Authorization", auth)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // Wait (bounded) until the undelayed half is recorded as accepted.
    let mut recorded = Vec::new();
    for _ in 0..100 {
        recorded = accepted_ids(&get(addr.clone(), 0).await);
        if recorded.len() >= usize::from(DEVICES / 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        recorded.len(),
        usize::from(DEVICES / 2),
        "half accepted before the kill"
    );
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    sim.clear_faults();

    let (mut server, addr) = gw.serve();
    let settled = get(addr, 10_000).await;
    assert_eq!(settled["status"], "delivered");
    assert_eq!(
        accepted_ids(&settled).len(),
        usize::from(DEVICES),
        "{settled}"
    );
    let mut sent: HashMap<String, usize> = HashMap::new();
    for push in sim.pushes(0) {
        *sent.entry(push.apns_id.clone()).or_default() += 1;
    }
    for id in &recorded {
        assert_eq!(
            sent[id], 1,
            "delivery {id} was recorded as accepted, then sent again"
        );
    }
    let resent = sent.values().filter(|n| **n > 1).count();
    assert!(
        resent <= usize::from(DEVICES / 2),
        "only in-flight pushes may repeat: {resent}"
    );
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
}

store_tests!(killed_mid_fan_out_and_restarted);
