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

/// The cancel payload: the call's ids and an empty `aps`.
pub fn cancel_payload(invite: &InviteInfo, message_id: &Uuid) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "aps": {},
        "twi_message_type": CANCEL,
        "twi_call_sid": invite.call_sid,
        "twi_account_sid": invite.account_sid,
        "twi_from": invite.caller,
        "twi_to": format!("client:{}", invite.to_identity),
        "twi_message_id": message_id.to_string(),
    }))
    .unwrap_or_default()
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
    let message = FcmMessage::new(d.device_token.as_str())
        .priority(Priority::High)
        .ttl(std::time::Duration::from_secs(60))
        .collapse_key(info.call_sid.to_string())
        .data("twi_message_type", CANCEL)
        .data("twi_call_sid", info.call_sid.to_string())
        .data("twi_account_sid", info.account_sid.to_string())
        .data("twi_from", info.caller.clone())
        .data("twi_to", format!("client:{}", info.to_identity))
        .data("twi_message_id", id.to_string());
    let outcome = engine
        .fcm()
        .client()
        .send(entry.project_id(), entry.tokens.as_ref(), &message)
        .await;
    outcome.label()
}
