//! Rows written straight to the store, as a crashed writer would have left them.

use sqlx::Connection;

use super::TestApp;

/// Writes a copy of invite `sid` (a new call, its deliveries queued) straight to the store,
/// dated `age_ms` ago, as if its writer had died before queueing it; returns the copy's SID.
pub async fn copy_invite_unqueued(app: &TestApp, sid: &str, age_ms: i64) -> String {
    let url = app.config.database_url.clone().unwrap();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    let at = pushgate::clock::now_ms() - age_ms;
    let call = pushgate::domain::CallSid::generate().to_string();
    sqlx::query(
        "INSERT INTO invites (sid, account_sid, call_sid, to_identity, caller, status, \
         expires_at, date_created, date_updated) \
         SELECT 'IV' || substr(sid, 3, 30) || 'ff', account_sid, $1, to_identity, caller, \
         'queued', $2, $3, $3 FROM invites WHERE sid = $4",
    )
    .bind(&call)
    .bind(at + 60_000)
    .bind(at)
    .bind(sid)
    .execute(&mut db)
    .await
    .unwrap();
    let (new_sid,): (String,) = sqlx::query_as("SELECT sid FROM invites WHERE call_sid = $1")
        .bind(&call)
        .fetch_one(&mut db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO deliveries (id, invite_sid, registration_sid, credential_sid, device_token, \
         environment, status, attempts, date_updated) \
         SELECT substr(id, 1, 30) || 'ffffff', $1, registration_sid, credential_sid, \
         device_token, environment, 'queued', 0, $2 FROM deliveries WHERE invite_sid = $3",
    )
    .bind(&new_sid)
    .bind(at)
    .bind(sid)
    .execute(&mut db)
    .await
    .unwrap();
    new_sid
}
