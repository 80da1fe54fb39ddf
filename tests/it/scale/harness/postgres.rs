//! A private PostgreSQL cluster: `initdb` into a temp dir, `pg_ctl` on a free 127.0.0.1 port.
//! PostgreSQL refuses to run as root, so as root its tools run as `postgres` via `runuser`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use sqlx::Connection;

use super::{free_port, is_root, poll_until, tail};

/// A PostgreSQL cluster of its own (trust auth, `fsync=off`); stopped on drop.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    running: bool,
}

impl PrivatePostgres {
    /// Creates the cluster, starts it and waits until it accepts connections.
    pub async fn start_new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pg = Self {
            bin: bin_dir(),
            port: free_port(),
            running: false,
            dir,
        };
        if is_root() {
            let uid = id("-u");
            let gid = id("-g");
            std::os::unix::fs::chown(pg.dir.path(), Some(uid), Some(gid))
                .expect("chown the cluster directory to postgres");
        }
        let out = pg.tool("initdb", |c| {
            c.arg("-D").arg(pg.data()).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]);
        });
        check(&out, "initdb");
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\nmax_connections = 50\n",
            pg.port,
            pg.dir.path().display()
        );
        let path = pg.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("read postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("write postgresql.conf");
        let mut pg = pg;
        pg.start().await;
        pg
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&mut self) {
        assert!(!self.running, "PostgreSQL is already running");
        let (data, log) = (self.data(), self.log());
        let out = self
            .tool_async("pg_ctl", move |c| {
                c.arg("-D").arg(&data).arg("-l").arg(&log);
                c.args(["-w", "-t", "30", "start"]);
            })
            .await;
        if !out.status.success() {
            panic!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log(), 30)
            );
        }
        self.running = true;
        let url = self.url();
        poll_until(
            Duration::from_secs(15),
            "PostgreSQL to accept connections",
            || {
                let url = url.clone();
                async move {
                    let conn = sqlx::PgConnection::connect(&url).await.ok()?;
                    let _ = conn.close().await;
                    Some(())
                }
            },
        )
        .await;
    }

    /// Fast shutdown (open sessions are terminated), waiting until the server is gone.
    pub async fn stop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.data();
        let out = self
            .tool_async("pg_ctl", move |c| {
                c.arg("-D")
                    .arg(&data)
                    .args(["-m", "fast", "-w", "-t", "30", "stop"]);
            })
            .await;
        check(&out, "pg_ctl stop");
        self.running = false;
    }

    /// [`stop`](Self::stop), then [`start`](Self::start).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// A command for one of the server's tools: run as `postgres` when we are root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn tool(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Output {
        let mut c = self.command(tool);
        args(&mut c);
        c.current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"))
    }

    /// Runs a tool on a blocking thread, so the test's other tasks keep running meanwhile.
    async fn tool_async(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Output {
        let mut c = self.command(tool);
        args(&mut c);
        c.current_dir(self.dir.path());
        let tool = tool.to_owned();
        tokio::task::spawn_blocking(move || {
            c.output().unwrap_or_else(|e| panic!("run {tool}: {e}"))
        })
        .await
        .expect("tool thread")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            let mut c = self.command("pg_ctl");
            c.arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "-t", "20", "stop"]);
            let _ = c.current_dir(self.dir.path()).output();
        }
    }
}

/// Where `initdb` and `pg_ctl` live: on PATH, else the newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        return dir;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("initdb not found on PATH or in /usr/lib/postgresql/*/bin")
}

/// `id -u postgres` / `id -g postgres`.
fn id(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("run id");
    check(
        &out,
        "id postgres (running as root needs a `postgres` user)",
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
