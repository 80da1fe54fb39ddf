//! An invite of any size writes exactly its deliveries: on PostgreSQL up to 200 rows per
//! INSERT, more in several, all in one transaction.

use pushgate::domain::CallSid;
use pushgate::store::CreateInvite;

use super::{delivery, invite, registered};
use crate::helpers::{Backend, device_token, spawn_app, store_tests};

store_tests!(every_delivery_of_a_batch_is_written_once_whatever_its_size);

async fn every_delivery_of_a_batch_is_written_once_whatever_its_size(backend: Backend) {
    let app = spawn_app(backend).await;
    let regs = registered(&app, "alice", &[device_token(1)]).await;
    // 3, 200 (the most one INSERT takes) and 201 (two INSERTs).
    for n in [3, 200, 201] {
        let placed = invite(&app, &CallSid::generate(), "alice");
        let deliveries: Vec<_> = (0..n).map(|_| delivery(&placed, &regs[0])).collect();
        let created = app.store.create_invite(&placed, &deliveries).await.unwrap();
        assert!(matches!(created, CreateInvite::Created), "{created:?}");
        let mut stored: Vec<_> = app
            .store
            .deliveries(&placed.sid)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        let mut sent: Vec<_> = deliveries.iter().map(|d| d.id).collect();
        stored.sort();
        sent.sort();
        assert_eq!(stored, sent, "{n} deliveries");
    }
    app.stop().await.unwrap();
}
