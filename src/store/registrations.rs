//! Device registrations (bindings, `BS…`): which device token rings which identity, under
//! which push credential.

use super::{Store, StoreError, decode};
use crate::domain::{
    AccountSid, CredentialSid, DeviceToken, Environment, Identity, Platform, RegistrationSid,
    RegistrationState,
};
use sqlx::Row as _;

/// A registration as stored.
#[derive(Debug, Clone)]
pub struct Registration {
    pub sid: RegistrationSid,
    pub account_sid: AccountSid,
    pub credential_sid: CredentialSid,
    pub identity: Identity,
    /// Stored as `binding_type` (`apn`).
    pub platform: Platform,
    pub device_token: DeviceToken,
    /// Learned from the provider; `None` means the credential's default.
    pub environment: Option<Environment>,
    pub state: RegistrationState,
    pub state_reason: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
    pub last_used: Option<i64>,
}

/// What a device asks to register.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub account_sid: AccountSid,
    pub credential_sid: CredentialSid,
    pub identity: Identity,
    pub platform: Platform,
    pub device_token: DeviceToken,
}

/// The outcome of [`Store::upsert_registration`].
#[derive(Debug, Clone)]
pub struct Upserted {
    pub registration: Registration,
    /// True when the row was new (not a refresh of an existing token).
    pub created: bool,
    /// Identity the device token was registered to before, if it moved.
    pub moved_from: Option<Identity>,
    /// Registrations retired to keep the identity within its limit.
    pub retired: Vec<Registration>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct RegistrationPage {
    pub registrations: Vec<Registration>,
    /// Pass back as `page_token` for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct RegistrationRow {
    pub(super) sid: String,
    pub(super) account_sid: String,
    pub(super) credential_sid: String,
    pub(super) identity: String,
    pub(super) binding_type: String,
    pub(super) device_token: String,
    pub(super) environment: Option<String>,
    pub(super) state: String,
    pub(super) state_reason: Option<String>,
    pub(super) date_created: i64,
    pub(super) date_updated: i64,
    pub(super) last_used: Option<i64>,
}

impl TryFrom<RegistrationRow> for Registration {
    type Error = StoreError;
    fn try_from(r: RegistrationRow) -> Result<Self, StoreError> {
        Ok(Self {
            sid: RegistrationSid::trusted(r.sid),
            account_sid: AccountSid::trusted(r.account_sid),
            credential_sid: CredentialSid::trusted(r.credential_sid),
            identity: Identity::trusted(r.identity),
            platform: decode(&r.binding_type)?,
            device_token: DeviceToken::trusted(r.device_token),
            environment: r.environment.as_deref().map(decode).transpose()?,
            state: decode(&r.state)?,
            state_reason: r.state_reason,
            date_created: r.date_created,
            date_updated: r.date_updated,
            last_used: r.last_used,
        })
    }
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT sid, account_sid, credential_sid, identity, binding_type, device_token, \
             environment, state, state_reason, date_created, date_updated, last_used \
             FROM registrations ",
            $tail
        )
    };
}

/// The identity's active registrations (`Store::active_registrations`, in `hot/`).
pub(super) const ACTIVE: &str =
    select!("WHERE account_sid = $1 AND identity = $2 AND state = 'active' ORDER BY sid");

