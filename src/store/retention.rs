//! Retention of ended invites: deleting invites that reached a final state before a cutoff,
//! with the rows that reference them — their deliveries and, for calls placed through Twilio's
//! Calls API, their `twilio_calls` row (callback bookkeeping is a column of the invite) — one
//! small batch per short transaction. Registrations, their counts
//! and every other table are left alone. The loop that calls this is the invites service's
//! (`invites/retention.rs`).

use super::{Store, StoreError};
use crate::config::StoreKind;

/// The final statuses (`InviteStatus::is_final`), written exactly as the partial index
/// `invites_ended` (migration 0011) writes them: SQLite uses a partial index only when the
/// query's WHERE contains the index's term as written.
const ENDED: &str = "status IN ('answered', 'rejected', 'canceled', 'expired', 'failed')";

/// The oldest `$2` ended invites last changed before `$1`, through `invites_ended`.
macro_rules! ended_before {
    () => {
        "SELECT sid FROM invites WHERE status IN ('answered', 'rejected', 'canceled', \
         'expired', 'failed') AND date_updated < $1 ORDER BY date_updated LIMIT $2"
    };
}

/// SQLite: deliveries and Twilio call rows first (their foreign keys), then the invites, in
/// one transaction holding the writer gate, so every statement sees the same rows.
const SQLITE_DELIVERIES: &str = concat!(
    "DELETE FROM deliveries WHERE invite_sid IN (",
    ended_before!(),
    ")"
);
const SQLITE_TWILIO_CALLS: &str = concat!(
    "DELETE FROM twilio_calls WHERE invite_sid IN (",
    ended_before!(),
    ")"
);
const SQLITE_INVITES: &str = concat!("DELETE FROM invites WHERE sid IN (", ended_before!(), ")");

/// PostgreSQL: one statement. The batch's invite rows are locked, skipping rows another
/// transaction holds (a replica pruning at the same time takes the next ones); the foreign key
/// is checked at the end of the statement, once both deletes are done.
const POSTGRES: &str = concat!(
    "WITH doomed AS (",
    ended_before!(),
    " FOR UPDATE SKIP LOCKED), \
     gone_deliveries AS (DELETE FROM deliveries d USING doomed \
     WHERE d.invite_sid = doomed.sid RETURNING 1), \
     gone_twilio AS (DELETE FROM twilio_calls t USING doomed \
     WHERE t.invite_sid = doomed.sid RETURNING 1), \
     gone_invites AS (DELETE FROM invites i USING doomed WHERE i.sid = doomed.sid RETURNING 1) \
     SELECT (SELECT count(*) FROM gone_invites) AS invites, \
     (SELECT count(*) FROM gone_deliveries) AS deliveries, \
     (SELECT count(*) FROM gone_twilio) AS twilio_calls"
);

/// What a prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Ended invites deleted.
    pub invites: u64,
    /// Their deliveries deleted.
    pub deliveries: u64,
    /// Their `twilio_calls` rows deleted (calls placed through Twilio's Calls API).
    pub twilio_calls: u64,
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, other: Self) {
        self.invites += other.invites;
        self.deliveries += other.deliveries;
        self.twilio_calls += other.twilio_calls;
    }
}

impl Store {
    /// Deletes up to `limit` ended invites (answered, rejected, canceled, expired, failed)
    /// last changed before `cutoff` (epoch milliseconds), oldest first, and their deliveries,
    /// in one transaction. Open invites are never deleted, whatever their age. Fewer than
    /// `limit` invites deleted means none is left (on PostgreSQL: none not being written by
    /// another transaction right now).
    pub async fn prune_ended_invites(&self, cutoff: i64, limit: i64) -> Result<Pruned, StoreError> {
        debug_assert!(ENDED_BEFORE.contains(ENDED), "the partial index's term");
        let mut tx = self.begin_write().await?;
        let pruned = match self.kind {
            StoreKind::Sqlite => {
                let deliveries = sqlx::query(SQLITE_DELIVERIES)
                    .bind(cutoff)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let twilio_calls = sqlx::query(SQLITE_TWILIO_CALLS)
                    .bind(cutoff)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let invites = sqlx::query(SQLITE_INVITES)
                    .bind(cutoff)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                Pruned {
                    invites,
                    deliveries,
                    twilio_calls,
                }
            }
            StoreKind::Postgres => {
                let (invites, deliveries, twilio_calls): (i64, i64, i64) = sqlx::query_as(POSTGRES)
                    .bind(cutoff)
                    .bind(limit)
                    .fetch_one(&mut *tx)
                    .await?;
                Pruned {
                    invites: invites.max(0) as u64,
                    deliveries: deliveries.max(0) as u64,
                    twilio_calls: twilio_calls.max(0) as u64,
                }
            }
        };
        tx.commit().await?;
        Ok(pruned)
    }
}

/// The candidate query, for the check below and `debug_assert!`.
const ENDED_BEFORE: &str = ended_before!();

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite finds the batch through `invites_ended`, in index order, without scanning or
    /// sorting the table (it would otherwise read every invite once a minute).
    #[test]
    fn sqlite_finds_a_batch_through_the_partial_index() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for migration in super::super::SQLITE_MIGRATIONS.iter() {
            conn.execute_batch(migration.sql.as_str()).unwrap();
        }
        let plan = |sql: &str| -> String {
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.replace('$', "?")))
                .unwrap();
            let rows = stmt
                .query_map(rusqlite::params![0_i64, 1000_i64], |r| {
                    r.get::<_, String>(3)
                })
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
        };
        for sql in [
            ENDED_BEFORE,
            SQLITE_INVITES,
            SQLITE_DELIVERIES,
            SQLITE_TWILIO_CALLS,
        ] {
            let plan = plan(sql);
            assert!(plan.contains("USING INDEX invites_ended"), "{sql}:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}:\n{plan}");
            assert!(!plan.contains("SCAN invites\n") && !plan.ends_with("SCAN invites"));
        }
        assert!(plan(SQLITE_DELIVERIES).contains("deliveries_invite"));
    }
}
