//! What a delivery's outcome means and what to do about it: the hints `pushgate push` prints
//! (`cli/apns.rs`, `cli/fcm_push.rs` use these texts), chosen here from a stored delivery's
//! platform, status and provider reason.

use crate::domain::{DeliveryStatus, Platform};

pub const APNS_ACCEPTED: &str = "APNs accepted it";
pub const FCM_ACCEPTED: &str = "FCM accepted it";
pub const TRANSIENT: &str = "transient: try again";
pub const APNS_TOKEN_DEAD: &str = "the token is no longer valid (app uninstalled or token rotated)";
pub const APNS_WRONG_ENVIRONMENT: &str = "the token is invalid or belongs to the other environment";
pub const APNS_NOT_FOR_TOPIC: &str =
    "the token belongs to another app: check the credential's bundle id";
pub const APNS_CREDENTIAL_REJECTED: &str = "APNs refused the credential: check it is this \
    app's VoIP Services certificate (or .p8 key) for this environment and not expired";
pub const APNS_OUR_BUG: &str = "APNs called the request malformed: please report it";
pub const FCM_TOKEN_DEAD: &str = "the registration token is no longer valid: the app was \
    uninstalled or its token rotated; the app must register its new token";
pub const FCM_SENDER_MISMATCH: &str = "the token belongs to another Firebase project: upload \
    that project's service account, or check the app's google-services.json";
pub const FCM_CREDENTIAL_REJECTED: &str = "the service account was refused: check it is a \
    current key of this Firebase project with the Firebase Cloud Messaging API enabled";
pub const FCM_OUR_BUG: &str = "FCM called the request malformed: please report it";
/// The console's addition for an environment mismatch (the CLI names its flag instead).
const SANDBOX_ADVICE: &str =
    ": check the credential's Sandbox setting (debug builds use the sandbox)";

/// APNs reasons that mean the credential (not the device) was refused.
/// (as `apns::outcome` classifies them).
const APNS_CREDENTIAL_REASONS: &[&str] = &[
    "TopicDisallowed",
    "BadTopic",
    "MissingTopic",
    "BadCertificate",
    "BadCertificateEnvironment",
    "Forbidden",
    "InvalidProviderToken",
    "MissingProviderToken",
    "UnrelatedKeyIdInToken",
    "BadEnvironmentKeyIdInToken",
    "credential_rejected",
];

/// The hint for a delivery in `status` whose provider said `reason`.
pub fn for_delivery(platform: Platform, status: DeliveryStatus, reason: Option<&str>) -> String {
    let reason = reason.unwrap_or("");
    if let Some(refusal) = reason.strip_prefix("refused: ") {
        return format!("not sent: {refusal}");
    }
    match (platform, status) {
        (_, DeliveryStatus::Queued) => "waiting to be sent".into(),
        (_, DeliveryStatus::Retrying) => TRANSIENT.into(),
        (_, DeliveryStatus::Expired) => {
            "the call ended before the provider accepted the push".into()
        }
        (Platform::Apns, DeliveryStatus::Accepted) => APNS_ACCEPTED.into(),
        (Platform::Fcm, DeliveryStatus::Accepted) => FCM_ACCEPTED.into(),
        (Platform::Apns, DeliveryStatus::Failed) => match reason {
            "Unregistered" | "ExpiredToken" | "token_dead" => APNS_TOKEN_DEAD.into(),
            "BadDeviceToken" | "wrong_environment" => {
                format!("{APNS_WRONG_ENVIRONMENT}{SANDBOX_ADVICE}")
            }
            "DeviceTokenNotForTopic" | "not_for_topic" => APNS_NOT_FOR_TOPIC.into(),
            r if APNS_CREDENTIAL_REASONS.contains(&r) => APNS_CREDENTIAL_REJECTED.into(),
            _ => APNS_OUR_BUG.into(),
        },
        (Platform::Fcm, DeliveryStatus::Failed) => match reason {
            "UNREGISTERED" | "INVALID_ARGUMENT" | "token_dead" => FCM_TOKEN_DEAD.into(),
            "SENDER_ID_MISMATCH" | "sender_mismatch" => FCM_SENDER_MISMATCH.into(),
            r if r.contains("service account") || r == "credential_rejected" => {
                FCM_CREDENTIAL_REJECTED.into()
            }
            _ => FCM_OUR_BUG.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_reasons_get_the_cli_hints() {
        let h = |p, s, r| for_delivery(p, s, r);
        assert_eq!(
            h(
                Platform::Apns,
                DeliveryStatus::Failed,
                Some("DeviceTokenNotForTopic")
            ),
            APNS_NOT_FOR_TOPIC
        );
        assert!(
            h(
                Platform::Apns,
                DeliveryStatus::Failed,
                Some("BadDeviceToken")
            )
            .starts_with(APNS_WRONG_ENVIRONMENT)
        );
        assert_eq!(
            h(Platform::Fcm, DeliveryStatus::Failed, Some("UNREGISTERED")),
            FCM_TOKEN_DEAD
        );
        assert_eq!(
            h(
                Platform::Apns,
                DeliveryStatus::Failed,
                Some("refused: no_credential")
            ),
            "not sent: no_credential"
        );
    }
}
