//! PostgreSQL's hot reads, grouped like its writes: every invite placed reads its identity's
//! registrations, and every accept, reject and cancel reads its invite — thousands of
//! one-row queries a second, each a round trip (and a wake-up of a PostgreSQL backend). The
//! readers waiting at once are answered by one query with an array of keys (`group.rs`'s
//! task), each with its own rows.

use std::collections::{HashMap, HashSet};

use futures_util::future::BoxFuture;
use sqlx::PgPool;

use super::Backend;
use super::group::Group;
use crate::domain::{AccountSid, Identity, InviteSid};
use crate::store::invites::{InviteRecord, InviteRow, invite_columns};
use crate::store::registrations::{Registration, RegistrationRow};
use crate::store::{Store, StoreError};

/// The active registrations of each (account, identity) of `$1`, `$2`, one index lookup per
/// key (so the plan holds whatever the statistics say).
const ACTIVE_MANY: &str = "SELECT r.sid, r.account_sid, r.credential_sid, r.identity, \
     r.binding_type, r.device_token, r.environment, r.state, r.state_reason, r.date_created, \
     r.date_updated, r.last_used \
     FROM UNNEST($1::text[], $2::text[]) AS k(k_account, k_identity) \
     CROSS JOIN LATERAL (SELECT * FROM registrations WHERE account_sid = k.k_account \
       AND identity = k.k_identity AND state = 'active') AS r ORDER BY r.sid";

/// The invites of `$1`.
const INVITES_MANY: &str = concat!(
    "SELECT ",
    invite_columns!(),
    " FROM invites WHERE sid = ANY($1)"
);

/// An identity whose registrations are read.
pub(in crate::store) type IdentityKey = (AccountSid, Identity);

/// The grouped readers (PostgreSQL only).
#[derive(Clone, Debug)]
pub(in crate::store) struct Reads {
    pub(super) registrations: Group<IdentityKey, Vec<Registration>>,
    pub(super) invites: Group<InviteSid, Option<InviteRecord>>,
}

impl Reads {
    /// Starts the readers on `store` (a handle without committers).
    pub(super) fn spawn(store: Store) -> Self {
        Self {
            registrations: Group::spawn(store.clone(), read_registrations),
            invites: Group::spawn(store, read_invites),
        }
    }
}

fn pool(store: &Store) -> Result<&PgPool, StoreError> {
    match &store.backend {
        Backend::Postgres(pool) => Ok(pool),
        Backend::Sqlite(_) => Err(StoreError::Other("grouped reads are PostgreSQL's".into())),
    }
}

fn read_registrations<'a>(
    store: &'a Store,
    keys: &'a [IdentityKey],
) -> BoxFuture<'a, Result<Vec<Vec<Registration>>, StoreError>> {
    Box::pin(async move {
        let mut unique: Vec<&IdentityKey> = Vec::with_capacity(keys.len());
        let mut seen = HashSet::new();
        for key in keys {
            if seen.insert(key) {
                unique.push(key);
            }
        }
        let rows: Vec<RegistrationRow> = sqlx::query_as(ACTIVE_MANY)
            .bind(unique.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>())
            .bind(unique.iter().map(|(_, i)| i.as_str()).collect::<Vec<_>>())
            .fetch_all(pool(store)?)
            .await?;
        let mut by_key: HashMap<(String, String), Vec<Registration>> = HashMap::new();
        for row in rows {
            let key = (row.account_sid.clone(), row.identity.clone());
            by_key.entry(key).or_default().push(row.try_into()?);
        }
        Ok(keys
            .iter()
            .map(|(a, i)| {
                by_key
                    .get(&(a.as_str().to_owned(), i.as_str().to_owned()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect())
    })
}

fn read_invites<'a>(
    store: &'a Store,
    sids: &'a [InviteSid],
) -> BoxFuture<'a, Result<Vec<Option<InviteRecord>>, StoreError>> {
    Box::pin(async move {
        let rows: Vec<InviteRow> = sqlx::query_as(INVITES_MANY)
            .bind(sids.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .fetch_all(pool(store)?)
            .await?;
        let mut by_sid: HashMap<String, InviteRecord> = HashMap::with_capacity(rows.len());
        for row in rows {
            by_sid.insert(row.sid.clone(), row.try_into()?);
        }
        Ok(sids
            .iter()
            .map(|s| by_sid.get(s.as_str()).cloned())
            .collect())
    })
}
