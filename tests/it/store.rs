//! The store's hot paths (the invite group commit, recorded delivery outcomes, the active
//! registrations read) give the same results on both backends: SQLite runs them on its
//! rusqlite writer thread, PostgreSQL through sqlx.

use pushgate::domain::{
    CallSid, CancelPush, DeliveryId, DeliveryStatus, Environment, Identity, InviteSid,
    InviteStatus, Platform,
};
use pushgate::store::{
    CreateInvite, DeliveryRecord, DeliveryUpdate, InviteRecord, Registration, RegistrationEffect,
};

use crate::helpers::{Backend, TestApp, device_token, spawn_app, store_tests};

mod admission;
mod batches;
mod close;
mod ends;
mod idle;

store_tests!(
    a_repeated_call_sid_returns_the_existing_invite,
    recorded_outcomes_report_status_and_retirements,
    status_columns_refuse_values_outside_their_sets
);

pub(crate) const NOW: i64 = 1_700_000_000_000;

/// The identity's active registrations after registering `devices` to it.
pub(crate) async fn registered(
    app: &TestApp,
    identity: &str,
    devices: &[String],
) -> Vec<Registration> {
    for device in devices {
        let res = app.register(&app.token(identity), device).await;
        assert!(res.status().is_success(), "{}", res.status());
    }
    let identity = Identity::parse(identity).unwrap();
    app.store
        .active_registrations(&app.account, &identity)
        .await
        .unwrap()
}

pub(crate) fn invite(app: &TestApp, call: &CallSid, to: &str) -> InviteRecord {
    InviteRecord {
        sid: InviteSid::generate(),
        account_sid: app.account.clone(),
        call_sid: call.clone(),
        to_identity: Identity::parse(to).unwrap(),
        caller: "client:bob".into(),
        params: Some("a=1".into()),
        status: InviteStatus::Queued,
        status_callback: None,
        api_key_sid: Some(app.key.clone()),
        answered_by: None,
        cancel_push: CancelPush::Voip,
        kind: pushgate::domain::InviteKind::Call,
        payload: None,
        // Open for the running gateway's expiry sweeper, which goes by the real clock.
        expires_at: pushgate::clock::now_ms() + 3_600_000,
        date_created: NOW,
        date_updated: NOW,
    }
}

pub(crate) fn delivery(invite: &InviteRecord, to: &Registration) -> DeliveryRecord {
    DeliveryRecord {
        id: DeliveryId::generate(),
        invite_sid: invite.sid.clone(),
        registration_sid: to.sid.clone(),
        credential_sid: to.credential_sid.clone(),
        platform: Platform::Apns,
        device_token: to.device_token.clone(),
        environment: Environment::Sandbox,
        status: DeliveryStatus::Queued,
        attempts: 0,
        apns_status: None,
        apns_reason: None,
        apns_id: None,
        accepted_at: None,
        date_updated: NOW,
    }
}

async fn a_repeated_call_sid_returns_the_existing_invite(backend: Backend) {
    let app = spawn_app(backend).await;
    let regs = registered(&app, "alice", &[device_token(1)]).await;
    assert_eq!(regs.len(), 1);
    let call = CallSid::generate();
    let first = invite(&app, &call, "alice");
    let deliveries = [delivery(&first, &regs[0])];
    let created = app.store.create_invite(&first, &deliveries).await.unwrap();
    assert!(matches!(created, CreateInvite::Created), "{created:?}");

    // Again, and twice at once (one group commit): each time the first invite comes back.
    let again = invite(&app, &call, "alice");
    let again_deliveries = [delivery(&again, &regs[0])];
    let (a, b) = tokio::join!(
        app.store.create_invite(&again, &again_deliveries),
        app.store.create_invite(&again, &[]),
    );
    for result in [a.unwrap(), b.unwrap()] {
        let CreateInvite::Existing(existing) = result else {
            panic!("{result:?}")
        };
        assert_eq!(existing.sid, first.sid);
        assert_eq!(existing.status, InviteStatus::Queued);
        assert_eq!(existing.cancel_push, CancelPush::Voip);
        assert_eq!(existing.params.as_deref(), Some("a=1"));
        assert_eq!(existing.api_key_sid.as_ref(), Some(&app.key));
    }
    // Only the first invite's delivery was written.
    let stored = app.store.deliveries(&first.sid).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, deliveries[0].id);
    assert!(app.store.deliveries(&again.sid).await.unwrap().is_empty());
    app.stop().await.unwrap();
}

fn update(
    d: &DeliveryRecord,
    status: DeliveryStatus,
    effect: RegistrationEffect,
) -> DeliveryUpdate {
    DeliveryUpdate {
        id: d.id,
        invite_sid: d.invite_sid.clone(),
        registration_sid: d.registration_sid.clone(),
        status,
        attempts: 1,
        environment: d.environment,
        apns_status: Some(if status == DeliveryStatus::Accepted {
            200
        } else {
            410
        }),
        apns_reason: None,
        apns_id: Some(d.id.to_string()),
        accepted_at: (status == DeliveryStatus::Accepted).then_some(NOW + 5),
        effect: Some(effect),
        invite_created: NOW,
    }
}

