-- Retention of ended invites (src/store/retention.rs): the pruner finds ended invites oldest
-- first by date_updated, through this partial index only (open invites, the hot rows, are not
-- in it). The WHERE is the pruner's predicate word for word: SQLite uses a partial index only
-- when the query's WHERE contains the index's term as written. IF NOT EXISTS: on a large
-- PostgreSQL table an operator may build it beforehand with CREATE INDEX CONCURRENTLY (README:
-- Retention), which this migration then keeps.
CREATE INDEX IF NOT EXISTS invites_ended ON invites (date_updated)
    WHERE status IN ('answered', 'rejected', 'canceled', 'expired', 'failed');
