//! Multi-process fault tests: real `pushgate serve` processes, a private PostgreSQL cluster and
//! Redis server per test, killed, stopped and restarted while traffic runs (see `harness`).

pub mod harness;

mod apns_faults;
mod common;
mod harness_selftest;
mod postgres_restart;
mod redis_restart;
mod replica_killed;
