//! Keeping SQLite's write-ahead log bounded under continuous writes.
//!
//! A PASSIVE checkpoint copies committed WAL frames into the database file, but only a
//! *writer* starts the WAL over, and only when it begins a transaction on a fully
//! checkpointed WAL. The checkpointer thread runs beside the writer thread: while it copies,
//! the writer commits more frames, so under steady load the WAL is never fully copied at the
//! moment a write begins, and it grows without bound (1.66 GB after 25 s at 1,000 invites/s
//! on the bench VM, with the `-shm` index growing in every connection).
//!
//! So when the WAL holds more than [`WalBound::reset_frames`] frames, the checkpointer first
//! catches up (passes until little is left to copy), then hands one more PASSIVE checkpoint
//! to the writer thread, between two of its jobs. Nothing is committed while it runs, so it
//! copies only the frames written during the checkpointer's last pass, fsyncs little, and
//! leaves the WAL fully copied; the writer's next transaction then starts the WAL over, and
//! `journal_size_limit` cuts a file grown past [`WalBound::size_limit`] back to it. A reader
//! still on an old snapshot can make one try fail; the next tick tries again. PASSIVE never
//! waits for a lock, so neither step blocks readers. The writer's pause costs 10–30 ms on a
//! saturated 2-vCPU VM (bench/README.md).

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// When the checkpointer runs and when it has the writer start the WAL over.
#[derive(Debug, Clone, Copy)]
pub(super) struct WalBound {
    /// How often the checkpointer copies the WAL into the database file.
    pub every: Duration,
    /// WAL frames (pages) above which the writer is asked to make the WAL restartable.
    pub reset_frames: i64,
    /// `journal_size_limit` of the writer: a WAL file larger than this is cut back to it
    /// after a restart, bytes.
    pub size_limit: i64,
}

impl WalBound {
    /// 200 ms; 16,384 frames (64 MiB of 4 KiB pages); the file cut back to 128 MiB (so a
    /// steady load reuses it rather than cutting and growing it at every restart).
    pub(super) const DEFAULT: Self = Self {
        every: Duration::from_millis(200),
        reset_frames: 16_384,
        size_limit: 128 << 20,
    };
}

/// What a PASSIVE checkpoint reported: frames in the WAL and frames copied to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpoint {
    pub busy: bool,
    pub frames: i64,
    pub copied: i64,
}

impl Checkpoint {
    /// Everything in the WAL is in the database file: the next write can start it over.
    fn complete(self) -> bool {
        !self.busy && self.frames == self.copied
    }
}

