//! `pushgate push` with an FCM credential: one data message to one Android registration
//! token, its classified outcome and a hint.

use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::credentials::material::service_account_json;
use crate::domain::DeviceToken;
use crate::fcm::{
    FcmClient, FcmMessage, FcmOutcome, InMemoryAccessTokenSource, Priority, ServiceAccount,
    SystemClock,
};
use crate::secrets::MasterKey;
use crate::store::CredentialRecord;

/// Sends one test data message with `credential` to `token`; fails unless FCM accepted it.
pub(super) async fn push(
    master: &MasterKey,
    config: &Config,
    credential: &CredentialRecord,
    token: &str,
) -> anyhow::Result<()> {
    let token = DeviceToken::parse_fcm(token)?;
    let json = service_account_json(master, credential)?
        .with_context(|| format!("{} is not an FCM credential", credential.sid))?;
    let account = ServiceAccount::from_json(json.expose_secret())?;
    let client = FcmClient::new(config.fcm()?)?;
    let tokens = InMemoryAccessTokenSource::new(
        std::sync::Arc::new(client.token_exchange(&account)?),
        std::sync::Arc::new(SystemClock),
    );
    let message = FcmMessage::new(token.as_str())
        .priority(Priority::High)
        .ttl(Duration::from_secs(30))
        .data("twi_message_type", "twilio.voice.call")
        .data("pushgate_test", "true");
    println!(
        "pushing to {token} via {} (project {})",
        config.fcm_url, account.project_id
    );
    let outcome = client.send(&account.project_id, &tokens, &message).await;
    print_outcome(&outcome);
    if outcome.is_accepted() {
        Ok(())
    } else {
        bail!("the push was not accepted")
    }
}

fn print_outcome(outcome: &FcmOutcome) {
    use crate::console::hints;
    let status = outcome
        .response()
        .map(|r| {
            let code = r.error_code.as_ref().map_or("", |c| c.as_str());
            format!(" ({} {code})", r.status)
        })
        .unwrap_or_default();
    println!("outcome: {}{status}", outcome.label());
    let hint = match outcome {
        FcmOutcome::Accepted { name, latency } => format!(
            "{}: {name} in {:.1} ms",
            hints::FCM_ACCEPTED,
            latency.as_secs_f64() * 1e3
        ),
        FcmOutcome::Retry { cause, after, .. } => format!(
            "transient ({}): try again{}",
            cause.label(),
            after
                .map(|d| format!(" in {:.1} s", d.as_secs_f64()))
                .unwrap_or_default()
        ),
        FcmOutcome::TokenDead { reason, .. } => format!(
            "the registration token is no longer valid ({}): the app was uninstalled or its \
             token rotated; the app must register its new token",
            reason.label()
        ),
        FcmOutcome::SenderMismatch { .. } => hints::FCM_SENDER_MISMATCH.into(),
        FcmOutcome::CredentialRejected { reason, .. } => format!(
            "the service account was refused ({}): check it is a current key of this Firebase \
             project with the Firebase Cloud Messaging API enabled",
            reason.label()
        ),
        FcmOutcome::OurBug { .. } => hints::FCM_OUR_BUG.into(),
        FcmOutcome::Refused { refusal } => format!("not sent: {}", refusal.label()),
    };
    println!("{hint}");
}
