//! A private `redis-server` (from PATH) with append-only persistence, so a restart keeps data.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, poll_until, signal, tail, wait_exit};

/// A `redis-server` on its own 127.0.0.1 port and directory; killed on drop.
pub struct PrivateRedis {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts a fresh server and waits until it answers PING.
    pub async fn start_new() -> Self {
        let mut redis = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            child: None,
        };
        redis.start().await;
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server (same port, same directory) and waits until it answers PING.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let log = self.dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server (is it on PATH?)");
        self.child = Some(child);
        let port = self.port;
        let child = self.child.as_mut().unwrap();
        poll_until(
            Duration::from_secs(15),
            "redis-server to answer PING",
            || {
                let exited = child.try_wait().ok().flatten();
                let log = log.clone();
                async move {
                    if let Some(status) = exited {
                        panic!("redis-server exited ({status}): {}", tail(&log, 20));
                    }
                    command(port, &["PING"])
                        .ok()
                        .filter(|r| r.starts_with("+PONG"))
                }
            },
        )
        .await;
    }

    /// Graceful stop: SIGTERM (redis flushes its append-only file) and wait for the exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), "TERM");
        let status = wait_exit(&mut child, Duration::from_secs(15)).await;
        assert!(
            status.is_some(),
            "redis-server did not stop within 15 s; killed"
        );
    }

    /// [`stop`](Self::stop), then [`start`](Self::start).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// Sends one command (RESP array of bulk strings) and returns the raw reply.
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        command(self.port, args)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One request/reply over a fresh connection (short timeouts; enough for small replies).
fn command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
