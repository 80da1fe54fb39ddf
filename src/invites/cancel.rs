//! Legacy cancel pushes (`twilio.voice.cancel`) for apps built on the older pattern. Apple's
//! rule for iOS 13+ is that every VoIP push must report a call to CallKit, so a cancel sent as
//! a VoIP push can get an app killed; new apps learn of the end over their own connection (the
//! invite's event stream). Off unless the invite asks for `cancel_push: "voip"`.

use std::sync::Arc;

use uuid::Uuid;

use crate::apns::Notification;
use crate::delivery::{Engine, InviteInfo};
use crate::domain::{DeliveryStatus, Platform};
use crate::fcm::{FcmMessage, Priority};
use crate::store::{DeliveryRecord, InviteRecord, Store};

/// `twi_message_type` of a cancel.
pub const CANCEL: &str = "twilio.voice.cancel";

/// The cancel's `twi_*` fields: the call's ids (every value a string).
fn cancel_fields(invite: &InviteInfo, message_id: &Uuid) -> Vec<(&'static str, String)> {
    vec![
        ("twi_message_type", CANCEL.to_owned()),
        ("twi_call_sid", invite.call_sid.to_string()),
        ("twi_account_sid", invite.account_sid.to_string()),
        ("twi_from", invite.caller.clone()),
        ("twi_to", format!("client:{}", invite.to_identity)),
        ("twi_message_id", message_id.to_string()),
    ]
}

/// The cancel payload: the call's ids and an empty `aps`.
pub fn cancel_payload(invite: &InviteInfo, message_id: &Uuid) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert("aps".into(), serde_json::json!({}));
    for (k, v) in cancel_fields(invite, message_id) {
        body.insert(k.into(), serde_json::Value::String(v));
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Sends a cancel push to every device that accepted the invite's push, except the one that
/// answered: a VoIP push to an iPhone, a data message to an Android phone. Runs in the background (tracked: shutdown waits for it); outcomes are logged.
pub fn send_cancel_pushes(store: Store, engine: Arc<Engine>, invite: InviteRecord) {
    let tasks = engine.tasks().clone();
    tasks.spawn(async move {
        let deliveries = match store.deliveries(&invite.sid).await {
            Ok(d) => d,
            Err(e) => return tracing::warn!(error = %e, "cancel pushes: reading deliveries failed"),
        };
        let info = InviteInfo::from(&invite);
        for d in deliveries {
            if d.status != DeliveryStatus::Accepted
                || invite.answered_by.as_ref() == Some(&d.registration_sid)
            {
                continue;
            }
            let id = Uuid::new_v4();
            if d.platform == Platform::Fcm {
                let outcome = fcm_cancel(&engine, &info, &d, &id).await;
                tracing::info!(invite = %invite.sid, registration = %d.registration_sid,
                    outcome, "legacy cancel push sent (FCM)");
                continue;
            }
            let Ok(entry) = engine
                .clients()
                .get(&info.account_sid, &d.credential_sid)
                .await
            else {
                continue;
            };
            let notification = Notification {
                apns_id: Some(id),
                expiration: Some(0),
                collapse_id: Some(info.call_sid.to_string()),
                ..Notification::voip(
                    d.device_token.as_hex().to_owned(),
                    d.environment,
                    entry.record.voip_topic.clone(),
                    cancel_payload(&info, &id),
                )
            };
            let outcome = entry.client.send(notification).await;
            tracing::info!(invite = %invite.sid, registration = %d.registration_sid,
                outcome = outcome.label(), "legacy cancel push sent");
        }
    });
}

/// Sends the cancel to an Android phone as a high-priority FCM data message (what Twilio's
/// Android SDK reads with `Voice.handleMessage`); returns the outcome's label.
async fn fcm_cancel(
    engine: &Engine,
    info: &InviteInfo,
    d: &DeliveryRecord,
    id: &Uuid,
) -> &'static str {
    let Ok(entry) = engine.fcm().get(&info.account_sid, &d.credential_sid).await else {
        return "credential_unavailable";
    };
    let mut message = FcmMessage::new(d.device_token.as_str())
        .priority(Priority::High)
        .ttl(std::time::Duration::from_secs(60))
        .collapse_key(info.call_sid.to_string());
    for (k, v) in cancel_fields(info, id) {
        message = message.data(k, v);
    }
    let outcome = engine
        .fcm()
        .client()
        .send(entry.project_id(), entry.tokens.as_ref(), &message)
        .await;
    outcome.label()
}
