//! Bulk seeding for the benchmark: ended invites with one accepted delivery each, generated
//! inside the database (a series, not row-by-row binds), so a run can start with millions of
//! them stored (issue #14's "3,000,000 ended invites" row). SIDs are `IV`/`CA`/`BS` + the row
//! number in 32 hex digits: well-formed, and apart from the random ones real requests make.

use super::{Store, StoreError};
use crate::config::StoreKind;
use crate::domain::{AccountSid, CredentialSid};

/// Rows per statement (and transaction).
const CHUNK: u64 = 250_000;

const STATUS: &str = "CASE i % 4 WHEN 0 THEN 'answered' WHEN 1 THEN 'rejected' \
    WHEN 2 THEN 'canceled' ELSE 'expired' END";

fn statements(kind: StoreKind) -> (String, String) {
    let (series, hex32, uuid) = match kind {
        StoreKind::Postgres => (
            "generate_series($3::bigint, $4::bigint) AS s(i)",
            "lpad(to_hex(i), 32, '0')",
            "'00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0')",
        ),
        StoreKind::Sqlite => (
            "s",
            "printf('%032x', i)",
            "printf('00000000-0000-4000-8000-%012x', i)",
        ),
    };
    let with = match kind {
        StoreKind::Postgres => "",
        StoreKind::Sqlite => {
            "WITH RECURSIVE s(i) AS (SELECT $3 UNION ALL SELECT i + 1 FROM s WHERE i < $4) "
        }
    };
    let invites = format!(
        "{with}INSERT INTO invites (sid, account_sid, call_sid, to_identity, caller, status, \
         expires_at, date_created, date_updated) \
         SELECT 'IV' || {hex32}, $1, 'CA' || {hex32}, 'filler-' || (i % 100000), \
         'client:seeded', {STATUS}, $2, $2 - 30000, $2 FROM {series}"
    );
    let deliveries = format!(
        "{with}INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, \
         platform, device_token, environment, status, attempts, apns_status, accepted_at, \
         date_updated) \
         SELECT {uuid}, 'IV' || {hex32}, 'BS' || {hex32}, $1, 'apn', \
         'abababababababababababababababababababababababababababababababab', 'production', \
         'accepted', 1, 200, $2 - 29000, $2 FROM {series}"
    );
    (invites, deliveries)
}

impl Store {
    /// Writes `n` ended invites of `account` (answered, rejected, canceled, expired in turn)
    /// that ended at `at` (epoch ms), each with one accepted delivery under `credential`.
    pub async fn insert_ended_invites(
        &self,
        account: &AccountSid,
        credential: &CredentialSid,
        n: u64,
        at: i64,
    ) -> Result<u64, StoreError> {
        let (invites, deliveries) = statements(self.kind);
        let mut written = 0;
        let mut from = 1;
        while from <= n {
            let to = (from + CHUNK - 1).min(n);
            let mut tx = self.begin_write().await?;
            written += sqlx::query(sqlx::AssertSqlSafe(invites.clone()))
                .bind(account.as_str())
                .bind(at)
                .bind(from as i64)
                .bind(to as i64)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(sqlx::AssertSqlSafe(deliveries.clone()))
                .bind(credential.as_str())
                .bind(at)
                .bind(from as i64)
                .bind(to as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            from = to + 1;
        }
        // Fresh statistics, as a database that grew to this size would have (autovacuum
        // analyzes as it goes; a bulk load leaves the planner with the empty tables' ones).
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(written)
    }
}
