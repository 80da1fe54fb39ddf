//! N `pushgate serve` processes sharing one configuration, each on a fixed loopback port
//! (kept across restarts), with their logs in files of a temp dir.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{ApnsSim, free_port, poll_until, signal, tail, wait_exit};
use crate::helpers::basic;
use crate::helpers::bin::{Pushgate, output_value};

/// What the replicas share.
#[derive(Debug, Clone, Default)]
pub struct ReplicaConfig {
    /// How many `serve` processes.
    pub replicas: usize,
    /// `PUSHGATE_DATABASE_URL` (PostgreSQL: the replicas share it).
    pub database_url: String,
    /// `PUSHGATE_REDIS_URL`, if any.
    pub redis_url: Option<String>,
    /// Further variables, e.g. `("PUSHGATE_QUEUE_CLAIM_IDLE_MS", "500")`.
    pub env: Vec<(String, String)>,
}

/// The replicas, an account with an API key, and one VoIP certificate credential.
pub struct Replicas {
    dir: tempfile::TempDir,
    pushgate: Pushgate,
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
    next: AtomicUsize,
    /// `API_KEY` (SK…) and `API_KEY_SECRET` printed by `pushgate init`.
    pub key: String,
    pub secret: String,
    /// HTTP Basic `Authorization` value for that key.
    pub auth: String,
}

impl Replicas {
    /// Runs `init` and `credentials add` (a universal VoIP certificate for `com.example.app`)
    /// against the shared database; starts no replica yet.
    pub async fn setup(sim: &ApnsSim, config: ReplicaConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env: Vec<(String, String)> = vec![
            ("PUSHGATE_DATABASE_URL".into(), config.database_url),
            (
                "PUSHGATE_MASTER_KEY".into(),
                pushgate::secrets::MasterKey::generate().to_base64(),
            ),
            ("PUSHGATE_LOG".into(), "warn".into()),
            ("PUSHGATE_APNS_PRODUCTION_URL".into(), sim.base_url()),
            ("PUSHGATE_APNS_SANDBOX_URL".into(), sim.base_url()),
            (
                "PUSHGATE_APNS_CA_FILE".into(),
                sim.ca_file().to_str().unwrap().into(),
            ),
            (
                "PUSHGATE_DATA_DIR".into(),
                dir.path().to_str().unwrap().into(),
            ),
        ];
        if let Some(url) = config.redis_url {
            env.push(("PUSHGATE_REDIS_URL".into(), url));
        }
        env.extend(config.env);
        let mut replicas = Self {
            ports: (0..config.replicas).map(|_| free_port()).collect(),
            children: (0..config.replicas).map(|_| None).collect(),
            next: AtomicUsize::new(0),
            key: String::new(),
            secret: String::new(),
            auth: String::new(),
            pushgate: Pushgate::with_env(env),
            dir,
        };
        let init = replicas.run(&["init"]).await;
        replicas.key = output_value(&init, "API_KEY").to_owned();
        replicas.secret = output_value(&init, "API_KEY_SECRET").to_owned();
        replicas.auth = basic(&replicas.key, &replicas.secret);
        let (pushgate, dir) = (replicas.pushgate.clone(), replicas.dir.path().to_owned());
        tokio::task::spawn_blocking(move || {
            pushgate.add_voip_credential(&dir, "com.example.app", &[])
        })
        .await
        .unwrap();
        replicas
    }

    /// The `pushgate` binary with the shared environment (and nothing else) set.
    pub fn command(&self, args: &[&str]) -> Command {
        self.pushgate.command(args)
    }

    /// Runs a CLI command to completion (on a blocking thread), asserting success; its stdout.
    pub async fn run(&self, args: &[&str]) -> String {
        self.pushgate.run_async(args).await
    }

    /// An access token for `identity` (`pushgate token`), for registering devices.
    pub async fn token(&self, identity: &str) -> String {
        self.run(&["token", "--identity", identity])
            .await
            .trim()
            .to_owned()
    }

    /// Registers `per_identity` devices (tokens `device_token(1)`, `(2)`, … in order) for each
    /// of `identities`, through replica 0.
    pub async fn register_devices(
        &self,
        client: &reqwest::Client,
        identities: &[String],
        per_identity: usize,
    ) {
        let mut seed = 0u8;
        for identity in identities {
            let token = self.token(identity).await;
            for _ in 0..per_identity {
                seed += 1;
                let res = client
                    .post(self.url(0, "/v1/registrations"))
                    .header("X-Twilio-Token", &token)
                    .json(&serde_json::json!({
                        "binding_type": "apn",
                        "address": crate::helpers::device_token(seed)
                    }))
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                assert_eq!(status, 201, "{}", res.text().await.unwrap_or_default());
            }
        }
    }

    /// How many replicas there are.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// `127.0.0.1:PORT` of replica `i` (the same across its restarts).
    pub fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.ports[i])
    }

    /// `http://127.0.0.1:PORT{path}` on replica `i`.
    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.addr(i))
    }

    /// The next replica's address, round robin (running or not).
    pub fn next_addr(&self) -> String {
        self.addr(self.next.fetch_add(1, Ordering::Relaxed) % self.len())
    }

    /// Replica `i`'s log file (stderr; appended across restarts).
    pub fn log_path(&self, i: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("replica-{i}.log"))
    }

    /// Up to `max` lines of replica `i`'s log containing any of `needles` (ANSI colours
    /// removed), for failure messages.
    pub fn log_lines(&self, i: usize, needles: &[&str], max: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let plain = strip_ansi(&text);
        let lines: Vec<&str> = plain
            .lines()
            .filter(|l| needles.iter().any(|n| l.contains(n)))
            .collect();
        lines[..lines.len().min(max)].join("\n")
    }

    /// Whether replica `i` is running (it was started and has not exited).
    pub fn is_running(&mut self, i: usize) -> bool {
        match &mut self.children[i] {
            Some(c) => c.try_wait().ok().flatten().is_none(),
            None => false,
        }
    }

    /// Starts replica `i` and waits (≤ 30 s) until `/healthz` answers.
    pub async fn start(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "replica {i} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let child = self
            .command(&["serve"])
            .env("PUSHGATE_LISTEN", self.addr(i))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn pushgate serve");
        self.children[i] = Some(child);
        let url = self.url(i, "/healthz");
        let log = self.log_path(i);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let child = self.children[i].as_mut().unwrap();
        poll_until(
            Duration::from_secs(30),
            "pushgate serve to answer /healthz",
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "replica {i} exited at start ({status}):\n{}",
                        tail(&log, 30)
                    );
                }
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let res = client.get(url).send().await.ok()?;
                    res.status().is_success().then_some(())
                }
            },
        )
        .await;
    }

    /// SIGKILL replica `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// [`kill`](Self::kill), then [`start`](Self::start) on the same port.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.start(i).await;
    }

    /// SIGTERM every running replica and assert each drains and exits 0 within 30 s.
    pub async fn terminate_all(&mut self) {
        let running: Vec<usize> = (0..self.len())
            .filter(|i| self.children[*i].is_some())
            .collect();
        for &i in &running {
            signal(self.children[i].as_ref().unwrap().id(), "TERM");
        }
        for i in running {
            let mut child = self.children[i].take().unwrap();
            let status = wait_exit(&mut child, Duration::from_secs(30)).await;
            let log = tail(&self.log_path(i), 30);
            let status = status.unwrap_or_else(|| panic!("replica {i} hung on SIGTERM:\n{log}"));
            assert!(status.success(), "replica {i} exited with {status}:\n{log}");
        }
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
