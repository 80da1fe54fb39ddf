//! Push credentials over HTTP: every upload form, a specific 400 for every bad upload,
//! rotation, deletion with registrations, the registration check, health, and no secret
//! ever in a response or in the database.

mod bad_uploads;
mod fcm;
mod lifecycle;
mod secrets;
mod support;
mod uploads;
