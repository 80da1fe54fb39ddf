//! The store's background writers and readers: the group committers of invites and call
//! ends, and on PostgreSQL the grouped hot reads.

use super::group::{Group, NewInvite};
use super::pg_reads::Reads;
use crate::store::{CreateInvite, EndRequest, InviteRecord, Store};

/// The store's group committers (none in the committers' own handle).
#[derive(Clone, Debug)]
pub(in crate::store) struct Committers {
    pub(super) invites: Group<NewInvite, CreateInvite>,
    pub(super) ends: Group<EndRequest, Option<InviteRecord>>,
    /// PostgreSQL's grouped hot reads (`None` on SQLite, which reads in process).
    pub(super) reads: Option<Reads>,
}

impl Committers {
    /// Starts every committer on `store`.
    pub(in crate::store) fn spawn(store: Store) -> Self {
        let reads = matches!(store.backend, super::Backend::Postgres(_))
            .then(|| Reads::spawn(store.clone()));
        Self {
            reads,
            invites: Group::spawn(store.clone(), |store, batch| {
                Box::pin(store.write_invites(batch))
            }),
            ends: Group::spawn(store, |store, batch| Box::pin(store.write_ends(batch))),
        }
    }
}
