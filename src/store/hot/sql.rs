//! The SQL text of the hot paths, shared by both backends: every statement is `$n`-numbered
//! (PostgreSQL's syntax, which the SQLite backend binds by number, see `store::sqlite::bind`),
//! so each backend runs the very same text and only binds and reads differently.

use crate::domain::CancelPush;
use crate::store::invites::invite_columns;

/// Invites per multi-row INSERT on PostgreSQL ([`INVITE_WIDTH`] parameters each).
pub(super) const INVITE_CHUNK: usize = 200;
/// Deliveries per multi-row INSERT on PostgreSQL (10 parameters each; well under SQLite's
/// limit too).
pub(super) const DELIVERY_CHUNK: usize = 200;
/// SIDs per statement for the batched registration touches and invite status checks.
pub(super) const SID_CHUNK: usize = 500;

/// `($1, …, $w), ($w+1, …)` for `rows` rows of `width` values.
fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Values per invite row of [`insert_invites`].
pub(super) const INVITE_WIDTH: usize = 14;

/// Inserts `rows` invites ([`INVITE_WIDTH`] values each; `date_updated` = `date_created`),
/// skipping call SIDs the account already has, and returns (`sid`) the ones written. `$n`
/// placeholders work on both backends (sqlx's builder would emit `?` for Any).
pub(super) fn insert_invites(rows: usize) -> String {
    let w = INVITE_WIDTH;
    let rows: Vec<String> = (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=w).map(|c| format!("${}", r * w + c)).collect();
            // date_updated = date_created
            format!("({}, ${})", cols.join(", "), r * w + w)
        })
        .collect();
    format!(
        "INSERT INTO invites (sid, account_sid, call_sid, to_identity, caller, params, \
         status, status_callback, api_key_sid, cancel_push, kind, payload, expires_at, \
         date_created, date_updated) VALUES {} \
         ON CONFLICT (account_sid, call_sid) DO NOTHING RETURNING sid",
        rows.join(", ")
    )
}

/// Inserts `rows` deliveries (10 values each).
pub(super) fn insert_deliveries(rows: usize) -> String {
    format!(
        "INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, platform, \
         device_token, environment, status, attempts, date_updated) VALUES {}",
        placeholders(rows, 10)
    )
}

/// The stored form of `cancel_push`: NULL for `none`, as earlier versions wrote it.
pub(super) fn cancel_push_column(c: CancelPush) -> Option<&'static str> {
    (c != CancelPush::None).then(|| c.as_str())
}

/// A delivery's new state; a final outcome is never overwritten (at-least-once delivery may
/// repeat one).
pub(super) const UPDATE_DELIVERY: &str = "UPDATE deliveries SET status = $1, attempts = $2, \
    environment = $3, apns_status = COALESCE($4, apns_status), \
    apns_reason = COALESCE($5, apns_reason), apns_id = COALESCE($6, apns_id), \
    accepted_at = COALESCE($7, accepted_at), date_updated = $8 \
    WHERE id = $9 AND status IN ('queued', 'retrying')";
/// `n` delivery updates in one statement (PostgreSQL): `$1` is the time, then 8 values per
/// delivery (id, status, attempts, environment, apns_status, apns_reason, apns_id,
/// accepted_at), with the rules of [`UPDATE_DELIVERY`]. Each id at most once per statement.
pub(super) fn update_deliveries(n: usize) -> String {
    let rows: Vec<String> = (0..n)
        .map(|r| {
            let b = 1 + r * 8;
            format!(
                "(${}::text, ${}::text, ${}::bigint, ${}::text, ${}::bigint, ${}::text, \
                 ${}::text, ${}::bigint)",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8
            )
        })
        .collect();
    format!(
        "UPDATE deliveries SET status = u.u_status, attempts = u.u_attempts, \
         environment = u.u_environment, apns_status = COALESCE(u.u_apns_status, apns_status), \
         apns_reason = COALESCE(u.u_apns_reason, apns_reason), \
         apns_id = COALESCE(u.u_apns_id, apns_id), \
         accepted_at = COALESCE(u.u_accepted_at, accepted_at), date_updated = $1 \
         FROM (VALUES {}) AS u(u_id, u_status, u_attempts, u_environment, u_apns_status, \
         u_apns_reason, u_apns_id, u_accepted_at) \
         WHERE id = u.u_id AND status IN ('queued', 'retrying')",
        rows.join(", ")
    )
}

/// Locks `n` deliveries (ids from `$1` on) in id order, for [`update_deliveries`].
pub(super) fn lock_deliveries(n: usize) -> String {
    let ids: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!(
        "SELECT id FROM deliveries WHERE id IN ({}) ORDER BY id FOR UPDATE",
        ids.join(", ")
    )
}

/// Locks the `n` invites bound from `$1` on in SID order (bytewise, as Rust sorts them
/// before chunking), as the UPDATE that follows would (`FOR NO KEY UPDATE`). An UPDATE locks rows in its plan's order (heap order under a hash
/// join or a bitmap scan), so a batch of call ends and an outcome batch's status check on
/// the same invites deadlocked (PostgreSQL aborts one after `deadlock_timeout`, 1 s, and the
/// batch is retried request by request); locked in one order first, they take turns.
pub(super) fn lock_invites(n: usize) -> String {
    let sids: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!(
        "SELECT sid FROM invites WHERE sid IN ({}) ORDER BY sid COLLATE \"C\" FOR NO KEY UPDATE",
        sids.join(", ")
    )
}

