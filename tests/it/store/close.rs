//! Closing a store (at shutdown) waits for its group committers: what they hold is written
//! before the connections close, and they return.

use std::time::Duration;

use pushgate::domain::CallSid;
use pushgate::store::CreateInvite;

use super::admission::{hold_invite_writes, release};
use super::{delivery, invite, registered};
use crate::helpers::{Backend, device_token, spawn_app, store_tests};

store_tests!(closing_the_store_writes_what_its_committers_hold);

async fn closing_the_store_writes_what_its_committers_hold(backend: Backend) {
    let app = spawn_app(backend).await;
    let regs = registered(&app, "alice", &[device_token(1)]).await;
    // A second handle, with committers of its own, to close while they hold invites.
    let url = app.config.database_url.clone().unwrap();
    let store = pushgate::store::Store::connect(&url, 4).await.unwrap();
    let held = hold_invite_writes(&app, backend).await;
    let invites: Vec<_> = (0..3)
        .map(|_| invite(&app, &CallSid::generate(), "alice"))
        .collect();
    let placing: Vec<_> = invites
        .iter()
        .map(|i| {
            let (store, i, d) = (store.clone(), i.clone(), [delivery(i, &regs[0])]);
            tokio::spawn(async move { store.create_invite(&i, &d).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let closing = tokio::spawn({
        let store = store.clone();
        async move { store.close().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !closing.is_finished(),
        "close waits for the invites its committer holds"
    );
    release(held).await;
    tokio::time::timeout(Duration::from_secs(10), closing)
        .await
        .expect("close returns once the committers are done")
        .unwrap();
    for placed in placing {
        let created = placed.await.unwrap().unwrap();
        assert!(matches!(created, CreateInvite::Created), "{created:?}");
    }
    for i in &invites {
        let stored = app.store.invite(&app.account, &i.sid).await.unwrap();
        assert!(stored.is_some(), "{} was written", i.sid);
    }
    app.stop().await.unwrap();
}
