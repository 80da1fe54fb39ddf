//! pushgate's integration tests: one binary, real HTTP against servers started in-process
//! on port 0, every store test run on SQLite and on PostgreSQL.

mod helpers;

mod android;
mod apns;
mod bench;
mod calls;
mod cli;
mod console;
mod credentials;
mod hardening;
mod invites;
mod keys;
mod metrics;
mod registrations;
mod replicas;
mod restart;
mod retention;
mod scale;
mod service;
mod store;
mod tokens;
mod twilio_rest;
mod twilio_webhook;
