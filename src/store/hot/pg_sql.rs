//! The SQL text of PostgreSQL's hot paths: every batch binds one array per column
//! (`UNNEST($n::text[], …)`, `= ANY($n)`), so each statement has one text whatever the batch
//! size — prepared once per connection and planned from its cache, where a multi-row
//! `VALUES` list was a new statement (parsed and planned again) for every batch size — and a
//! batch of invites with their deliveries is one statement (one round trip, no explicit
//! transaction). SQLite keeps its one-row statements (`sql.rs`) on its writer thread.
//!
//! Row locks are taken in one order everywhere (deliveries by id, invites by SID) by a
//! locking `ORDER BY … FOR [NO KEY] UPDATE` before the update: an `UPDATE … FROM UNNEST(…)`
//! locks rows in whatever order its plan joins them (array order, or heap order under a hash
//! join), and a call end and an outcome batch that touch two invites in opposite orders
//! deadlock — PostgreSQL aborts one after `deadlock_timeout`, a 1 s stall and a retry.

use crate::store::invites::invite_columns;

/// Writes a batch of invites and their deliveries in one statement, skipping invites whose
/// call SID the account already has (and their deliveries); returns the SIDs written.
/// `$1`–`$14`: the invites' columns (`date_updated` = `date_created`); `$15`–`$24`: the
/// deliveries'. Within one statement the deliveries' foreign key sees the invites inserted
/// beside them.
pub(super) const WRITE_INVITES: &str = "WITH new AS (\
     INSERT INTO invites (sid, account_sid, call_sid, to_identity, caller, params, status, \
       status_callback, api_key_sid, cancel_push, kind, payload, expires_at, date_created, \
       date_updated) \
     SELECT i_sid, i_account, i_call, i_to, i_caller, i_params, i_status, i_callback, i_key, \
       i_cancel, i_kind, i_payload, i_expires, i_created, i_created \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
       $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
       $13::bigint[], $14::bigint[]) \
       AS i(i_sid, i_account, i_call, i_to, i_caller, i_params, i_status, i_callback, i_key, \
       i_cancel, i_kind, i_payload, i_expires, i_created) \
     ON CONFLICT (account_sid, call_sid) DO NOTHING RETURNING sid), \
   pushes AS (\
     INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, platform, \
       device_token, environment, status, attempts, date_updated) \
     SELECT d_id, d_invite, d_registration, d_credential, d_platform, d_token, d_environment, \
       d_status, d_attempts, d_updated \
     FROM UNNEST($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], \
       $20::text[], $21::text[], $22::text[], $23::bigint[], $24::bigint[]) \
       AS d(d_id, d_invite, d_registration, d_credential, d_platform, d_token, d_environment, \
       d_status, d_attempts, d_updated) \
     JOIN new ON new.sid = d.d_invite) \
   SELECT sid FROM new";

/// Ends a batch of invites (`$1` SIDs, `$2` final states, `$3` who answered, `$4` when),
/// each if still open and, unless it is expiring, not past its expiry; returns them, ended.
/// The rows are locked first, in SID order (see the module docs).
pub(super) const END_MANY: &str = concat!(
    "WITH locked AS MATERIALIZED (SELECT sid AS l_sid FROM invites WHERE sid = ANY($1) \
       AND status IN ('queued', 'sending', 'delivered') ORDER BY sid FOR NO KEY UPDATE) \
     UPDATE invites SET status = u.u_status, answered_by = u.u_answered_by, \
     date_updated = u.u_now \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
       AS u(u_sid, u_status, u_answered_by, u_now) JOIN locked ON locked.l_sid = u.u_sid \
     WHERE sid = u.u_sid AND status IN ('queued', 'sending', 'delivered') \
     AND (expires_at > u.u_now OR u.u_status = 'expired') RETURNING ",
    invite_columns!()
);

/// Locks the deliveries `$1` in id order, for [`UPDATE_DELIVERIES`] (the enqueue mark locks
/// in the same order; a join may lock in heap order and deadlock with it).
pub(super) const LOCK_DELIVERIES: &str =
    "SELECT id FROM deliveries WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Delivery outcomes at `$1`: per delivery (`$2`…`$9`) id, status, attempts, environment,
/// apns_status, apns_reason, apns_id, accepted_at; a final outcome is never overwritten.
/// Each id at most once.
pub(super) const UPDATE_DELIVERIES: &str = "UPDATE deliveries SET status = u.u_status, \
     attempts = u.u_attempts, environment = u.u_environment, \
     apns_status = COALESCE(u.u_apns_status, apns_status), \
     apns_reason = COALESCE(u.u_apns_reason, apns_reason), \
     apns_id = COALESCE(u.u_apns_id, apns_id), \
     accepted_at = COALESCE(u.u_accepted_at, accepted_at), date_updated = $1 \
     FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], \
       $8::text[], $9::bigint[]) \
       AS u(u_id, u_status, u_attempts, u_environment, u_apns_status, u_apns_reason, \
       u_apns_id, u_accepted_at) \
     WHERE id = u.u_id AND status IN ('queued', 'retrying')";

/// Sets `last_used` = `$1` on the registrations `$2` not used in the last hour
/// (see `sql::TOUCH_FRESH`).
pub(super) const TOUCH: &str = "UPDATE registrations SET last_used = $1 \
     WHERE sid = ANY($2) AND (last_used IS NULL OR last_used < $1 - 3600000)";

/// Recomputes at `$1` the status of the invites `$2` still queued or sending from their
/// deliveries, read through `deliveries_invite` once per invite (one aggregate per invite,
/// where three `EXISTS` probes each planned a bitmap scan of the open-deliveries index, and a
/// join would seq-scan `deliveries` while its statistics are missing or stale); returns
/// `sid`, `status` and `status_callback` of each. Rows locked first, in SID order (see the
/// module docs).
pub(super) const FINAL_CHECK: &str = "WITH locked AS MATERIALIZED (SELECT sid AS l_sid \
       FROM invites WHERE sid = ANY($2) AND status IN ('queued', 'sending') \
       ORDER BY sid FOR NO KEY UPDATE) \
     UPDATE invites SET status = CASE \
       WHEN s.accepted THEN 'delivered' WHEN s.open THEN 'sending' \
       WHEN s.expired THEN 'expired' ELSE 'failed' END, date_updated = $1 \
     FROM locked CROSS JOIN LATERAL (\
       SELECT bool_or(d.status = 'accepted') AS accepted, \
       bool_or(d.status IN ('queued', 'retrying')) AS open, \
       bool_or(d.status = 'expired') AS expired \
       FROM deliveries d WHERE d.invite_sid = locked.l_sid) AS s \
     WHERE invites.sid = locked.l_sid AND invites.status IN ('queued', 'sending') \
     RETURNING invites.sid, invites.status, invites.status_callback";

/// Up to `$2` open invites due by `$1` become expired. Every replica sweeps: rows another
/// replica is ending are skipped, not waited for.
pub(super) const EXPIRE_DUE: &str = concat!(
    "UPDATE invites SET status = 'expired', date_updated = $1 WHERE sid IN \
     (SELECT sid FROM invites WHERE status IN ('queued', 'sending', 'delivered') \
     AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
     AND status IN ('queued', 'sending', 'delivered') RETURNING ",
    invite_columns!()
);
