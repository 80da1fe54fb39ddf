//! What a fresh gateway exports before any traffic: a zero series for every label value of the
//! closed label sets (so `absent()`-style alerts and dashboards see a healthy zero, not "no
//! data"), and `# HELP`/`# TYPE` lines for the families whose labels name things that don't
//! exist yet (routes hit, credentials, APNs statuses), so every family is listed from the first
//! scrape.

use prometheus::core::Collector;

use super::Families;
use crate::apns::RetryCause;
use crate::domain::Platform;

/// Registration environments as the store counts them (`default`: not chosen by the device).
const ENVIRONMENTS: &[&str] = &["production", "sandbox", "default"];
const REGISTRATION_STATES: &[&str] = &["active", "invalid"];
const INVITE_FINAL: &[&str] = &["answered", "rejected", "canceled", "expired", "failed"];
const REGISTRATION_CHANGES: &[&str] = &[
    "registered",
    "refreshed",
    "moved",
    "unregistered",
    "retired_identity_limit",
    "retired_apns",
    "retired_unused",
    "kept_refreshed_after_410",
    "invalidated",
    "deleted_with_credential",
];
/// Twilio's access-token error codes (`auth::access_token::TokenError::code`).
const TOKEN_CODES: &[&str] = &[
    "20101", "20102", "20103", "20104", "20105", "20106", "20107", "20157",
];
const QUEUE_EVENTS: &[&str] = &[
    "claimed",
    "dead_lettered",
    "swept",
    "enqueue_failed",
    "enqueue_deferred",
];
const CALLBACK_RESULTS: &[&str] = &["sent", "failed", "retried", "refused"];
const KEY_LOOKUPS: &[&str] = &["found", "absent"];
const AUTH_FAILURES: &[&str] = &["refused", "limited"];
/// Results of Twilio call notifications (`http::twilio::webhook`).
pub(crate) const TWILIO_NOTIFICATIONS: &[&str] = &[
    "relayed",
    "duplicate",
    "no_registrations",
    "not_linked",
    "unauthenticated",
    "signature_invalid",
    "invalid",
    "call_taken",
    "error",
];
/// FCM retry causes (`fcm::RetryCause` labels).
const FCM_RETRY_CAUSES: &[&str] = &[
    "quota_exceeded",
    "internal",
    "unavailable",
    "server_error",
    "timeout",
    "connect",
    "connection_lost",
    "token_unavailable",
];
/// Results of an FCM access-token exchange.
pub(crate) const FCM_TOKEN_RESULTS: &[&str] = &["issued", "refused", "failed"];
/// Credential health states (`credentials::manage::Health`).
pub(super) const HEALTH: &[&str] = &["ok", "expiring", "expired", "rejected"];

impl Families {
    /// Creates the zero series of every closed label set.
    pub(super) fn prime(&self) {
        self.zero_registrations();
        for status in INVITE_FINAL {
            self.invites_finished.with_label_values(&[status]);
        }
        for cause in RetryCause::ALL {
            self.apns_retries.with_label_values(&[cause.label()]);
        }
        for cause in FCM_RETRY_CAUSES {
            self.fcm_retries.with_label_values(&[cause]);
        }
        for result in FCM_TOKEN_RESULTS {
            self.fcm_token_exchanges.with_label_values(&[result]);
        }
        for change in REGISTRATION_CHANGES {
            self.registration_changes.with_label_values(&[change]);
        }
        for code in TOKEN_CODES {
            self.token_rejections.with_label_values(&[code]);
        }
        for event in QUEUE_EVENTS {
            self.queue_events.with_label_values(&[event]);
        }
        for result in CALLBACK_RESULTS {
            self.callbacks.with_label_values(&[result]);
        }
        for result in KEY_LOOKUPS {
            self.api_key_lookups.with_label_values(&[result]);
        }
        for outcome in AUTH_FAILURES {
            self.auth_failures.with_label_values(&[outcome]);
        }
        for result in TWILIO_NOTIFICATIONS {
            self.twilio_notifications.with_label_values(&[result]);
        }
        self.zero_credential_counts();
    }

    /// Sets the count of credentials in every health state to zero.
    pub(crate) fn zero_credential_counts(&self) {
        for state in HEALTH {
            self.credentials.with_label_values(&[state]).set(0);
        }
    }

    /// Sets every known registration series to zero (before a refresh writes the counts).
    pub(crate) fn zero_registrations(&self) {
        self.registrations.reset();
        for platform in Platform::ALL {
            for env in ENVIRONMENTS {
                for state in REGISTRATION_STATES {
                    let labels = [platform.label(), env, state];
                    self.registrations.with_label_values(&labels).set(0);
                }
            }
        }
    }

    /// `# HELP` and `# TYPE` lines for families that have no series yet, appended to `text`.
    pub(super) fn describe_empty(&self, text: &mut String) {
        let families: [(&dyn Collector, &str); 6] = [
            (&self.http_requests, "counter"),
            (&self.http_duration, "histogram"),
            (&self.apns_requests, "counter"),
            (&self.apns_duration, "histogram"),
            (&self.apns_connections, "gauge"),
            (&self.credential_health, "gauge"),
        ];
        let more: [(&dyn Collector, &str); 3] = [
            (&self.credential_not_after, "gauge"),
            (&self.fcm_requests, "counter"),
            (&self.fcm_duration, "histogram"),
        ];
        for (collector, kind) in families.into_iter().chain(more) {
            for desc in collector.desc() {
                let name = &desc.fq_name;
                if !text.contains(&format!("# TYPE {name} ")) {
                    let help = desc.help.replace('\\', "\\\\").replace('\n', "\\n");
                    text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
                }
            }
        }
    }
}