async fn recorded_outcomes_report_status_and_retirements(backend: Backend) {
    let app = spawn_app(backend).await;
    let regs = registered(&app, "carol", &[device_token(2), device_token(3)]).await;
    assert_eq!(regs.len(), 2);
    let record = invite(&app, &CallSid::generate(), "carol");
    let deliveries: Vec<_> = regs.iter().map(|r| delivery(&record, r)).collect();
    let created = app.store.create_invite(&record, &deliveries).await.unwrap();
    assert!(matches!(created, CreateInvite::Created));

    let mut updates = vec![
        update(
            &deliveries[0],
            DeliveryStatus::Accepted,
            RegistrationEffect::Touch,
        ),
        update(
            &deliveries[1],
            DeliveryStatus::Failed,
            RegistrationEffect::Retire { since_ms: None },
        ),
    ];
    updates.sort_by_key(|u| u.id);
    let result = app
        .store
        .record_deliveries(&updates, &[], NOW + 10)
        .await
        .unwrap();
    assert_eq!(result.invites.len(), 1);
    assert_eq!(result.invites[0].sid, record.sid);
    assert_eq!(result.invites[0].status, InviteStatus::Delivered);
    assert_eq!(result.retired, vec![regs[1].sid.clone()]);
    assert!(result.kept.is_empty());

    let carol = Identity::parse("carol").unwrap();
    let active = app
        .store
        .active_registrations(&app.account, &carol)
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].sid, regs[0].sid);
    // Touched (unless registering already counted as a use within the hour).
    assert!(active[0].last_used.is_some());

    // A repeated batch changes nothing: final outcomes stay, the invite is no longer pending.
    let result = app
        .store
        .record_deliveries(&updates, &[], NOW + 20)
        .await
        .unwrap();
    assert!(result.invites.is_empty(), "{:?}", result.invites);
    assert!(result.retired.is_empty());
    let stored = app.store.deliveries(&record.sid).await.unwrap();
    let accepted = stored.iter().find(|d| d.id == deliveries[0].id).unwrap();
    assert_eq!(accepted.status, DeliveryStatus::Accepted);
    assert_eq!(accepted.accepted_at, Some(NOW + 5));
    assert_eq!(accepted.date_updated, NOW + 10);
    // A push within the hour leaves last_used alone; one an hour later moves it.
    let last_used = |app: &crate::helpers::TestApp| {
        let (store, account, carol) = (app.store.clone(), app.account.clone(), carol.clone());
        async move { store.active_registrations(&account, &carol).await.unwrap()[0].last_used }
    };
    let touch: Vec<_> = updates
        .iter()
        .filter(|u| matches!(u.effect, Some(RegistrationEffect::Touch)))
        .cloned()
        .collect();
    let before = last_used(&app).await;
    let soon = before.unwrap() + 60_000;
    app.store
        .record_deliveries(&touch, &[], soon)
        .await
        .unwrap();
    assert_eq!(
        last_used(&app).await,
        before,
        "a use within the hour is not written"
    );
    let later = before.unwrap() + 3_600_001;
    app.store
        .record_deliveries(&touch, &[], later)
        .await
        .unwrap();
    assert_eq!(last_used(&app).await, Some(later));
    app.stop().await.unwrap();
}

/// Migration 0010: every status column takes only its domain type's values (CHECK constraints
/// on PostgreSQL, triggers on SQLite), on insert and on update; the values the code writes pass.
async fn status_columns_refuse_values_outside_their_sets(backend: Backend) {
    use sqlx::Connection as _;
    let app = spawn_app(backend).await;
    let regs = registered(&app, "alice", &[device_token(41)]).await;
    let call = CallSid::generate();
    let sent = invite(&app, &call, "alice");
    let d = delivery(&sent, &regs[0]);
    assert!(matches!(
        app.store.create_invite(&sent, &[d]).await.unwrap(),
        CreateInvite::Created
    ));
    let url = app.config.database_url.clone().unwrap();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    for (sql, ok) in [
        (
            "UPDATE invites SET status = 'answered' WHERE sid = $1",
            true,
        ),
        (
            "UPDATE invites SET status = 'ringing' WHERE sid = $1",
            false,
        ),
        (
            "UPDATE invites SET cancel_push = 'sms' WHERE sid = $1",
            false,
        ),
        (
            "UPDATE invites SET callback_reported = 'gone' WHERE sid = $1",
            false,
        ),
        (
            "UPDATE deliveries SET status = 'accepted' WHERE invite_sid = $1",
            true,
        ),
        (
            "UPDATE deliveries SET status = 'delivered' WHERE invite_sid = $1",
            false,
        ),
        (
            "UPDATE deliveries SET environment = 'development' WHERE invite_sid = $1",
            false,
        ),
        (
            "UPDATE deliveries SET platform = 'fcm' WHERE invite_sid = $1",
            true,
        ),
        (
            "UPDATE deliveries SET platform = 'gcm' WHERE invite_sid = $1",
            false,
        ),
    ] {
        let done = sqlx::query(sql)
            .bind(sent.sid.as_str())
            .execute(&mut db)
            .await;
        assert_eq!(done.is_ok(), ok, "{sql}: {done:?}");
    }
    for (sql, ok) in [
        (
            "UPDATE registrations SET state = 'invalid' WHERE sid = $1",
            true,
        ),
        (
            "UPDATE registrations SET state = 'retired' WHERE sid = $1",
            false,
        ),
        (
            "UPDATE registrations SET environment = 'sandbox' WHERE sid = $1",
            true,
        ),
        (
            "UPDATE registrations SET environment = 'Production' WHERE sid = $1",
            false,
        ),
        (
            "UPDATE registrations SET binding_type = 'gcm' WHERE sid = $1",
            false,
        ),
        (
            "UPDATE registrations SET binding_type = 'fcm' WHERE sid = $1",
            true,
        ),
    ] {
        let done = sqlx::query(sql)
            .bind(regs[0].sid.as_str())
            .execute(&mut db)
            .await;
        assert_eq!(done.is_ok(), ok, "{sql}: {done:?}");
    }
    let bad_type = sqlx::query("UPDATE credentials SET type = 'gcm' WHERE account_sid = $1")
        .bind(app.account.as_str())
        .execute(&mut db)
        .await;
    assert!(bad_type.is_err(), "{bad_type:?}");
}
