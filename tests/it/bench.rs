//! `pushgate bench` end to end: a short, slow run against a gateway it starts as a child
//! process, on each store — without call endings (`--mix none`) and with them (accept,
//! reject, cancel through the API, short ttl), with half the devices Android (through the FCM
//! simulator), and with two replicas on PostgreSQL + Redis; the JSON report has every field,
//! the pushes arrived and the follow-ups succeeded.
//! (Behaviour only: no performance threshold is asserted here.)

use std::process::Command;

use serde_json::Value;

use crate::helpers::bin::BIN;
use crate::helpers::{Backend, fresh_database, redis_url, store_tests};

/// `pushgate bench` for `duration` s (+0.5 s warm-up) at 40 invites/s, 5 identities × 2
/// devices, writing its report to `json` and keeping its work directory in `work`.
fn short_run(json: &std::path::Path, work: &std::path::Path, duration: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "bench",
        "--duration",
        duration,
        "--warmup",
        "0.5",
        "--rate",
        "40",
    ])
    .args(["--identities", "5", "--devices", "2"])
    .arg("--json")
    .arg(json)
    .arg("--work-dir")
    .arg(work)
    .env("PUSHGATE_LOG", "warn");
    cmd
}

async fn short_run_reports_pushes(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = short_run(&json, &dir.path().join("work"), "2");
    cmd.args(["--registrations", "100", "--ceiling-duration", "0.5"]);
    cmd.args(["--mix", "none", "--ended-invites", "600"]);
    let database = match b {
        Backend::Postgres => fresh_database(b, dir.path()).await,
        Backend::Sqlite => format!(
            "sqlite://{}",
            dir.path().join("work/gateway/pushgate.db").display()
        ),
    };
    if b == Backend::Postgres {
        cmd.args(["--database-url", &database]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("invite→push ms"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let store = if b == Backend::Postgres {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(report["settings"]["store"], store, "{report}");
    assert_eq!(report["settings"]["mode"], "open");
    assert_eq!(report["settings"]["devices_per_identity"], 2);
    assert_eq!(report["settings"]["registrations_seeded"], 100);
    assert_eq!(report["settings"]["ended_invites_seeded"], 600);
    // The ended invites are in the store, each with its delivery, beside the run's own.
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&database).await.unwrap();
    let (ended,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM invites i JOIN deliveries d ON d.invite_sid = i.sid \
         WHERE i.caller = 'client:seeded' AND d.status = 'accepted'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(ended, 600);
    assert_eq!(report["settings"]["mix"], Value::Null, "{report}");
    assert_eq!(report["settings"]["ttl_s"], 30, "--mix none keeps ttl 30");
    assert_eq!(report["follow_ups"], Value::Null, "{report}");
    assert!(
        report["settings"].get("android_share").is_none(),
        "{report}"
    );
    assert!(report.get("pushes_by_platform").is_none(), "{report}");
    let n = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("number expected: {v}"));
    assert!(n(&report["invites"]["accepted"]) > 0.0, "{report}");
    assert!(n(&report["pushes"]["in_window"]) > 0.0, "{report}");
    assert!(n(&report["pushes"]["per_second"]) > 0.0);
    assert_eq!(report["pushes"]["lost"], 0, "{report}");
    assert_eq!(
        report["pushes"]["left_open"], 0,
        "every outcome written: {report}"
    );
    assert_eq!(
        report["pushes"]["received_total"], report["pushes"]["expected_total"],
        "two devices per invite: {report}"
    );
    for key in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
        assert!(n(&report["latency_ms"][key]) > 0.0, "{key}: {report}");
        assert!(
            n(&report["response_latency_ms"][key]) > 0.0,
            "{key}: {report}"
        );
    }
    assert!(n(&report["latency_ms"]["count"]) > 0.0);
    let by_second = report["max_latency_ms_by_second"].as_array().unwrap();
    assert_eq!(
        by_second.len(),
        2,
        "one value per measured second: {report}"
    );
    assert!(n(&report["other_cpu_percent"]) >= 0.0);
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert!(n(&report["gateway"]["cpu_seconds"]) > 0.0, "{report}");
    assert!(n(&report["gateway"]["peak_rss_mib"]) > 0.0);
    assert!(n(&report["load_generator"]["peak_rss_mib"]) > 0.0);
    assert!(n(&report["simulator_ceiling"]["pushes_per_second"]) > 0.0);
    assert!(n(&report["fraction_of_ceiling"]) > 0.0);
    assert!(n(&report["machine"]["cpus"]) >= 1.0);
}

/// The default mix with a 2 s ttl and a 50 ms ring over 3 s (+0.5 s warm-up): every kind of
/// follow-up is sent and answered 200 (or, at worst, 409 for a call that expired under a
/// slow debug gateway), no error, no 5xx; the series have one value per second.
async fn short_run_ends_calls(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = short_run(&json, &dir.path().join("work"), "3");
    cmd.args(["--ceiling-duration", "0"])
        .args(["--ttl", "2", "--ring-ms", "50"]);
    if b == Backend::Postgres {
        cmd.args(["--database-url", &fresh_database(b, dir.path()).await]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stalls (> 100 ms)"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("count expected: {v}"));
    assert_eq!(
        report["settings"]["mix"], "answered=60,rejected=20,canceled=10,expired=10",
        "{report}"
    );
    assert_eq!(report["settings"]["ttl_s"], 2);
    assert_eq!(report["settings"]["ring_ms"], 50);
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(report["http_5xx"], 0, "{report}");
    assert_eq!(report["pushes"]["lost"], 0, "{report}");
    assert_eq!(
        report["pushes"]["left_open"], 0,
        "every outcome written: {report}"
    );
    let f = &report["follow_ups"];
    for kind in ["accept", "reject", "cancel"] {
        let k = &f[kind];
        assert!(n(&k["ok"]) > 0, "{kind}: {report}");
        assert_eq!(
            n(&k["ok"]) + n(&k["conflict"]),
            n(&k["sent"]),
            "{kind}: {report}"
        );
        assert_eq!(n(&k["latency_ms"]["count"]), n(&k["ok"]), "{kind}");
    }
    assert!(n(&f["left_to_expire"]) > 0, "{report}");
    assert_eq!(f["unfinished"], false, "{report}");
    // Answered outnumber rejected, which outnumber canceled (60/20/10 of ~120 invites).
    assert!(
        n(&f["accept"]["sent"]) > n(&f["reject"]["sent"]),
        "{report}"
    );
    for series in [
        "pushes_by_second",
        "invites_by_second",
        "follow_ups_by_second",
        "max_latency_ms_by_second",
    ] {
        let values = report[series].as_array().unwrap();
        assert_eq!(values.len(), 3, "{series}: {report}");
    }
    let follow_ups: u64 = report["follow_ups_by_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(n)
        .sum();
    assert!(follow_ups > 0, "{report}");
    let rss = report["gateway_rss_mib_by_second"].as_array().unwrap();
    assert_eq!(rss.len(), 1, "one replica: {report}");
    let samples = rss[0].as_array().unwrap();
    assert_eq!(samples.len(), 3, "{report}");
    assert!(
        samples
            .iter()
            .all(|v| v.as_f64().is_some_and(|mib| mib > 0.0))
    );
    assert!(report["stalls"].is_array(), "{report}");
    assert_eq!(report["stall_threshold_ms"], 100.0);
}

store_tests!(short_run_reports_pushes, short_run_ends_calls);

/// `--android-share 0.5` on SQLite over 3 s: each identity has an iPhone and an Android
/// phone, so both simulators get pushes (reported per platform), none lost, no error, and
/// calls are answered from either platform's push.
#[test]
fn half_the_devices_android() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut cmd = short_run(&json, &dir.path().join("work"), "3");
    cmd.args(["--ceiling-duration", "0", "--android-share", "0.5"])
        .args(["--ttl", "2", "--ring-ms", "50"]);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("fcm pushes/s"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("count expected: {v}"));
    assert_eq!(report["settings"]["android_share"], 0.5, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(report["pushes"]["lost"], 0, "{report}");
    assert_eq!(
        report["pushes"]["left_open"], 0,
        "every outcome written: {report}"
    );
    let by = &report["pushes_by_platform"];
    let (apn, fcm) = (&by["apn"], &by["fcm"]);
    assert!(n(&apn["received_total"]) > 0, "{report}");
    assert!(n(&fcm["received_total"]) > 0, "{report}");
    assert_eq!(
        n(&apn["received_total"]) + n(&fcm["received_total"]),
        n(&report["pushes"]["received_total"]),
        "{report}"
    );
    // Two devices per identity, every other one Android: as many of each.
    assert_eq!(apn["received_total"], fcm["received_total"], "{report}");
    assert!(n(&fcm["latency_ms"]["count"]) > 0, "{report}");
    assert!(n(&report["follow_ups"]["accept"]["ok"]) > 0, "{report}");
}

/// Two `pushgate serve` replicas on one PostgreSQL database sharing a Redis queue: every push
/// arrives (each sent once: received = expected), and the report lists both replicas.
#[tokio::test]
async fn two_replicas_on_postgres_and_redis() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let work = dir.path().join("work");
    let database = fresh_database(Backend::Postgres, dir.path()).await;
    let out = short_run(&json, &work, "2")
        .args(["--ceiling-duration", "0"])
        .args(["--replicas", "2", "--redis-url", &redis_url()])
        .args(["--database-url", &database])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 replicas + Redis queue"), "{stdout}");
    assert!(stdout.contains("replica 2"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["settings"]["store"], "postgres", "{report}");
    assert_eq!(report["settings"]["replicas"], 2, "{report}");
    assert_eq!(report["settings"]["redis"], true, "{report}");
    let n = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("number expected: {v}"));
    assert!(n(&report["invites"]["accepted"]) > 0.0, "{report}");
    assert!(n(&report["pushes"]["in_window"]) > 0.0, "{report}");
    assert_eq!(report["pushes"]["lost"], 0, "{report}");
    assert_eq!(
        report["pushes"]["left_open"], 0,
        "every outcome written: {report}"
    );
    assert_eq!(
        report["pushes"]["received_total"], report["pushes"]["expected_total"],
        "every push arrived, none twice: {report}"
    );
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    let replicas = report["replicas"].as_array().expect("replicas array");
    assert_eq!(replicas.len(), 2, "{report}");
    let mut cpu = 0.0;
    let mut largest: f64 = 0.0;
    for r in replicas {
        assert!(n(&r["cpu_seconds"]) > 0.0, "each replica served: {report}");
        assert!(n(&r["peak_rss_mib"]) > 0.0, "{report}");
        cpu += n(&r["cpu_seconds"]);
        largest = largest.max(n(&r["peak_rss_mib"]));
    }
    assert!(
        (n(&report["gateway"]["cpu_seconds"]) - cpu).abs() < 1e-9,
        "{report}"
    );
    assert_eq!(n(&report["gateway"]["peak_rss_mib"]), largest, "{report}");
    for i in 1..=2 {
        assert!(work.join(format!("gateway-{i}.log")).exists());
    }
}

/// Refused before anything starts: Redis with SQLite, several replicas without Redis, a mix
/// not summing to 100, a ttl the gateway would refuse, an Android share outside 0–1.
#[test]
fn replicas_need_postgres_and_redis() {
    for (args, message) in [
        (
            &["--redis-url", "redis://127.0.0.1:6379"][..],
            "--redis-url needs a PostgreSQL store",
        ),
        (&["--replicas", "2"][..], "--replicas 2 needs --redis-url"),
        (
            &[
                "--replicas",
                "2",
                "--database-url",
                "postgres://postgres@127.0.0.1:5432/unused",
            ][..],
            "--replicas 2 needs --redis-url",
        ),
        (
            &["--mix", "answered=60,rejected=20"][..],
            "the shares sum to 80, not 100",
        ),
        (&["--mix", "answered=60,hungup=40"][..], "the kinds are"),
        (
            &["--ttl", "0"][..],
            "--ttl 0: the gateway takes 1 to 300 seconds",
        ),
        (
            &["--android-share", "1.5"][..],
            "--android-share 1.5: use a share from 0 to 1",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["bench", "--duration", "1", "--ceiling-duration", "0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
