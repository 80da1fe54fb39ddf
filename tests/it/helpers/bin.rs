//! Running the real `pushgate` binary in tests: a command with only the environment a
//! test gives it ([`Pushgate`]), `serve` on a free port, the `KEY=value` lines commands
//! print ([`output_value`]), a VoIP certificate written where `credentials add` reads it,
//! and a metric value read from Prometheus text ([`metric_value`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use pushgate::credentials::devcerts::VoipPair;
use secrecy::ExposeSecret;
use serde_json::Value;

/// Path of the `pushgate` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_pushgate");

/// The `pushgate` binary with exactly these environment variables (nothing inherited).
#[derive(Debug, Clone, Default)]
pub struct Pushgate {
    env: Vec<(String, String)>,
}

impl Pushgate {
    /// With `PUSHGATE_DATA_DIR=dir` and `PUSHGATE_LOG=warn`.
    pub fn in_dir(dir: &Path) -> Self {
        Self::default()
            .env("PUSHGATE_DATA_DIR", dir.to_str().expect("UTF-8 path"))
            .env("PUSHGATE_LOG", "warn")
    }

    /// With the variables `env`.
    pub fn with_env<K: Into<String>, V: Into<String>>(
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            env: env.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }

    /// This set-up with `key=value` added (or replacing an earlier value).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `pushgate <args>` with this environment, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs `pushgate <args>` to completion, successful or not.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("run pushgate {}: {e}", args.join(" ")))
    }

    /// Runs `pushgate <args>`, asserting success; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        stdout(&self.output(args))
    }

    /// [`run`](Self::run) on a blocking thread, for async tests that keep serving meanwhile.
    pub async fn run_async(&self, args: &[&str]) -> String {
        let this = self.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            this.run(&args)
        })
        .await
        .expect("pushgate runner")
    }

    /// Starts `pushgate serve` on a free loopback port: the process and its address.
    pub fn serve(&self) -> (Child, String) {
        serve_on_free_port(self.command(&[]))
    }

    /// Writes a fresh universal VoIP certificate for `bundle` into `dir` and runs
    /// `credentials add` with it (and `extra` arguments); the command's stdout.
    pub fn add_voip_credential(&self, dir: &Path, bundle: &str, extra: &[&str]) -> String {
        let (cert, key) = write_voip_certificate(dir, bundle);
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let mut args = vec!["credentials", "add", "--cert", cert, "--key", key];
        args.extend(extra);
        self.run(&args)
    }
}

/// `out`'s stdout, asserting the command succeeded (its stderr otherwise).
pub fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

/// The value of the `KEY=value` line for `key` in a command's output (as `init`,
/// `keys create` and `credentials add` print them); panics when there is none.
pub fn output_value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{key} not in output: {text}"))
}

/// The sum of the samples of metric `family` in Prometheus text whose labels contain
/// every one of `labels` (e.g. `status="200"`); 0 when none does.
pub fn metric_value(text: &str, family: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A fresh universal VoIP certificate for `bundle` written to `dir` as `cert.pem` and
/// `key.pem` (unencrypted PKCS#8): their paths.
pub fn write_voip_certificate(dir: &Path, bundle: &str) -> (PathBuf, PathBuf) {
    let (cert_pem, key_pem) = VoipPair::issue(bundle).unwrap().leaf_pem().unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem.expose_secret()).unwrap();
    (cert, key)
}

/// Runs `pushgate serve` from `cmd` (the binary, with its environment set) on a free port,
/// reading the bound address from its JSON log; returns the process and the address.
pub fn serve_on_free_port(mut cmd: Command) -> (Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .arg("serve")
        .env("PUSHGATE_LISTEN", "127.0.0.1:0")
        .env("PUSHGATE_LOG_FORMAT", "json")
        .env("PUSHGATE_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server exited early").unwrap();
        let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(addr) = entry["addr"].as_str() {
            break addr.to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}
