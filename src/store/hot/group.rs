//! The invite group commit: concurrent [`Store::create_invite`] calls are handed to one task
//! that takes every invite waiting and writes them in one transaction.

use tokio::sync::{mpsc, oneshot};

use crate::store::{CreateInvite, DeliveryRecord, InviteRecord, Store, StoreError};

/// Most invites written in one group commit.
const GROUP_MAX: usize = 256;

/// An invite waiting for the group committer.
pub(super) struct Pending {
    pub(super) invite: InviteRecord,
    pub(super) deliveries: Vec<DeliveryRecord>,
    pub(super) done: oneshot::Sender<Result<CreateInvite, StoreError>>,
}

/// Handle to the task that writes concurrent invites together (see
/// [`Store::create_invite`]). The task ends when every handle is dropped.
#[derive(Clone, Debug)]
pub(in crate::store) struct GroupCommit(pub(super) mpsc::UnboundedSender<Pending>);

impl GroupCommit {
    /// Starts the committer on `store` (a handle without a committer of its own).
    pub(in crate::store) fn spawn(store: Store) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let pairs: Vec<_> = batch
                    .iter()
                    .map(|p| (&p.invite, &p.deliveries[..]))
                    .collect();
                match store.write_invites(&pairs).await {
                    Ok(results) => {
                        for (p, result) in batch.into_iter().zip(results) {
                            let _ = p.done.send(Ok(result));
                        }
                    }
                    // Alone, each invite gets its own outcome: one bad row can't fail others.
                    Err(_) if batch.len() > 1 => {
                        for p in batch {
                            let result = store.write_invites(&[(&p.invite, &p.deliveries)]).await;
                            let _ = p.done.send(result.map(|mut r| r.remove(0)));
                        }
                    }
                    Err(e) => {
                        if let Some(p) = batch.pop() {
                            let _ = p.done.send(Err(e));
                        }
                    }
                }
            }
        });
        GroupCommit(tx)
    }
}
