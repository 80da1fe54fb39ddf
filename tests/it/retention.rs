//! Retention of ended invites, on both stores: old ended invites go with their deliveries,
//! batch by batch; open invites and recently ended ones stay whatever their age; a pruned
//! invite is 404; registrations and their counts are untouched; the service counts what it
//! deleted.

use pushgate::domain::{
    CallProgressEvent, CallSid, CancelPush, DeliveryId, DeliveryStatus, Environment, Identity,
    InviteSid, InviteStatus, Platform,
};
use pushgate::store::{DeliveryRecord, InviteRecord, Pruned, Registration, TwilioCallRecord};

use crate::helpers::{Backend, TestApp, assert_error, device_token, spawn_app_with, store_tests};

store_tests!(
    old_ended_invites_go_with_their_deliveries_in_batches,
    the_service_prunes_more_than_one_batch_and_counts_it,
    twilio_call_rows_go_with_their_invites,
);

/// The retention cutoff the tests prune at (epoch ms).
const CUTOFF: i64 = 1_700_000_000_000;

/// A gateway whose own pruner and outbox sweeper stay out of the way of rows written here.
async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.invite_retention_hours = 0;
        c.queue_sweep_after_ms = 3_600_000;
    })
    .await
}

async fn registrations(app: &TestApp, identity: &str, seeds: &[u8]) -> Vec<Registration> {
    for seed in seeds {
        app.register_device(identity, &device_token(*seed)).await;
    }
    app.store
        .active_registrations(&app.account, &Identity::parse(identity).unwrap())
        .await
        .unwrap()
}

/// Writes an invite in `status`, last changed at `updated`, with one delivery per
/// registration in `regs`.
async fn seed(
    app: &TestApp,
    status: InviteStatus,
    updated: i64,
    regs: &[Registration],
) -> InviteRecord {
    let invite = InviteRecord {
        sid: InviteSid::generate(),
        account_sid: app.account.clone(),
        call_sid: CallSid::generate(),
        to_identity: Identity::parse("alice").unwrap(),
        caller: "client:bob".into(),
        params: None,
        status,
        status_callback: Some("https://hooks.example.com/calls".into()),
        api_key_sid: Some(app.key.clone()),
        answered_by: None,
        cancel_push: CancelPush::None,
        kind: pushgate::domain::InviteKind::Call,
        payload: None,
        // Not due by the real clock, so the running gateway's expiry sweeper leaves open
        // ones open (this test is about the pruner).
        expires_at: pushgate::clock::now_ms() + 3_600_000,
        // The store writes date_updated = date_created for a new invite.
        date_created: updated,
        date_updated: updated,
    };
    let deliveries: Vec<DeliveryRecord> = regs
        .iter()
        .map(|r| DeliveryRecord {
            id: DeliveryId::generate(),
            invite_sid: invite.sid.clone(),
            registration_sid: r.sid.clone(),
            credential_sid: r.credential_sid.clone(),
            platform: Platform::Apns,
            device_token: r.device_token.clone(),
            environment: Environment::Production,
            // Final, so nothing in the running gateway picks them up.
            status: DeliveryStatus::Accepted,
            attempts: 1,
            apns_status: Some(200),
            apns_reason: None,
            apns_id: None,
            accepted_at: Some(updated),
            date_updated: updated,
        })
        .collect();
    app.store.create_invite(&invite, &deliveries).await.unwrap();
    invite
}

async fn get_status(app: &TestApp, sid: &InviteSid) -> u16 {
    app.get_json(&format!("/v1/invites/{sid}")).await.0
}

