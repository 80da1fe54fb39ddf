//! SQLite fast path: the hot statements without sqlx's per-statement thread hops.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, and every statement is a
//! round trip to that thread; on a 2-vCPU VM a cross-CPU wake-up costs ~57 µs, and those
//! wake-ups were most of the gateway's CPU (see bench/README.md). Here instead:
//!
//! - **Writes**: one dedicated thread owns one `rusqlite` connection and runs whole jobs (a
//!   group of invites, a batch of delivery outcomes), synchronously: one hand-off per batch
//!   instead of one per statement, and the jobs waiting together share one transaction
//!   (`sqlite_writer`). The thread holds the store's writer gate (the one sqlx writers take
//!   in [`Store::begin_write`](super::Store)) while it writes, so the two write paths never
//!   contend on SQLite's lock.
//! - **Reads** on the hot path (`active_registrations`): a small pool of `rusqlite`
//!   connections used synchronously on the calling task's thread — an indexed read takes
//!   tens of microseconds, less than one wake-up.
//!
//! Statements use the same SQL text as the PostgreSQL backend, with `$n` parameters: SQLite
//! treats `$n` as a *named* parameter, so [`bind`] binds each by its number, as sqlx-sqlite
//! does. The hot operations themselves are in `hot/sqlite.rs`; rusqlite errors become
//! [`StoreError`]s by `From` (`error.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, Statement};
use tokio::sync::oneshot;

use super::StoreError;
use super::sqlite_writer::{self, CRASHED, Gate, Job, Pending, WriterStats, WriterTotals};
use super::wal::{self, WalBound};

/// Read connections kept for reuse (more are opened on demand and then dropped).
const READERS: usize = 4;
/// Prepared statements cached per connection (the multi-row INSERTs vary in size).
const STATEMENT_CACHE: usize = 64;

/// Why a job or read could not run: the store was closed.
const CLOSED: &str = "the SQLite store is closed";

/// The writer thread's queue and the read pool of one SQLite database.
#[derive(Debug)]
pub(super) struct Fast {
    path: PathBuf,
    /// `None` once closed.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    readers: Mutex<Option<Vec<Connection>>>,
    /// Dropped to stop the checkpointer thread.
    checkpoints: Mutex<Option<mpsc::Sender<()>>>,
    /// What the writer thread has done.
    stats: Arc<WriterStats>,
}

impl Fast {
    /// Opens the writer connection and starts its thread, for the database file `path`,
    /// with the WAL kept under `bound`; the thread holds `gate` while it writes.
    pub(super) fn open(
        path: PathBuf,
        bound: WalBound,
        gate: Gate,
    ) -> Result<Arc<Self>, StoreError> {
        let conn = connect(&path)?;
        // Checkpoints (and their fsync) run on a thread of their own, not inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // After the WAL starts over, its file is cut back to this size.
        conn.pragma_update(None, "journal_size_limit", bound.size_limit)?;
        let checkpointer = connect(&path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(drop)
                .map_err(|e| StoreError::Unavailable(Box::new(e)))
        };
        let stats = Arc::new(WriterStats::default());
        let counted = stats.clone();
        spawned(
            "sqlite-writer",
            Box::new(move || sqlite_writer::run(conn, rx, gate, counted)),
        )?;
        let writer_jobs = tx.clone();
        let on_writer: wal::OnWriter = Box::new(move || {
            let (done, result) = mpsc::sync_channel(1);
            let job = Job::Alone(Box::new(move |conn| {
                let _ = done.send(wal::passive(conn));
            }));
            writer_jobs.send(job).ok()?;
            result.recv().ok()
        });
        let (stop, stopped) = mpsc::channel::<()>();
        spawned(
            "sqlite-checkpoint",
            Box::new(move || wal::checkpointer(checkpointer, stopped, bound, on_writer)),
        )?;
        Ok(Arc::new(Self {
            path,
            jobs: Mutex::new(Some(tx)),
            readers: Mutex::new(Some(Vec::new())),
            checkpoints: Mutex::new(Some(stop)),
            stats,
        }))
    }

