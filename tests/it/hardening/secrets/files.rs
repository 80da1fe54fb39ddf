//! Files on disk: with umask 022 the real binary still creates the data dir 0700 and the
//! database, its WAL files and the master key 0600; a master key file others can read stops
//! every command with exit code 2 and the `chmod 600` fix.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::helpers::bin::{BIN, serve_on_free_port};

/// The binary run through `sh` with umask 022 (`$0` is the binary, the rest its arguments).
fn under_umask_022(data_dir: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 022; exec \"$0\" \"$@\"", BIN])
        .env_clear()
        .env("PUSHGATE_DATA_DIR", data_dir)
        .env("PUSHGATE_LOG", "warn");
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn data_dir_and_files_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = under_umask_022(&data).arg("init").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // While serving, SQLite's -wal and -shm files exist too.
    let (mut child, addr) = serve_on_free_port(under_umask_022(&data));
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert!(health.status().is_success());
    assert_eq!(mode(&data), 0o700, "data dir");
    for name in [
        "pushgate.db",
        "pushgate.db-wal",
        "pushgate.db-shm",
        "master.key",
    ] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_master_key_others_can_read_stops_startup_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = under_umask_022(&data).arg("init").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = data.join("master.key");
    let previous = data.join("master.key.previous");
    for (file, loose) in [(&key, 0o644), (&key, 0o600 | 0o020), (&previous, 0o640)] {
        if file == &previous {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::fs::write(&previous, std::fs::read(&key).unwrap()).unwrap();
        }
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(loose)).unwrap();
        for command in [&["serve"][..], &["keys", "list"][..]] {
            let out = under_umask_022(&data)
                .args(command)
                .env("PUSHGATE_LISTEN", "127.0.0.1:0")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command:?} {loose:o}: {stderr}"
            );
            let name = file.display().to_string();
            assert!(stderr.contains(&format!("chmod 600 {name}")), "{stderr}");
        }
    }
}

/// An install from before pushgate set modes: its data dir and database are made private at
/// the next start.
#[tokio::test]
async fn an_older_install_readable_by_others_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = data.join("pushgate.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = under_umask_022(&data).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data.join("master.key")), 0o600);
}
