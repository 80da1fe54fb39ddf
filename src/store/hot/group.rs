//! Group commit: concurrent calls of one kind of write (invites with their deliveries, call
//! endings) are handed to one task that takes every request waiting and writes them in one
//! transaction, answering each caller with its own result.
//!
//! The committers' tasks are tracked by the store: [`Committers::close`] (from
//! `Store::close`) has them write what is queued and return, and waits for them; a request
//! made after that is written by its caller directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::{CreateInvite, DeliveryRecord, EndRequest, InviteRecord, Store, StoreError};

/// Most requests written in one group commit.
const GROUP_MAX: usize = 256;

/// A request waiting for its group committer.
struct Pending<R, T> {
    request: R,
    done: oneshot::Sender<Result<T, StoreError>>,
}

/// Writes a batch in one transaction: one result per request, in order.
pub(super) type WriteBatch<R, T> =
    for<'a> fn(&'a Store, &'a [R]) -> BoxFuture<'a, Result<Vec<T>, StoreError>>;

/// Handle to a task that writes concurrent requests together. The task ends when every
/// handle is dropped.
#[derive(Debug)]
pub(in crate::store) struct Group<R, T> {
    queue: mpsc::UnboundedSender<Pending<R, T>>,
    /// Requests queued and not yet taken into a batch.
    waiting: Arc<AtomicUsize>,
    /// Most requests queued at once; more are refused (`usize::MAX`: no bound).
    limit: Arc<AtomicUsize>,
}

impl<R, T> Clone for Group<R, T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            waiting: self.waiting.clone(),
            limit: self.limit.clone(),
        }
    }
}

impl<R: Send + Sync + 'static, T: Send + 'static> Group<R, T> {
    /// Starts the committer on `store` (a handle without committers of its own), writing
    /// with `write`, as a task of `tracker` that returns once `stop` is cancelled and what
    /// was queued by then is written.
    pub(super) fn spawn(
        store: Store,
        write: WriteBatch<R, T>,
        tracker: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending<R, T>>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let taken = waiting.clone();
        tracker.spawn(async move {
            loop {
                let first = tokio::select! {
                    first = rx.recv() => first,
                    () = stop.cancelled(), if !rx.is_closed() => {
                        // Refuse new requests (their callers write them directly); what is
                        // queued is still received, then `recv` ends the loop.
                        rx.close();
                        continue;
                    }
                };
                let Some(first) = first else { break };
                let mut batch = vec![first];
                while batch.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                taken.fetch_sub(batch.len(), Ordering::AcqRel);
                let (requests, waiting): (Vec<R>, Vec<_>) =
                    batch.into_iter().map(|p| (p.request, p.done)).unzip();
                match write(&store, &requests).await {
                    Ok(results) => {
                        for (done, result) in waiting.into_iter().zip(results) {
                            let _ = done.send(Ok(result));
                        }
                    }
                    // Alone, each request gets its own outcome: one bad row can't fail others.
                    Err(_) if requests.len() > 1 => {
                        for (request, done) in requests.iter().zip(waiting) {
                            let result = write(&store, std::slice::from_ref(request)).await;
                            let _ = done.send(result.map(|mut r| r.remove(0)));
                        }
                    }
                    Err(e) => {
                        if let Some(done) = waiting.into_iter().next() {
                            let _ = done.send(Err(e));
                        }
                    }
                }
            }
        });
        Group {
            queue: tx,
            waiting,
            limit: Arc::new(AtomicUsize::new(usize::MAX)),
        }
    }

    /// Refuses requests (with [`StoreError::Overloaded`]) while `limit` are queued.
    pub(super) fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Writes `request` with the others waiting. Gives the request back when the committer
    /// is gone (its runtime ended), for the caller to write directly.
    pub(super) async fn submit(&self, request: R) -> Result<Result<T, StoreError>, R> {
        let limit = self.limit.load(Ordering::Relaxed);
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        if queued >= limit {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Ok(Err(StoreError::Overloaded(queued)));
        }
        let (done, wait) = oneshot::channel();
        if let Err(refused) = self.queue.send(Pending { request, done }) {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(refused.0.request);
        }
        Ok(wait
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable("the group committer stopped"))))
    }
}

/// An invite and its deliveries, as [`Store::create_invite`] writes them.
pub(in crate::store) type NewInvite = (InviteRecord, Vec<DeliveryRecord>);

/// The store's group committers (none in the committers' own handle).
#[derive(Clone, Debug)]
pub(in crate::store) struct Committers {
    pub(super) invites: Group<NewInvite, CreateInvite>,
    pub(super) ends: Group<EndRequest, Option<InviteRecord>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Committers {
    /// Starts every committer on `store`.
    pub(in crate::store) fn spawn(store: Store) -> Self {
        let (tasks, stop) = (TaskTracker::new(), CancellationToken::new());
        Self {
            invites: Group::spawn(
                store.clone(),
                |store, batch| Box::pin(store.write_invites(batch)),
                &tasks,
                stop.clone(),
            ),
            ends: Group::spawn(
                store,
                |store, batch| Box::pin(store.write_ends(batch)),
                &tasks,
                stop.clone(),
            ),
            tasks,
            stop,
        }
    }

    /// Has every committer write what is queued and return, and waits for them.
    pub(in crate::store) async fn close(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
