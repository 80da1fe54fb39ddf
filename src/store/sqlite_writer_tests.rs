//! The writer thread's shared transactions: jobs queued together commit together, and one
//! job's failure (an error or a panic) rolls back only its own part.

use std::sync::{Arc, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;
use super::sqlite_writer::{Gate, Job, Pending, WriterStats, run};

/// A writer thread on a fresh database with one table `t (v INTEGER UNIQUE)`; the test holds
/// the gate while it queues, so every job it queues before letting go shares one transaction.
struct Writer {
    jobs: mpsc::Sender<Job>,
    gate: Gate,
    stats: Arc<WriterStats>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

impl Writer {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER UNIQUE)")
            .expect("schema");
        let (jobs, rx) = mpsc::channel();
        let gate: Gate = Arc::new(tokio::sync::Mutex::new(()));
        let (thread_gate, stats) = (gate.clone(), Arc::new(WriterStats::default()));
        let counted = stats.clone();
        std::thread::spawn(move || run(conn, rx, thread_gate, counted));
        Writer {
            jobs,
            gate,
            stats,
            path,
            _dir: dir,
        }
    }

    fn queue<T: Send + 'static>(
        &self,
        job: impl FnMut(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Reply<T> {
        let (done, wait) = oneshot::channel();
        let job = Job::Write(Box::new(Pending::new(job, done)));
        self.jobs.send(job).expect("writer running");
        wait
    }

    fn insert(&self, v: i64) -> Reply<i64> {
        self.queue(move |conn| {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(conn.last_insert_rowid())
        })
    }

    fn values(&self) -> Vec<i64> {
        let conn = Connection::open(&self.path).expect("open");
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }
}

#[test]
fn jobs_queued_together_share_a_transaction_and_each_gets_its_result() {
    let w = Writer::start();
    let held = w.gate.blocking_lock();
    // The thread takes the first job and waits for the gate; the rest queue behind it.
    let replies: Vec<_> = (1..=5).map(|v| w.insert(v)).collect();
    // A job that sees the others' rows proves they are in its transaction.
    let seen =
        w.queue(|conn| Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?));
    drop(held);
    for reply in replies {
        assert!(reply.blocking_recv().expect("reply").is_ok());
    }
    assert_eq!(seen.blocking_recv().expect("reply").expect("count"), 5);
    assert_eq!(w.values(), vec![1, 2, 3, 4, 5]);
    // Counted for the metrics: six jobs, one transaction.
    let totals = w.stats.totals();
    assert_eq!((totals.transactions, totals.jobs), (1, 6));
    assert!(totals.busy_seconds > 0.0);
}

#[test]
fn a_failing_job_is_rolled_back_alone() {
    let w = Writer::start();
    let held = w.gate.blocking_lock();
    let first = w.insert(1);
    // Writes a row, then fails: the row must go with it.
    let failing = w.queue(|conn| {
        conn.execute("INSERT INTO t (v) VALUES (2)", [])?;
        conn.execute("INSERT INTO t (v) VALUES (1)", [])?; // UNIQUE: a conflict
        Ok(())
    });
    let last = w.insert(3);
    drop(held);
    assert!(first.blocking_recv().expect("reply").is_ok());
    let err = failing
        .blocking_recv()
        .expect("reply")
        .expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(last.blocking_recv().expect("reply").is_ok());
    assert_eq!(w.values(), vec![1, 3]);
}

#[test]
fn a_panicking_job_is_rolled_back_and_the_thread_goes_on() {
    let w = Writer::start();
    let held = w.gate.blocking_lock();
    let first = w.insert(1);
    let panicking = w.queue(|conn| -> Result<(), StoreError> {
        conn.execute("INSERT INTO t (v) VALUES (2)", [])?;
        panic!("a bug in a job");
    });
    let last = w.insert(3);
    drop(held);
    assert!(first.blocking_recv().expect("reply").is_ok());
    let err = panicking
        .blocking_recv()
        .expect("reply")
        .expect_err("panicked");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(last.blocking_recv().expect("reply").is_ok());
    assert_eq!(w.values(), vec![1, 3]);
    // Alone, a failing job rolls its transaction back; the next one still commits.
    let alone = w.queue(|conn| -> Result<(), StoreError> {
        conn.execute("INSERT INTO t (v) VALUES (4)", [])?;
        Err(StoreError::unavailable("refused"))
    });
    assert!(alone.blocking_recv().expect("reply").is_err());
    assert!(w.insert(5).blocking_recv().expect("reply").is_ok());
    assert_eq!(w.values(), vec![1, 3, 5]);
}

#[test]
fn a_job_alone_runs_outside_any_transaction() {
    let w = Writer::start();
    let (done, wait) = mpsc::channel();
    let alone = Job::Alone(Box::new(move |conn: &mut Connection| {
        let _ = done.send(conn.is_autocommit());
    }));
    w.jobs.send(alone).expect("writer running");
    assert!(wait.recv().expect("ran"));
    assert!(w.insert(1).blocking_recv().expect("reply").is_ok());
}