impl Store {
    /// Registers a device token, or refreshes (and possibly moves to a new identity) the
    /// existing registration of the same token under the same credential; then retires the
    /// identity's least recently refreshed registrations beyond `max_per_identity`.
    pub async fn upsert_registration(
        &self,
        new: &NewRegistration,
        max_per_identity: u32,
        now: i64,
    ) -> Result<Upserted, StoreError> {
        let mut tx = self.begin_write().await?;
        // A no-op write that reads the previous owner: it makes the write lock the
        // transaction's first lock on SQLite (no read-to-write upgrade that could fail).
        let previous: Option<String> = sqlx::query(
            "UPDATE registrations SET date_updated = date_updated \
             WHERE account_sid = $1 AND credential_sid = $2 AND device_token = $3 \
             RETURNING identity",
        )
        .bind(new.account_sid.as_str())
        .bind(new.credential_sid.as_str())
        .bind(new.device_token.as_hex())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("identity"))
        .transpose()?;
        let row: RegistrationRow = sqlx::query_as(
            "INSERT INTO registrations (sid, account_sid, credential_sid, identity, binding_type, \
             device_token, state, date_created, date_updated, last_used) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $7) \
             ON CONFLICT (account_sid, credential_sid, device_token) DO UPDATE SET \
             identity = excluded.identity, binding_type = excluded.binding_type, \
             state = 'active', state_reason = NULL, date_updated = excluded.date_updated, \
             last_used = excluded.last_used \
             RETURNING sid, account_sid, credential_sid, identity, binding_type, device_token, \
             environment, state, state_reason, date_created, date_updated, last_used",
        )
        .bind(RegistrationSid::generate().as_str())
        .bind(new.account_sid.as_str())
        .bind(new.credential_sid.as_str())
        .bind(new.identity.as_str())
        .bind(new.platform.as_str())
        .bind(new.device_token.as_hex())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let registration = Registration::try_from(row)?;
        let surplus: Vec<RegistrationRow> = sqlx::query_as(select!(
            "WHERE account_sid = $1 AND identity = $2 AND sid <> $3 \
             ORDER BY date_updated DESC, sid DESC LIMIT 1000 OFFSET $4"
        ))
        .bind(new.account_sid.as_str())
        .bind(new.identity.as_str())
        .bind(registration.sid.as_str())
        .bind(i64::from(max_per_identity) - 1)
        .fetch_all(&mut *tx)
        .await?;
        for stale in &surplus {
            sqlx::query("DELETE FROM registrations WHERE sid = $1")
                .bind(&stale.sid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let created = previous.is_none();
        let moved_from = previous
            .filter(|identity| identity != new.identity.as_str())
            .map(Identity::trusted);
        Ok(Upserted {
            created,
            registration,
            moved_from,
            retired: surplus
                .into_iter()
                .map(Registration::try_from)
                .collect::<Result<_, _>>()?,
        })
    }

    /// One registration of `account`.
    pub async fn registration(
        &self,
        account: &AccountSid,
        sid: &RegistrationSid,
    ) -> Result<Option<Registration>, StoreError> {
        let row: Option<RegistrationRow> =
            sqlx::query_as(select!("WHERE sid = $1 AND account_sid = $2"))
                .bind(sid.as_str())
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(Registration::try_from).transpose()
    }

    /// Deletes a registration of `account`, only if it belongs to `identity` when one is
    /// given (a phone may remove only its own). Returns whether a row went.
    pub async fn delete_registration(
        &self,
        account: &AccountSid,
        sid: &RegistrationSid,
        identity: Option<&Identity>,
    ) -> Result<bool, StoreError> {
        let result = match identity {
            Some(identity) => sqlx::query(
                "DELETE FROM registrations WHERE sid = $1 AND account_sid = $2 AND identity = $3",
            )
            .bind(sid.as_str())
            .bind(account.as_str())
            .bind(identity.as_str())
            .execute(&self.pool)
            .await?,
            None => {
                sqlx::query("DELETE FROM registrations WHERE sid = $1 AND account_sid = $2")
                    .bind(sid.as_str())
                    .bind(account.as_str())
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(result.rows_affected() > 0)
    }

    /// A page of the account's registrations, optionally for one identity, in SID order.
    pub async fn registrations(
        &self,
        account: &AccountSid,
        identity: Option<&Identity>,
        after: Option<&RegistrationSid>,
        page_size: u32,
    ) -> Result<RegistrationPage, StoreError> {
        let after = after.map(|s| s.as_str()).unwrap_or("");
        let limit = i64::from(page_size) + 1;
        let mut rows: Vec<RegistrationRow> =
            match identity {
                Some(identity) => sqlx::query_as(select!(
                    "WHERE account_sid = $1 AND identity = $2 AND sid > $3 ORDER BY sid LIMIT $4"
                ))
                .bind(account.as_str())
                .bind(identity.as_str())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query_as(select!(
                        "WHERE account_sid = $1 AND sid > $2 ORDER BY sid LIMIT $3"
                    ))
                    .bind(account.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                }
            };
        let more = rows.len() > page_size as usize;
        rows.truncate(page_size as usize);
        let next_page_token = more.then(|| rows.last().map(|r| r.sid.clone())).flatten();
        Ok(RegistrationPage {
            registrations: rows
                .into_iter()
                .map(Registration::try_from)
                .collect::<Result<_, _>>()?,
            next_page_token,
        })
    }
}

/// Rows per multi-row INSERT in [`Store::insert_registrations`] (3 values each).
const BULK_CHUNK: usize = 1000;

impl Store {
    /// Inserts new active `platform` registrations of `account` under `credential` (of that
    /// platform) in one transaction,
    /// with multi-row INSERTs: for seeding (the benchmark) and imports, where the per-row
    /// upsert is too slow. Unlike [`Store::upsert_registration`] it neither refreshes nor
    /// moves existing tokens (a duplicate token fails the whole call) and does not enforce
    /// the per-identity limit: the caller keeps within it. Returns the rows written.
    pub async fn insert_registrations(
        &self,
        account: &AccountSid,
        credential: &CredentialSid,
        platform: Platform,
        rows: &[(Identity, DeviceToken)],
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        for chunk in rows.chunks(BULK_CHUNK) {
            // $1..$4 are shared by every row; each row adds its SID, identity and token.
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = 5 + i * 3;
                    format!(
                        "(${n}, $1, $2, ${}, $4, ${}, 'active', $3, $3, $3)",
                        n + 1,
                        n + 2
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO registrations (sid, account_sid, credential_sid, identity, \
                 binding_type, device_token, state, date_created, date_updated, last_used) \
                 VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(account.as_str())
                .bind(credential.as_str())
                .bind(now)
                .bind(platform.as_str());
            for (identity, token) in chunk {
                query = query
                    .bind(RegistrationSid::generate().into_string())
                    .bind(identity.as_str())
                    .bind(token.as_hex());
            }
            written += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }
}
