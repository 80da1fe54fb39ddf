//! The store's error type, independent of the driver that failed: sqlx (PostgreSQL and the
//! SQLite pool) and rusqlite (the SQLite writer thread and read pool) errors are classified
//! here, once, by what a caller can do about them.

/// The cause of a [`StoreError`]: the driver's error (or a message), kept for logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A store failure, as callers (the HTTP layer above all) need to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database can't be reached right now (connection refused, pool timeout, I/O,
    /// server shutting down, SQLite busy or locked): retry later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A write broke a unique, foreign-key or check constraint.
    #[error("store conflict: {0}")]
    Conflict(#[source] Cause),
    /// A row the operation needed was not there.
    #[error("not found in the store: {0}")]
    NotFound(#[source] Cause),
    /// Anything else the database reported, or a stored value that does not decode.
    #[error("store error: {0}")]
    Other(#[source] Cause),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[source] Cause),
    /// Too many writes of one kind are already waiting for the store: retry shortly.
    #[error("store overloaded: {0} writes waiting")]
    Overloaded(usize),
}

impl StoreError {
    /// [`StoreError::Unavailable`] with a message as its cause.
    pub(crate) fn unavailable(message: &'static str) -> Self {
        StoreError::Unavailable(message.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(e)),
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| unavailable_sqlstate(&c) || unavailable_sqlite(&c)) =>
            {
                StoreError::Unavailable(Box::new(e))
            }
            sqlx::Error::Database(db)
                if matches!(
                    db.kind(),
                    sqlx::error::ErrorKind::UniqueViolation
                        | sqlx::error::ErrorKind::ForeignKeyViolation
                        | sqlx::error::ErrorKind::CheckViolation
                ) =>
            {
                StoreError::Conflict(Box::new(e))
            }
            sqlx::Error::RowNotFound => StoreError::NotFound(Box::new(e)),
            _ => StoreError::Other(Box::new(e)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(Box::new(e))
    }
}

/// PostgreSQL SQLSTATEs that say "the server is going away or not there yet", not "your
/// query is wrong": class 08 (connection exception), 57P01 admin shutdown (what every open
/// session gets when the server is stopped or restarted), 57P02 crash shutdown, 57P03
/// cannot connect now (starting up or shutting down), 53300 too many connections.
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// SQLite result codes (sqlx reports the extended code in decimal; a SQLSTATE always has five
/// characters) that say "retry later": busy (5), locked (6), I/O error (10), disk full (13),
/// can't open (14), locking protocol (15), whatever their extended variant.
fn unavailable_sqlite(code: &str) -> bool {
    code.len() < 5
        && code
            .parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14 | 15))
}

/// "Busy", "locked", I/O, "can't open", "disk full" and locking-protocol failures are
/// [`StoreError::Unavailable`] (retry later); unique, primary-key, foreign-key and check
/// violations [`StoreError::Conflict`]; no row where one was expected
/// [`StoreError::NotFound`]; anything else [`StoreError::Other`].
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::{ErrorCode, ffi};
        if matches!(
            e.sqlite_error_code(),
            Some(
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen
                    | ErrorCode::DiskFull
                    | ErrorCode::FileLockingProtocolFailed
            )
        ) {
            return StoreError::Unavailable(Box::new(e));
        }
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.extended_code,
                    ffi::SQLITE_CONSTRAINT_UNIQUE
                        | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                        | ffi::SQLITE_CONSTRAINT_FOREIGNKEY
                        | ffi::SQLITE_CONSTRAINT_CHECK
                ) =>
            {
                StoreError::Conflict(Box::new(e))
            }
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound(Box::new(e)),
            _ => StoreError::Other(Box::new(e)),
        }
    }
}

