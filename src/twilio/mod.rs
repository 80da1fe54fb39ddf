//! Twilio interop that is not HTTP shape: the Client Call Notification webhook's body
//! ([`notification`]), Twilio's request signature ([`signature`]), links from Twilio accounts
//! to pushgate accounts ([`links`]), the webhook service tying them to the invites service
//! ([`webhook`]), and calls placed through Twilio's Calls API shape ([`calls`]). The HTTP
//! shapes live in `http/twilio/`.

pub mod calls;
pub mod links;
pub mod notification;
pub mod signature;
pub mod webhook;

pub use links::{LinkError, NewLink, TwilioLink, TwilioLinks};
pub use notification::{InvalidNotification, Notification};
pub use signature::SignatureError;
pub use webhook::{Webhook, WebhookError, WebhookRequest};
