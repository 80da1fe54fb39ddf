//! Android phones through FCM HTTP v1, end to end against the FCM simulator over real TLS:
//! mixed-platform calls ring every phone, the call's life is the same on both platforms,
//! each FCM answer does what the outcome table says, and access tokens are cached, refreshed
//! once and shared by replicas.

mod lifecycle;
mod outcomes;
mod ring;
mod tokens;
mod twilio_token;
