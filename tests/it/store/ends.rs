//! Call endings in the store: racing ends in one group commit, and the expiry sweep's batches.

use pushgate::domain::{CallEnd, CallSid, InviteStatus};
use pushgate::store::InviteRecord;

use super::{invite, registered};
use crate::helpers::{Backend, device_token, spawn_app, store_tests};

store_tests!(
    racing_ends_in_one_batch_resolve_as_one_compare_and_set,
    expiry_ends_only_due_open_invites_in_batches,
);

async fn racing_ends_in_one_batch_resolve_as_one_compare_and_set(backend: Backend) {
    let app = spawn_app(backend).await;
    let regs = registered(&app, "dave", &[device_token(4), device_token(5)]).await;
    let record = invite(&app, &CallSid::generate(), "dave");
    app.store.create_invite(&record, &[]).await.unwrap();
    let now = pushgate::clock::now_ms();
    let store = &app.store;
    // Submitted together: one group commit, in arrival order.
    let (a, b, c) = tokio::join!(
        store.end_invite(&record.sid, CallEnd::Answered, Some(&regs[0].sid), now),
        store.end_invite(&record.sid, CallEnd::Answered, Some(&regs[1].sid), now),
        store.end_invite(&record.sid, CallEnd::Canceled, None, now),
    );
    let ended: Vec<_> = [a.unwrap(), b.unwrap(), c.unwrap()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ended.len(), 1, "exactly one end wins: {ended:?}");
    let stored = store.invite_by_sid(&record.sid).await.unwrap().unwrap();
    assert_eq!(stored.status, ended[0].status);
    assert_eq!(stored.answered_by, ended[0].answered_by);
    assert_eq!(stored.date_updated, now);
    // An end of an invite past its expiry (but not yet swept) does not take.
    let late = invite(&app, &CallSid::generate(), "dave");
    app.store.create_invite(&late, &[]).await.unwrap();
    let after = late.expires_at + 1;
    let refused = store
        .end_invite(&late.sid, CallEnd::Rejected, None, after)
        .await;
    assert!(refused.unwrap().is_none());
    app.stop().await.unwrap();
}

async fn expiry_ends_only_due_open_invites_in_batches(backend: Backend) {
    let app = spawn_app(backend).await;
    registered(&app, "erin", &[device_token(6)]).await;
    let store = &app.store;
    // Due at `when` (an hour from now, so the gateway's own sweeper leaves them alone).
    let when = pushgate::clock::now_ms() + 3_600_000;
    let mut due = Vec::new();
    for _ in 0..3 {
        let record = InviteRecord {
            expires_at: when,
            ..invite(&app, &CallSid::generate(), "erin")
        };
        store.create_invite(&record, &[]).await.unwrap();
        due.push(record.sid);
    }
    let later = InviteRecord {
        expires_at: when + 60_000,
        ..invite(&app, &CallSid::generate(), "erin")
    };
    store.create_invite(&later, &[]).await.unwrap();
    let canceled = InviteRecord {
        expires_at: when,
        ..invite(&app, &CallSid::generate(), "erin")
    };
    store.create_invite(&canceled, &[]).await.unwrap();
    let now = pushgate::clock::now_ms();
    assert!(
        store
            .end_invite(&canceled.sid, CallEnd::Canceled, None, now)
            .await
            .unwrap()
            .is_some()
    );

    let first = store.expire_due(when, 2).await.unwrap();
    let second = store.expire_due(when, 2).await.unwrap();
    let third = store.expire_due(when, 2).await.unwrap();
    assert_eq!((first.len(), second.len(), third.len()), (2, 1, 0));
    let mut expired: Vec<_> = first.iter().chain(&second).map(|i| i.sid.clone()).collect();
    expired.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    due.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(expired, due);
    for invite in first.iter().chain(&second) {
        assert_eq!(
            (invite.status, invite.date_updated),
            (InviteStatus::Expired, when)
        );
    }
    let still = store.invite_by_sid(&later.sid).await.unwrap().unwrap();
    assert_eq!(still.status, InviteStatus::Queued);
    let kept = store.invite_by_sid(&canceled.sid).await.unwrap().unwrap();
    assert_eq!(
        kept.status,
        InviteStatus::Canceled,
        "an ended invite stays as it ended"
    );
    app.stop().await.unwrap();
}
