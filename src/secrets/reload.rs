//! A key-file keyring that follows a rotation made beside a running server. `pushgate
//! rotate-master-key` on the embedded store writes the new key to `master.key` (the old ones to
//! `master.key.previous`) and re-seals every value under it; a server started before still
//! holds the old ring. When a value names a key its ring lacks, the ring is read again from
//! the files (at most once a second) and used from then on — for opening and for sealing — so
//! authenticated requests keep working through the rotation and nothing new is sealed under a
//! key the operator is about to retire.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::MasterKey;

/// How often the files may be read again.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Where a file-based ring comes from, and the ring last read from there.
pub(super) struct Reload {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    ring: Option<MasterKey>,
    read_at: Option<Instant>,
}

impl Reload {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            state: Mutex::default(),
        }
    }

    /// The ring read from the files since start, if one was.
    pub(super) fn current(&self) -> Option<MasterKey> {
        self.lock().ring.clone()
    }

    /// Reads the ring from the files again (unless that was done within the last second) and
    /// returns the newest ring known.
    pub(super) fn refresh(&self) -> Option<MasterKey> {
        let mut state = self.lock();
        if state.read_at.is_some_and(|at| at.elapsed() < MIN_INTERVAL) {
            return state.ring.clone();
        }
        state.read_at = Some(Instant::now());
        match MasterKey::load_file_ring(&self.path) {
            Ok(ring) => {
                tracing::info!(path = %self.path.display(), key_id = %ring.key_id(),
                    "a stored secret names a key this process did not hold: the master key files were read again");
                state.ring = Some(ring);
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "reading the master key files again failed");
            }
        }
        state.ring.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