    /// What the writer thread has done since the store opened.
    pub(super) fn writer_totals(&self) -> WriterTotals {
        self.stats.totals()
    }

    /// The size of the WAL file, bytes (0 when there is none).
    pub(super) fn wal_bytes(&self) -> u64 {
        std::fs::metadata(side_file(&self.path, "-wal")).map_or(0, |m| m.len())
    }

    /// Runs `job` in a transaction on the writer thread (with the other jobs waiting then;
    /// see `sqlite_writer`: it may run again when another of them fails); its result comes
    /// back once the transaction has committed, or with the error that rolled it back.
    pub(super) async fn write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, wait) = oneshot::channel();
        let job = Job::Write(Box::new(Pending::new(job, done)));
        let sent = match &*self.jobs.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => return Err(StoreError::unavailable(CLOSED)),
        };
        if !sent {
            return Err(StoreError::unavailable(CRASHED));
        }
        wait.await.map_err(|_| StoreError::unavailable(CRASHED))?
    }

    /// Runs `read` on a pooled read connection, on this thread.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let pooled = match &mut *self.readers.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(pool) => pool.pop(),
            None => return Err(StoreError::unavailable(CLOSED)),
        };
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path)?;
                conn.pragma_update(None, "query_only", true)?;
                conn
            }
        };
        let result = read(&conn).map_err(StoreError::from);
        if let Some(pool) = &mut *self.readers.lock().unwrap_or_else(|e| e.into_inner())
            && pool.len() < READERS
        {
            pool.push(conn);
        }
        result
    }

    /// Closes the read connections and ends the writer thread once its queue is done.
    pub(super) fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.checkpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// The file SQLite keeps beside the database `path`: `path` + `suffix` (`-wal`, `-shm`).
pub(super) fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut side = path.as_os_str().to_owned();
    side.push(suffix);
    PathBuf::from(side)
}

/// The database file of a `sqlite:` URL, or `None` for an in-memory database.
pub(super) fn file_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory =
        path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory");
    (!memory).then(|| PathBuf::from(path))
}

/// A connection with the pragmas of `sqlite_pragmas` in `super`.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Binds `args` to `stmt`'s `$n` parameters by number (`$1` is `args[0]`), wherever and
/// however often each appears; an unnamed `?` takes the next argument.
///
/// SQLite numbers named parameters in order of first appearance, so in the usual SQL text
/// (`$1`, `$2`, … first seen in that order) parameter `i` is `$i`. Checking that costs
/// O(n²) (SQLite looks each name up in a list: 7 % of the writer's samples with
/// 2,400-parameter INSERTs), so it is done once per SQL text and remembered.
pub(super) fn bind(
    stmt: &mut Statement<'_>,
    sql: &str,
    args: &[&dyn ToSql],
) -> rusqlite::Result<()> {
    thread_local! {
        static IN_ORDER: std::cell::RefCell<std::collections::HashMap<String, bool>> =
            Default::default();
    }
    let count = stmt.parameter_count();
    let in_order = IN_ORDER.with_borrow_mut(|known| {
        if let Some(&in_order) = known.get(sql) {
            return in_order;
        }
        let in_order = (1..=count).all(|i| {
            stmt.parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .is_some_and(|n| n.parse() == Ok(i))
        });
        if known.len() >= 1024 {
            known.clear();
        }
        known.insert(sql.to_owned(), in_order);
        in_order
    });
    if in_order {
        if count != args.len() {
            return Err(rusqlite::Error::InvalidParameterCount(args.len(), count));
        }
        for (i, arg) in args.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, arg)?;
        }
        return Ok(());
    }
    for i in 1..=count {
        let n = match stmt.parameter_name(i) {
            Some(name) => name
                .strip_prefix('$')
                .or_else(|| name.strip_prefix('?'))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?,
            None => i,
        };
        let arg = args
            .get(n.wrapping_sub(1))
            .ok_or(rusqlite::Error::InvalidParameterCount(n, args.len()))?;
        stmt.raw_bind_parameter(i, arg)?;
    }
    Ok(())
}

