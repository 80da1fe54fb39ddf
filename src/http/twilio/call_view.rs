//! An invite rendered as Twilio's Call resource (API version 2010-04-01): its statuses, RFC
//! 2822 dates, `uri`, and `null` for what only a media leg would know (price, duration, …).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::InviteStatus;
use crate::store::InviteRecord;

/// A call's status in Twilio's words. pushgate never sees the media leg, so an answered call
/// stays `in-progress` and `completed` is never produced.
pub fn twilio_status(status: InviteStatus) -> &'static str {
    match status {
        InviteStatus::Queued | InviteStatus::Sending => "queued",
        InviteStatus::Delivered => "ringing",
        InviteStatus::Answered => "in-progress",
        InviteStatus::Rejected => "busy",
        InviteStatus::Expired => "no-answer",
        InviteStatus::Canceled => "canceled",
        InviteStatus::Failed => "failed",
    }
}

/// Epoch milliseconds as Twilio's 2010 API writes dates: `Tue, 31 Aug 2010 20:36:28 +0000`.
pub fn rfc2822(ms: i64) -> String {
    // Twilio pads the day to two digits (chrono's `to_rfc2822` does not).
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// Twilio's Call resource, as far as pushgate has its values (the rest `null`, as Twilio
/// writes them for a call that has not got that far).
#[derive(Debug, Serialize, ToSchema)]
pub struct CallResource {
    /// The call SID (`CA…`), also the push's `twi_call_sid`.
    pub sid: String,
    pub account_sid: String,
    /// RFC 2822, e.g. `Tue, 31 Aug 2010 20:36:28 +0000`.
    pub date_created: String,
    pub date_updated: String,
    /// `client:<identity>`.
    pub to: String,
    pub to_formatted: String,
    pub from: String,
    pub from_formatted: String,
    /// `queued`, `ringing`, `in-progress` (answered), `busy` (rejected), `no-answer`
    /// (expired), `canceled` or `failed`; never `completed`.
    #[schema(pattern = "^(queued|ringing|in-progress|busy|no-answer|canceled|failed)$")]
    pub status: &'static str,
    /// When the phones started ringing (the call left `queued`).
    pub start_time: Option<String>,
    /// When the call ended (answered, rejected, canceled, expired or failed).
    pub end_time: Option<String>,
    /// Always `outbound-api`.
    pub direction: &'static str,
    /// Always `2010-04-01`.
    pub api_version: &'static str,
    /// `/2010-04-01/Accounts/AC…/Calls/CA….json`.
    pub uri: String,
    /// Empty: pushgate serves none of the call's subresources.
    pub subresource_uris: BTreeMap<String, String>,
    pub parent_call_sid: Option<String>,
    pub phone_number_sid: Option<String>,
    pub duration: Option<String>,
    pub price: Option<String>,
    pub price_unit: Option<String>,
    pub answered_by: Option<String>,
    pub annotation: Option<String>,
    pub forwarded_from: Option<String>,
    pub group_sid: Option<String>,
    pub caller_name: Option<String>,
    pub queue_time: Option<String>,
    pub trunk_sid: Option<String>,
    pub stir_verstat: Option<String>,
}

/// The Call resource of `invite`.
pub fn call_resource(invite: &InviteRecord) -> CallResource {
    let to = format!("client:{}", invite.to_identity);
    let started = !matches!(invite.status, InviteStatus::Queued | InviteStatus::Sending);
    CallResource {
        sid: invite.call_sid.to_string(),
        account_sid: invite.account_sid.to_string(),
        date_created: rfc2822(invite.date_created),
        date_updated: rfc2822(invite.date_updated),
        to_formatted: to.clone(),
        to,
        from: invite.caller.clone(),
        from_formatted: invite.caller.clone(),
        status: twilio_status(invite.status),
        start_time: started.then(|| rfc2822(invite.date_created)),
        end_time: invite
            .status
            .is_final()
            .then(|| rfc2822(invite.date_updated)),
        direction: "outbound-api",
        api_version: "2010-04-01",
        uri: format!(
            "/2010-04-01/Accounts/{}/Calls/{}.json",
            invite.account_sid, invite.call_sid
        ),
        subresource_uris: BTreeMap::new(),
        parent_call_sid: None,
        phone_number_sid: None,
        duration: None,
        price: None,
        price_unit: None,
        answered_by: None,
        annotation: None,
        forwarded_from: None,
        group_sid: None,
        caller_name: None,
        queue_time: None,
        trunk_sid: None,
        stir_verstat: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invite_status_has_a_twilio_call_status() {
        use InviteStatus::*;
        let expected = [
            (Queued, "queued"),
            (Sending, "queued"),
            (Delivered, "ringing"),
            (Answered, "in-progress"),
            (Rejected, "busy"),
            (Canceled, "canceled"),
            (Expired, "no-answer"),
            (Failed, "failed"),
        ];
        assert_eq!(expected.len(), InviteStatus::ALL.len());
        for (status, twilio) in expected {
            assert_eq!(twilio_status(status), twilio, "{status}");
        }
        assert!(
            InviteStatus::ALL
                .iter()
                .all(|s| twilio_status(*s) != "completed")
        );
    }

    #[test]
    fn dates_are_rfc_2822_as_twilio_writes_them() {
        // Twilio's own example: Tue, 31 Aug 2010 20:36:28 +0000.
        assert_eq!(
            rfc2822(1_283_286_988_000),
            "Tue, 31 Aug 2010 20:36:28 +0000"
        );
        assert_eq!(
            rfc2822(1_283_286_988_999),
            "Tue, 31 Aug 2010 20:36:28 +0000"
        );
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