/// Reads a stored text as the domain type it names; a value outside the type's set (a row
/// written by something else) is a store error ([`StoreError::Other`]), never a silent
/// default.
pub(crate) fn decode<T>(text: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr<Err = crate::domain::UnknownValue>,
{
    text.parse()
        .map_err(|e: crate::domain::UnknownValue| StoreError::Other(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sqlx database error with this code and kind, as a driver reports it.
    #[derive(Debug)]
    struct Db(&'static str, fn() -> sqlx::error::ErrorKind);

    impl std::fmt::Display for Db {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "database error {}", self.0)
        }
    }

    impl std::error::Error for Db {}

    impl sqlx::error::DatabaseError for Db {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            (self.1)()
        }
    }

    fn sqlx_db(code: &'static str, kind: fn() -> sqlx::error::ErrorKind) -> StoreError {
        sqlx::Error::Database(Box::new(Db(code, kind))).into()
    }

    fn sqlite(code: std::ffi::c_int) -> StoreError {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None).into()
    }

    #[test]
    fn server_going_away_is_unavailable_not_a_query_error() {
        for code in ["57P01", "57P02", "57P03", "53300", "08006", "08001"] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "22P02"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn sqlx_errors_are_classified() {
        use sqlx::error::ErrorKind;
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert!(matches!(e.into(), StoreError::Unavailable(_)));
        }
        // PostgreSQL's SQLSTATEs, and SQLite's busy/locked/full/I/O codes (extended ones too)
        // as sqlx's SQLite driver reports them.
        for code in [
            "57P01", "08006", "53300", "5", "517", "6", "262", "13", "10", "522", "14",
        ] {
            let e = sqlx_db(code, || ErrorKind::Other);
            assert!(matches!(e, StoreError::Unavailable(_)), "{code}");
        }
        for code in ["1", "11", "19", "2067"] {
            let e = sqlx_db(code, || ErrorKind::Other);
            assert!(matches!(e, StoreError::Other(_)), "{code}");
        }
        for (code, kind) in [
            (
                "23505",
                (|| ErrorKind::UniqueViolation) as fn() -> ErrorKind,
            ),
            ("23503", || ErrorKind::ForeignKeyViolation),
            ("23514", || ErrorKind::CheckViolation),
        ] {
            assert!(
                matches!(sqlx_db(code, kind), StoreError::Conflict(_)),
                "{code}"
            );
        }
        let e = sqlx_db("23502", || ErrorKind::NotNullViolation);
        assert!(matches!(e, StoreError::Other(_)));
        let e = sqlx_db("42P01", || ErrorKind::Other);
        assert!(matches!(e, StoreError::Other(_)));
        // The database error stays reachable as the cause, for logs.
        assert!(e.to_string().contains("42P01"), "{e}");
        assert!(matches!(
            sqlx::Error::RowNotFound.into(),
            StoreError::NotFound(_)
        ));
        assert!(matches!(
            sqlx::Error::Protocol("x".into()).into(),
            StoreError::Other(_)
        ));
    }

    #[test]
    fn rusqlite_errors_are_classified() {
        use rusqlite::ffi;
        for code in [
            ffi::SQLITE_BUSY,
            ffi::SQLITE_LOCKED,
            ffi::SQLITE_IOERR,
            ffi::SQLITE_CANTOPEN,
            ffi::SQLITE_FULL,
            ffi::SQLITE_PROTOCOL,
            ffi::SQLITE_BUSY_SNAPSHOT,
        ] {
            assert!(matches!(sqlite(code), StoreError::Unavailable(_)), "{code}");
        }
        for code in [
            ffi::SQLITE_CONSTRAINT_UNIQUE,
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
            ffi::SQLITE_CONSTRAINT_CHECK,
        ] {
            assert!(matches!(sqlite(code), StoreError::Conflict(_)), "{code}");
        }
        for code in [ffi::SQLITE_CONSTRAINT_NOTNULL, ffi::SQLITE_ERROR] {
            assert!(matches!(sqlite(code), StoreError::Other(_)), "{code}");
        }
        assert!(matches!(
            rusqlite::Error::QueryReturnedNoRows.into(),
            StoreError::NotFound(_)
        ));
        assert!(matches!(
            rusqlite::Error::InvalidParameterCount(1, 2).into(),
            StoreError::Other(_)
        ));
    }

    #[test]
    fn a_real_constraint_violation_is_a_conflict_with_its_cause() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT PRIMARY KEY); INSERT INTO t VALUES ('x')")
            .unwrap();
        let dup = conn.execute("INSERT INTO t VALUES ('x')", []).unwrap_err();
        match StoreError::from(dup) {
            StoreError::Conflict(cause) => {
                let e = cause.downcast_ref::<rusqlite::Error>().expect("rusqlite");
                assert_eq!(
                    e.sqlite_error().map(|f| f.extended_code),
                    Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_stored_value_is_other() {
        let e = decode::<crate::domain::InviteStatus>("ringing").unwrap_err();
        assert!(matches!(e, StoreError::Other(_)), "{e:?}");
    }

    /// What sqlx's SQLite driver really reports for a database another connection holds.
    #[tokio::test]
    async fn sqlite_busy_through_sqlx_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&pool)
            .await
            .unwrap();
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let e = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(matches!(StoreError::from(e), StoreError::Unavailable(_)));
    }
}