async fn old_ended_invites_go_with_their_deliveries_in_batches(b: Backend) {
    let app = app(b).await;
    let regs = registrations(&app, "alice", &[1, 2]).await;
    assert_eq!(regs.len(), 2);
    let gauges_before = app.store.gauges().await.unwrap().registrations;
    let mut old = Vec::new();
    let mut kept = Vec::new();
    for status in InviteStatus::ALL.iter().copied() {
        if status.is_final() {
            // Ended long ago, and just before the cutoff: both go.
            old.push(seed(&app, status, CUTOFF - 86_400_000, &regs).await);
            old.push(seed(&app, status, CUTOFF - 1, &regs).await);
            // Ended at or after the cutoff: kept.
            kept.push(seed(&app, status, CUTOFF, &regs).await);
            kept.push(seed(&app, status, CUTOFF + 60_000, &regs).await);
        } else {
            // Open, however old: kept.
            kept.push(seed(&app, status, CUTOFF - 30 * 86_400_000, &regs).await);
        }
    }
    assert_eq!(old.len(), 10);
    assert_eq!(get_status(&app, &old[0].sid).await, 200);

    // Batches of 4: 4, 4, 2, then nothing left.
    let mut batches = Vec::new();
    loop {
        let pruned = app.store.prune_ended_invites(CUTOFF, 4).await.unwrap();
        batches.push(pruned);
        if pruned.invites < 4 {
            break;
        }
    }
    let pruned = |invites| Pruned {
        invites,
        deliveries: 2 * invites,
        twilio_calls: 0,
    };
    assert_eq!(batches, [pruned(4), pruned(4), pruned(2)]);
    assert_eq!(
        app.store.prune_ended_invites(CUTOFF, 4).await.unwrap(),
        Pruned::default()
    );

    for invite in &old {
        assert!(
            app.store
                .invite_by_sid(&invite.sid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(app.store.deliveries(&invite.sid).await.unwrap().is_empty());
        let res = app
            .client
            .get(app.url(&format!("/v1/invites/{}", invite.sid)))
            .header("Authorization", app.basic())
            .send()
            .await
            .unwrap();
        assert_error(res, 404, 20404).await;
    }
    for invite in &kept {
        let stored = app.store.invite_by_sid(&invite.sid).await.unwrap().unwrap();
        assert_eq!(stored.status, invite.status);
        assert_eq!(app.store.deliveries(&invite.sid).await.unwrap().len(), 2);
        assert_eq!(get_status(&app, &invite.sid).await, 200);
    }
    // Registrations and their counts are untouched.
    assert_eq!(app.registration_count().await, 2);
    assert_eq!(
        app.store.gauges().await.unwrap().registrations,
        gauges_before
    );
    app.stop().await.unwrap();
}

async fn the_service_prunes_more_than_one_batch_and_counts_it(b: Backend) {
    let app = app(b).await;
    let regs = registrations(&app, "alice", &[3]).await;
    // More than one batch (200 on SQLite, 1,000 on PostgreSQL), written concurrently (group
    // commits), more at once than `max_waiting_invites` lets wait.
    app.store.limit_waiting_invites(usize::MAX);
    let many = futures_util::future::join_all(
        (0..1_050).map(|i| seed(&app, InviteStatus::Expired, CUTOFF - 1 - i, &[])),
    )
    .await;
    let with_delivery = seed(&app, InviteStatus::Answered, CUTOFF - 5, &regs).await;
    let recent = seed(&app, InviteStatus::Canceled, CUTOFF + 1, &regs).await;
    let open = seed(&app, InviteStatus::Delivered, CUTOFF - 86_400_000, &regs).await;

    let state = pushgate::start_services(app.config.clone(), app.store.clone(), app.master.clone())
        .await
        .unwrap();
    let pruned = state.invites.prune_ended(CUTOFF).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            invites: 1_051,
            deliveries: 1,
            twilio_calls: 0,
        }
    );
    assert_eq!(state.metrics.invites_pruned.get(), 1_051);
    let text = state.metrics.render();
    assert!(
        text.contains("pushgate_invites_pruned_total 1051"),
        "{text}"
    );
    // Nothing left: a second run deletes nothing and counts nothing.
    assert_eq!(
        state.invites.prune_ended(CUTOFF).await.unwrap(),
        Pruned::default()
    );
    assert_eq!(state.metrics.invites_pruned.get(), 1_051);
    for gone in many.iter().take(3).chain([&with_delivery]) {
        assert!(app.store.invite_by_sid(&gone.sid).await.unwrap().is_none());
    }
    for kept in [&recent, &open] {
        assert!(app.store.invite_by_sid(&kept.sid).await.unwrap().is_some());
        assert_eq!(app.store.deliveries(&kept.sid).await.unwrap().len(), 1);
    }
    assert_eq!(app.registration_count().await, 1);
    state.engine.shutdown().await;
    app.stop().await.unwrap();
}

/// A call placed through Twilio's Calls API has a `twilio_calls` row: it goes with its invite,
/// and stays while the invite does.
async fn twilio_call_rows_go_with_their_invites(b: Backend) {
    let app = app(b).await;
    let regs = registrations(&app, "alice", &[4]).await;
    let old = seed(&app, InviteStatus::Canceled, CUTOFF - 1, &regs).await;
    let recent = seed(&app, InviteStatus::Expired, CUTOFF, &regs).await;
    let open = seed(&app, InviteStatus::Delivered, CUTOFF - 86_400_000, &regs).await;
    let plain = seed(&app, InviteStatus::Answered, CUTOFF - 2, &regs).await;
    for invite in [&old, &recent, &open] {
        let row = TwilioCallRecord {
            invite_sid: invite.sid.clone(),
            url: Some("https://backend.example.com/twiml".parse().unwrap()),
            twiml: Some("<Response/>".into()),
            application_sid: None,
            status_callback_event: vec![CallProgressEvent::Ringing, CallProgressEvent::Answered],
            date_created: invite.date_created,
        };
        app.store.save_twilio_call(&row).await.unwrap();
        assert_eq!(app.store.twilio_call(&invite.sid).await.unwrap(), Some(row));
    }
    assert_eq!(
        app.store.prune_ended_invites(CUTOFF, 100).await.unwrap(),
        Pruned {
            invites: 2,
            deliveries: 2,
            twilio_calls: 1,
        }
    );
    assert!(app.store.twilio_call(&old.sid).await.unwrap().is_none());
    assert!(app.store.invite_by_sid(&old.sid).await.unwrap().is_none());
    assert!(app.store.invite_by_sid(&plain.sid).await.unwrap().is_none());
    for kept in [&recent, &open] {
        assert!(app.store.invite_by_sid(&kept.sid).await.unwrap().is_some());
        assert!(app.store.twilio_call(&kept.sid).await.unwrap().is_some());
    }
    app.stop().await.unwrap();
}
