//! One run's steps, in order: start the simulator, measure its ceiling, start (and seed) the
//! gateway(s), warm up and load them (ending the calls as the mix says), wait for the last
//! pushes and follow-ups, read CPU and memory, stop everything, and turn the counts into the
//! [`Report`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::ceiling::Ceiling;
use super::collector::Collector;
use super::fcm_simulator::Fcm;
use super::followup::FollowUpDriver;
use super::gateway::{self, Window};
use super::http_client::HttpClient;
use super::load::{self, InviteLoad};
use super::options::{BenchOptions, Rate};
use super::platforms;
use super::report::{Machine, Process, Pushes, Report, Settings, Throughput};
use super::seed;
use super::series;
use super::simulator::Apns;
use super::steady::{self, FollowUps, Steady};
use super::under_test::UnderTest;

/// How long, after the last answer, pushes may still arrive before they count as lost.
const DRAIN: Duration = Duration::from_secs(5);

/// Runs every step with `work` as the working directory; `date` is the run's start.
pub(super) async fn run_in(
    opts: &BenchOptions,
    work: &Path,
    date: String,
) -> anyhow::Result<Report> {
    let apns = Apns::start(opts, work).await?;
    let fcm = match opts.android_share > 0.0 {
        true => Some(Fcm::start(work).await?),
        false => None,
    };
    let simulator_ceiling = apns.ceiling(opts).await?;
    let http = HttpClient::default();
    let sims = (&apns, fcm.as_ref());
    let mut under_test = UnderTest::start(opts, work, sims, &http).await?;
    let (collector, usage, follow_ups) = measure(opts, sims, &under_test, http).await?;
    let exited = under_test.exited();
    if exited > 0 {
        collector.errors_of("gateway_exited", exited);
    }
    let (store, registrations) = (under_test.store, under_test.seeded.registrations);
    let database_url = under_test.database_url.clone();
    under_test.stop().await;
    let left_open = match database_url {
        Some(url) => left_open(&url).await,
        None => None,
    };
    if let Some(n) = left_open.filter(|n| *n > 0) {
        collector.errors_of("left_open", n);
    }
    apns.sim.shutdown().await;
    if let Some(fcm) = &fcm {
        fcm.shutdown().await;
    }
    let settings = Settings::new(opts, store, registrations);
    let mut report = report(
        (opts, date, settings),
        &collector,
        (usage, follow_ups),
        simulator_ceiling,
    );
    report.pushes.left_open = left_open;
    Ok(report)
}

/// Deliveries the store at `url` still has open (queued or waiting for a retry): after the
/// gateways drained, every push the run caused should have its outcome written. `None` (with
/// a message) when the store can't be read.
async fn left_open(url: &str) -> Option<u64> {
    let counted = async {
        let store = crate::store::Store::connect(url, 1).await?;
        let (open, _) = store.open_deliveries().await?;
        store.close().await;
        Ok::<_, crate::store::StoreError>(open)
    };
    match counted.await {
        Ok(open) => Some(u64::try_from(open).unwrap_or(0)),
        Err(e) => {
            eprintln!("bench: counting the deliveries left open: {e}");
            None
        }
    }
}

/// The warm-up and the measured window: the load at `opts.rate` and its follow-ups, then up
/// to [`DRAIN`] for the pushes still due and the follow-ups' answers; returns the counts, the
/// processes' use over the window, and the follow-ups' counts (when calls end).
async fn measure(
    opts: &BenchOptions,
    (apns, fcm): (&Apns, Option<&Fcm>),
    under_test: &UnderTest,
    http: HttpClient,
) -> anyhow::Result<(Arc<Collector>, Usage, Option<FollowUps>)> {
    eprintln!(
        "bench: running for {:?} after {:?} of warm-up",
        opts.duration, opts.warmup
    );
    let collector = Arc::new(Collector::new(opts.warmup, opts.duration));
    let follow_ups = opts.mix.map(|mix| {
        Arc::new(FollowUpDriver::new(
            http.clone(),
            under_test.bases.clone(),
            under_test.seeded.basic(),
            (mix, opts.ring),
            collector.clone(),
        ))
    });
    apns.report_to(collector.clone(), follow_ups.clone());
    if let Some(fcm) = fcm {
        fcm.report_to(collector.clone(), follow_ups.clone());
    }
    let pids = under_test.pids();
    let sampler = tokio::spawn(gateway::sample_window(
        pids.clone(),
        collector.epoch + opts.warmup,
        opts.duration,
    ));
    let invites = Arc::new(
        InviteLoad::new(
            http,
            under_test
                .bases
                .iter()
                .map(|b| format!("{b}/v1/invites"))
                .collect(),
            under_test.seeded.basic(),
            seed::IDENTITY_PREFIX.to_owned(),
            opts.identities,
            collector.clone(),
        )
        .with_endings(opts.ttl, follow_ups.clone()),
    );
    let until = opts.warmup + opts.duration;
    match opts.rate {
        Rate::Fixed(rate) => load::open_loop(invites, rate, until).await?,
        Rate::Max { concurrency } => load::closed_loop(invites, concurrency, until).await,
    }
    let drain_until = Instant::now() + DRAIN;
    while collector.pushes_total.load(Ordering::Relaxed)
        < collector.pushes_expected.load(Ordering::Relaxed)
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(f) = &follow_ups {
        f.finish().await;
    }
    let window = sampler.await?;
    let usage = Usage::of(window, &pids, opts.duration);
    Ok((collector, usage, follow_ups.map(|f| f.report())))
}