/// Runs a cached statement that returns no rows; returns the rows it changed.
pub(super) fn execute(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, sql, args)?;
    stmt.raw_execute()
}

/// A row read by column name. The names of a statement's columns are looked up once per SQL
/// text and kept (rusqlite's own by-name access asks SQLite for every column's name, through
/// FFI and a UTF-8 check, on every `get`: measurable on the hot paths).
pub(super) struct Named<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    names: &'a [String],
}

impl Named<'_, '_> {
    /// The value of column `name`.
    pub(super) fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> rusqlite::Result<T> {
        let index = self
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))?;
        self.row.get(index)
    }
}

/// The column names of `stmt`, prepared from `sql`, remembered per SQL text on this thread.
fn column_names(stmt: &Statement<'_>, sql: &str) -> std::rc::Rc<[String]> {
    thread_local! {
        static NAMES: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<[String]>>> =
            Default::default();
    }
    NAMES.with_borrow_mut(|known| {
        if let Some(names) = known.get(sql) {
            return names.clone();
        }
        let names: std::rc::Rc<[String]> =
            stmt.column_names().into_iter().map(str::to_owned).collect();
        if known.len() >= 1024 {
            known.clear();
        }
        known.insert(sql.to_owned(), names.clone());
        names
    })
}

/// Runs a cached query and maps every row, read by column name.
pub(super) fn query<T>(
    conn: &Connection,
    sql: &str,
    args: &[&dyn ToSql],
    mut map: impl FnMut(&Named<'_, '_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, sql, args)?;
    let names = column_names(&stmt, sql);
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(&Named { row, names: &names })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_files_or_memory() {
        assert_eq!(
            file_path("sqlite:///tmp/x/pushgate.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/pushgate.db"))
        );
        assert_eq!(file_path("sqlite:data.db"), Some(PathBuf::from("data.db")));
        assert_eq!(file_path("sqlite::memory:"), None);
        assert_eq!(file_path("sqlite://x.db?mode=memory"), None);
        assert_eq!(file_path("postgres://localhost/x"), None);
    }

    #[test]
    fn dollar_parameters_bind_by_number() {
        let conn = Connection::open_in_memory().unwrap();
        let got: Vec<(i64, String, i64)> = query(
            &conn,
            "SELECT $2 AS x, $1 AS y, $2 + $3 AS z",
            &[&"a", &7_i64, &1_i64],
            |r| Ok((r.get("x")?, r.get("y")?, r.get("z")?)),
        )
        .unwrap();
        assert_eq!(got, vec![(7, "a".to_owned(), 8)]);
        for _ in 0..2 {
            // In order: bound by position (the second time from the remembered check).
            let sql = "SELECT $1 AS x, $2 AS y, $1 * 10 AS z";
            let got: Vec<(i64, i64, i64)> = query(&conn, sql, &[&1_i64, &2_i64], |r| {
                Ok((r.get("x")?, r.get("y")?, r.get("z")?))
            })
            .unwrap();
            assert_eq!(got, vec![(1, 2, 10)]);
        }
        assert!(query(&conn, "SELECT $1", &[&1_i64, &2_i64], |_| Ok(())).is_err());
    }

    #[test]
    fn a_broken_constraint_on_the_fast_path_is_a_conflict() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT PRIMARY KEY); INSERT INTO t VALUES ('x')")
            .unwrap();
        let dup = execute(&conn, "INSERT INTO t VALUES ($1)", &[&"x"]).unwrap_err();
        assert!(matches!(StoreError::from(dup), StoreError::Conflict(_)));
    }
}