/// One PASSIVE checkpoint on `conn` (it never waits for the writer or readers).
pub(super) fn passive(conn: &Connection) -> rusqlite::Result<Checkpoint> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Checkpoint {
            busy: row.get::<_, i64>(0)? != 0,
            frames: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// Runs `on_writer` (a PASSIVE checkpoint on the writer thread, between its jobs; `None`
/// once the writer is gone), waiting for its result.
pub(super) type OnWriter = Box<dyn Fn() -> Option<rusqlite::Result<Checkpoint>> + Send>;

/// The checkpointer thread: a tick every `bound.every` until `stop` is dropped.
pub(super) fn checkpointer(
    conn: Connection,
    stop: mpsc::Receiver<()>,
    bound: WalBound,
    on_writer: OnWriter,
) {
    let mut warned = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(bound.every) {
        match tick(&conn, bound.reset_frames, &on_writer) {
            Ok(Tick::Reset) => {
                tracing::debug!("SQLite's WAL can start over");
                warned = false;
            }
            Ok(Tick::Copied(c)) if c.frames > 4 * bound.reset_frames && !warned => {
                // A long read transaction (or a busy sqlx writer) keeps it from restarting.
                tracing::warn!(frames = c.frames, "SQLite's WAL keeps growing");
                warned = true;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
        }
    }
}

/// Passes the checkpointer makes, at most, before handing the rest to the writer.
const CATCH_UP_PASSES: usize = 4;
/// Frames committed during one catch-up pass (256 KiB of 4 KiB pages) small enough to hand
/// what is left to the writer.
const TAIL_FRAMES: i64 = 64;

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tick {
    /// Copied what it could; the WAL was small enough or could not be made restartable.
    Copied(Checkpoint),
    /// The writer left the WAL fully copied: its next transaction starts it over.
    Reset,
}

/// A PASSIVE checkpoint here, then, when the WAL holds over `reset_frames` frames, one on
/// the writer.
pub(super) fn tick(
    conn: &Connection,
    reset_frames: i64,
    on_writer: &OnWriter,
) -> rusqlite::Result<Tick> {
    let mut here = passive(conn)?;
    if here.frames <= reset_frames {
        return Ok(Tick::Copied(here));
    }
    // Catch up first: what the writer copies (and fsyncs) while nothing commits is what was
    // committed during the last pass here. A pass copies the frames there were when it
    // began, so the frames committed during one pass are the next pass's growth.
    for _ in 0..CATCH_UP_PASSES {
        let before = here.frames;
        here = passive(conn)?;
        if here.frames < before {
            // Started over meanwhile (a sqlx writer's automatic checkpoint).
            return Ok(Tick::Copied(here));
        }
        if here.frames - before <= TAIL_FRAMES {
            break;
        }
    }
    match on_writer() {
        Some(Ok(there)) if there.complete() => Ok(Tick::Reset),
        Some(Ok(there)) => Ok(Tick::Copied(there)),
        Some(Err(e)) => Err(e),
        None => Ok(Tick::Copied(here)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    const BOUND: WalBound = WalBound {
        every: Duration::from_millis(5),
        reset_frames: 256,
        size_limit: 1 << 20,
    };
    /// Transactions written at least, ~3 pages each: ~10,000 frames.
    const WRITES: usize = 3_000;

    fn open(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn
    }

    /// Writes transactions back to back on one thread (as the writer thread does under load)
    /// while this thread checkpoints beside it, until at least [`WRITES`] are written and,
    /// when `bounded`, the WAL has been reset 3 times (or a minute has passed): the WAL
    /// file's size at the end, and the resets.
    fn steady_writes(dir: &Path, bounded: bool) -> (u64, u64) {
        let path = dir.join(if bounded {
            "bounded.db"
        } else {
            "unbounded.db"
        });
        let writer = open(&path);
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        if bounded {
            let limit = BOUND.size_limit;
            writer
                .pragma_update(None, "journal_size_limit", limit)
                .unwrap();
        }
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        let (asks, asked) = mpsc::channel::<mpsc::SyncSender<rusqlite::Result<Checkpoint>>>();
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let (stopped, count) = (stop.clone(), written.clone());
        let writing = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                if let Ok(reply) = asked.try_recv() {
                    let _ = reply.send(passive(&writer));
                }
                let i = count.fetch_add(1, Ordering::SeqCst);
                let v = vec![(i % 251) as u8; 6000];
                writer
                    .execute("INSERT INTO t (v) VALUES (?1)", [v])
                    .unwrap();
            }
        });
        let on_writer: OnWriter = Box::new(move || {
            let (reply, result) = mpsc::sync_channel(1);
            asks.send(reply).ok()?;
            result.recv_timeout(Duration::from_secs(5)).ok()
        });
        let checkpointer = open(&path);
        let reset_frames = if bounded {
            BOUND.reset_frames
        } else {
            i64::MAX
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut resets = 0;
        while std::time::Instant::now() < deadline {
            let reset = tick(&checkpointer, reset_frames, &on_writer).unwrap() == Tick::Reset;
            resets += u64::from(reset);
            let enough = written.load(Ordering::SeqCst) >= WRITES;
            // Bounded: stop right after a reset, so what is measured is the bound, not what
            // the writer added while this thread waited for its next tick on a busy machine.
            if enough && (!bounded || (reset && resets >= 3)) {
                break;
            }
            std::thread::sleep(BOUND.every);
        }
        stop.store(true, Ordering::SeqCst);
        writing.join().unwrap();
        let wal = std::fs::metadata(format!("{}-wal", path.display()));
        (wal.map(|m| m.len()).unwrap_or(0), resets)
    }

    #[test]
    fn steady_writes_grow_the_wal_unless_the_writer_resets_it() {
        let dir = tempfile::tempdir().unwrap();
        // ~40 MB written: with PASSIVE checkpoints beside the writer, the WAL never restarts.
        let (unbounded, _) = steady_writes(dir.path(), false);
        assert!(unbounded > 16 << 20, "WAL {unbounded} bytes");
        let (bounded, resets) = steady_writes(dir.path(), true);
        assert!(resets >= 3, "{resets} resets");
        assert!(
            bounded <= 4 << 20,
            "WAL {bounded} bytes after {resets} resets"
        );
    }
}

#[cfg(test)]
mod build {
    /// `.cargo/config.toml` builds the bundled SQLite without memory statistics (one
    /// process-wide mutex per allocation otherwise); a build that lost the setting fails here.
    #[test]
    fn sqlite_is_built_without_memory_statistics() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let used: i64 = conn
            .query_row(
                "SELECT sqlite_compileoption_used('DEFAULT_MEMSTATUS=0')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            used, 1,
            "LIBSQLITE3_FLAGS from .cargo/config.toml not applied"
        );
    }
}