/// CPU and memory over the measured window.
struct Usage {
    /// Each replica (`None`: no reading, it had exited).
    replicas: Vec<Option<Process>>,
    /// The replicas combined.
    gateway: Option<Process>,
    /// This process.
    load_generator: Option<Process>,
    /// Everything else on the machine.
    other_cpu_percent: Option<f64>,
    /// Each replica's RSS at the end of each second of the window.
    rss_mib_by_second: Vec<Vec<Option<f64>>>,
}

impl Usage {
    /// From the `window` readings of the replicas `pids`; each replica's peak RSS is read
    /// again now, after the drain.
    fn of(window: Window, pids: &[String], duration: Duration) -> Self {
        let replicas: Vec<Option<Process>> = pids
            .iter()
            .zip(window.gateways)
            .map(|(pid, reading)| {
                reading.map(|(start, end)| {
                    let last = gateway::sample(pid).unwrap_or(end);
                    gateway::process(start, end, last, duration)
                })
            })
            .collect();
        let gateway = Process::combined(replicas.iter().flatten());
        let load_generator = window
            .bench
            .map(|(start, end)| gateway::process(start, end, end, duration));
        let other_cpu_percent = window.machine_busy.map(|busy| {
            let ours: f64 = gateway
                .iter()
                .chain(&load_generator)
                .map(|p| p.cpu_seconds)
                .sum();
            ((busy - ours) / duration.as_secs_f64() * 100.0).max(0.0)
        });
        Usage {
            replicas,
            gateway,
            load_generator,
            other_cpu_percent,
            rss_mib_by_second: window.rss_mib_by_second,
        }
    }
}

/// The [`Report`] of the finished run; pushes never received count as `lost` errors.
fn report(
    (opts, date, settings): (&BenchOptions, String, Settings),
    collector: &Collector,
    (usage, follow_ups): (Usage, Option<FollowUps>),
    simulator_ceiling: Option<Ceiling>,
) -> Report {
    let expected = collector.pushes_expected.load(Ordering::Relaxed);
    let received = collector.pushes_total.load(Ordering::Relaxed);
    let lost = expected.saturating_sub(received);
    if lost > 0 {
        collector.errors_of("lost", lost);
    }
    let (latency_ms, response_latency_ms, schedule_lag_ms) = collector.latencies();
    let secs = opts.duration.as_secs_f64();
    let in_window = collector.pushes_in_window.load(Ordering::Relaxed);
    let pushes_per_second = in_window as f64 / secs;
    let accepted = collector.invites_accepted.load(Ordering::Relaxed);
    let max_latency_ms_by_second = collector.max_by_second();
    let errors = collector.errors();
    let steady = Steady {
        pushes_by_second: collector.pushes_by_second.values(),
        invites_by_second: collector.invites_by_second.values(),
        follow_ups_by_second: collector.follow_ups_by_second.values(),
        gateway_rss_mib_by_second: usage.rss_mib_by_second,
        stalls: series::stalls(&max_latency_ms_by_second),
        stall_threshold_ms: series::STALL_MS,
        http_5xx: steady::count_5xx(&errors),
        follow_ups,
    };
    Report {
        pushgate_version: env!("CARGO_PKG_VERSION").to_owned(),
        date,
        machine: Machine::detect(),
        settings,
        invites: Throughput {
            sent: collector.invites_sent.load(Ordering::Relaxed),
            accepted,
            per_second: accepted as f64 / secs,
        },
        pushes: Pushes {
            in_window,
            per_second: pushes_per_second,
            expected_total: expected,
            received_total: received,
            lost,
            left_open: None,
        },
        pushes_by_platform: platforms::by_platform(collector, opts.android_share, secs),
        latency_ms,
        max_latency_ms_by_second,
        response_latency_ms,
        schedule_lag_ms,
        errors,
        steady,
        gateway: usage.gateway,
        replicas: usage.replicas,
        load_generator: usage.load_generator,
        other_cpu_percent: usage.other_cpu_percent,
        fraction_of_ceiling: simulator_ceiling
            .as_ref()
            .filter(|c| c.pushes_per_second > 0.0)
            .map(|c| pushes_per_second / c.pushes_per_second),
        simulator_ceiling,
    }
}
