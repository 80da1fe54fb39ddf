//! `pushgate bench`: a load generator shipped with the binary, so anyone can reproduce
//! pushgate's numbers on their own machine.
//!
//! One run: start the APNs simulator in-process (with a
//! [`PushTap`](crate::mock_apns::PushTap) reporting each push's receive time and payload),
//! measure the simulator alone (the [`ceiling`]), [`seed`] an account, a credential and
//! registrations, start `pushgate serve` as a child process on them — or several replicas
//! sharing a Redis delivery queue, loaded round robin — (or target a running gateway by URL),
//! drive `POST /v1/invites` open loop at a fixed rate or closed loop as fast as possible
//! ([`load`]) — ending the calls as the [`Mix`] says, through the API: the phones'
//! accept/reject answering the simulator's pushes and the backend's cancels ([`followup`]) —
//! and measure end to end, from each invite's send to the simulator receiving its pushes
//! ([`collector`]), second by second ([`series`]: stalls), plus the gateway's CPU time
//! (summed over replicas) and RSS (the largest replica's peak, and each one's once a second)
//! from `/proc` ([`gateway`]). The result is a [`Report`].
//!
//! [`run()`] checks the [`BenchOptions`] (with [`Rate`] and [`Target`], in `options`) and owns
//! the work directory; the steps themselves are in `run`, with the simulator side in
//! `simulator` (and, with `--android-share`, the FCM simulator in `fcm_simulator`, its
//! pushes reported per platform by `platforms`) and the gateway(s) under test in
//! `under_test`.

mod ceiling;
mod collector;
mod fcm_simulator;
mod followup;
mod gateway;
mod http_client;
mod load;
mod mix;
mod options;
mod platforms;
mod report;
mod run;
mod seed;
mod series;
mod simulator;
mod steady;
mod under_test;

pub use ceiling::Ceiling;
pub use collector::Percentiles;
pub use mix::{Mix, Outcome};
pub use options::{BenchOptions, Rate, Target};
pub use platforms::PlatformPushes;
pub use report::{Machine, Process, Pushes, Report, Settings, Throughput};
pub use series::{STALL_MS, Stall};
pub use steady::{FollowUp, FollowUps, Steady};

use anyhow::Context;

/// Runs one benchmark and returns its report.
pub async fn run(opts: BenchOptions) -> anyhow::Result<Report> {
    opts.check()?;
    let date = crate::clock::rfc3339(crate::clock::now_ms());
    let (work, temporary) = match &opts.work_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let tag = hex::encode(crate::domain::random_bytes::<6>());
            (
                std::env::temp_dir().join(format!("pushgate-bench-{tag}")),
                true,
            )
        }
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = run::run_in(&opts, &work, date).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}
