//! The outbox as the Redis queue sees it: which deliveries reached the stream
//! (`deliveries.enqueued_at`), taking over those that never did, and what the store says about
//! a delivery before a claimed stream entry is sent again.

use super::invites::DeliveryRow;
use super::{DeliveryRecord, Store, StoreError};
use crate::config::StoreKind;
use crate::domain::DeliveryId;

const DELIVERY_COLUMNS: &str = "id, invite_sid, registration_sid, credential_sid, platform, \
     device_token, environment, status, attempts, apns_status, apns_reason, apns_id, accepted_at, date_updated";

/// `$from, $from+1, …` for `n` values.
fn list(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Notes that these deliveries are in the Redis Stream.
    pub async fn mark_enqueued(&self, ids: &[DeliveryId], now: i64) -> Result<(), StoreError> {
        self.set_enqueued(ids, Some(now)).await
    }

    /// Notes that these deliveries did not reach the stream after all.
    pub async fn unmark_enqueued(&self, ids: &[DeliveryId]) -> Result<(), StoreError> {
        self.set_enqueued(ids, None).await
    }

    async fn set_enqueued(&self, ids: &[DeliveryId], at: Option<i64>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(500) {
            // PostgreSQL: lock the rows in id order, the order the outcome recorder writes
            // them in, so the two never deadlock (a plain `id IN (…)` may lock them in heap
            // order).
            let sql = match self.kind {
                StoreKind::Postgres => format!(
                    "UPDATE deliveries SET enqueued_at = $1 WHERE id IN (SELECT id FROM \
                     deliveries WHERE id IN ({}) ORDER BY id FOR UPDATE)",
                    list(2, chunk.len())
                ),
                StoreKind::Sqlite => format!(
                    "UPDATE deliveries SET enqueued_at = $1 WHERE id IN ({})",
                    list(2, chunk.len())
                ),
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes up to `limit` open deliveries written before `before` that never reached the
    /// stream, marking them enqueued at `now`. Two replicas sweeping at once never take the
    /// same row (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite has one writer).
    pub async fn take_unenqueued(
        &self,
        before: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let lock = match self.kind {
            StoreKind::Postgres => "FOR UPDATE SKIP LOCKED",
            StoreKind::Sqlite => "",
        };
        let sql = format!(
            "UPDATE deliveries SET enqueued_at = $1 WHERE id IN (SELECT id FROM deliveries \
             WHERE enqueued_at IS NULL AND status IN ('queued', 'retrying') \
             AND date_updated < $2 ORDER BY date_updated LIMIT $3 {lock}) \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(before)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }

    /// After Redis lost its data: every open delivery is to be enqueued again.
    pub async fn forget_enqueued(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE deliveries SET enqueued_at = NULL \
             WHERE status IN ('queued', 'retrying') AND enqueued_at IS NOT NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Unmarks open deliveries marked enqueued at a time before `before`: those added to a
    /// stream Redis lost while their mark was still being written (the mark carries the time
    /// of the add, not of the write).
    pub async fn forget_enqueued_before(&self, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE deliveries SET enqueued_at = NULL \
             WHERE status IN ('queued', 'retrying') AND enqueued_at < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// The stored state of these deliveries (missing ones are left out).
    pub async fn deliveries_by_id(
        &self,
        ids: &[DeliveryId],
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id IN ({})",
                list(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, DeliveryRow>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            out.extend(
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(DeliveryRecord::try_from)
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(out)
    }
}