/// A push was accepted in the other environment: remember it, and touch.
pub(super) const SET_ENVIRONMENT: &str =
    "UPDATE registrations SET last_used = $1, environment = $2 WHERE sid = $3";
/// A dead token: the registration goes unless refreshed after the provider's timestamp.
pub(super) const RETIRE: &str = "DELETE FROM registrations WHERE sid = $1 AND date_updated <= $2";
/// A misconfigured registration: kept, no longer pushed to.
pub(super) const INVALIDATE: &str =
    "UPDATE registrations SET state = 'invalid', state_reason = $1 WHERE sid = $2";
/// A credential the provider refused.
pub(super) const REJECT_CREDENTIAL: &str =
    "UPDATE credentials SET rejected_reason = $1 WHERE sid = $2";

/// Sets `last_used` = `$1` on those of the `n` registrations bound from `$2` on that were not
/// used in the last hour (see [`TOUCH_FRESH`]).
pub(super) fn touch(n: usize) -> String {
    format!(
        "UPDATE registrations SET last_used = $1 WHERE sid IN ({}) AND {TOUCH_FRESH}",
        sid_list(n)
    )
}

/// Which registrations an accepted push touches: `last_used` serves the unused-registration
/// sweep (`registration_ttl_days`), so an hour's precision is plenty, and a phone rung all day
/// costs one row write an hour instead of one per push.
pub(super) const TOUCH_FRESH: &str = "(last_used IS NULL OR last_used < $1 - 3600000)";

/// Recomputes the status of the `n` invites whose SIDs are bound from `$2` on, if still
/// open; returns `sid`, `status` and `status_callback` of each.
pub(super) fn final_check(n: usize) -> String {
    format!(
        "UPDATE invites SET status = CASE \
         WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.invite_sid = invites.sid \
           AND d.status = 'accepted') THEN 'delivered' \
         WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.invite_sid = invites.sid \
           AND d.status IN ('queued', 'retrying')) THEN 'sending' \
         WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.invite_sid = invites.sid \
           AND d.status = 'expired') THEN 'expired' \
         ELSE 'failed' END, date_updated = $1 \
         WHERE sid IN ({}) AND status IN ('queued', 'sending') \
         RETURNING sid, status, status_callback",
        sid_list(n)
    )
}

/// `$2, $3, …` for `n` values.
fn sid_list(n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One end, on SQLite (run once per request, in order, in one transaction).
pub(super) const END_ONE: &str = concat!(
    "UPDATE invites SET status = $1, answered_by = $2, date_updated = $3 \
     WHERE sid = $4 AND status IN ('queued', 'sending', 'delivered') \
     AND (expires_at > $3 OR $1 = 'expired') RETURNING ",
    invite_columns!()
);

/// Up to `$2` open invites due by `$1` become expired (SQLite: the writer thread is the
/// only writer, nothing to skip).
pub(super) const EXPIRE_DUE_SQLITE: &str = concat!(
    "UPDATE invites SET status = 'expired', date_updated = $1 WHERE sid IN \
     (SELECT sid FROM invites WHERE status IN ('queued', 'sending', 'delivered') \
     AND expires_at <= $1 ORDER BY expires_at LIMIT $2) RETURNING ",
    invite_columns!()
);

/// The same on PostgreSQL, where every replica sweeps: rows another replica is ending are
/// skipped, not waited for.
pub(super) const EXPIRE_DUE_POSTGRES: &str = concat!(
    "UPDATE invites SET status = 'expired', date_updated = $1 WHERE sid IN \
     (SELECT sid FROM invites WHERE status IN ('queued', 'sending', 'delivered') \
     AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
     AND status IN ('queued', 'sending', 'delivered') RETURNING ",
    invite_columns!()
);

/// `n` ends in one statement on PostgreSQL (4 values each: sid, status, answered_by, now).
pub(super) fn end_many(n: usize) -> String {
    let rows: Vec<String> = (0..n)
        .map(|r| {
            let b = r * 4;
            format!(
                "(${}::text, ${}::text, ${}::text, ${}::bigint)",
                b + 1,
                b + 2,
                b + 3,
                b + 4
            )
        })
        .collect();
    format!(
        "UPDATE invites SET status = u.u_status, answered_by = u.u_answered_by, \
         date_updated = u.u_now FROM (VALUES {}) AS u(u_sid, u_status, u_answered_by, u_now) \
         WHERE sid = u.u_sid AND status IN ('queued', 'sending', 'delivered') \
         AND (expires_at > u.u_now OR u.u_status = 'expired') RETURNING {}",
        rows.join(", "),
        invite_columns!()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_value_once() {
        assert_eq!(placeholders(2, 2), "($1, $2), ($3, $4)");
        assert!(insert_invites(2).contains(
            "($15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $28)"
        ));
        assert!(touch(2).contains("IN ($2, $3) AND (last_used IS NULL"));
        assert!(final_check(1).contains("WHERE sid IN ($2) AND"));
        assert!(lock_invites(2).contains("sid IN ($1, $2) ORDER BY sid COLLATE \"C\" FOR NO KEY"));
        let updates = update_deliveries(2);
        assert!(updates.contains("($10::text, $11::text, $12::bigint"));
        assert!(updates.ends_with("$17::bigint)) AS u(u_id, u_status, u_attempts, u_environment, u_apns_status, u_apns_reason, u_apns_id, u_accepted_at) WHERE id = u.u_id AND status IN ('queued', 'retrying')"));
    }
}
