//! `/metrics`: valid Prometheus text (checked by promtool), and the key families move as
//! pushes flow.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helpers::bin::metric_value;
use crate::helpers::{
    Backend, TestApp, device_token, spawn_app_with, spawn_app_with_apns, store_tests,
};

async fn scrape(app: &TestApp, path: &str) -> String {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

fn promtool(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is required (Debian package prometheus; .ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn metrics_pass_promtool_and_move_with_pushes(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |c| c.metrics_refresh_seconds = 1).await;
    let before = scrape(&app, "/metrics").await;
    apns.register(&device_token(1), "production");
    app.register_device("alice", &device_token(1)).await;
    app.register_device("alice", &device_token(2)).await; // not known to APNs: BadDeviceToken
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    app.settled(invite["sid"].as_str().unwrap()).await;
    let bad = app.register("not-a-token", &device_token(3)).await;
    assert_eq!(bad.status(), 401);

    // Gauges are refreshed every second; wait (bounded) for one refresh to see the devices.
    let mut after = String::new();
    for _ in 0..50 {
        after = scrape(&app, "/metrics").await;
        if metric_value(&after, "pushgate_registrations", &[]) >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    promtool(&after);
    let moved = |family: &str, labels: &[&str]| {
        metric_value(&after, family, labels) - metric_value(&before, family, labels)
    };
    assert_eq!(moved("pushgate_invites_accepted_total", &[]), 1.0);
    assert_eq!(
        moved(
            "pushgate_apns_requests_total",
            &["environment=\"production\"", "status=\"200\""]
        ),
        1.0
    );
    assert!(
        moved(
            "pushgate_apns_requests_total",
            &["reason=\"BadDeviceToken\""]
        ) >= 1.0
    );
    assert_eq!(moved("pushgate_invite_first_push_seconds_count", &[]), 1.0);
    assert!(moved("pushgate_apns_request_duration_seconds_count", &[]) >= 2.0);
    assert!(
        moved(
            "pushgate_registration_changes_total",
            &["change=\"registered\""]
        ) >= 2.0
    );
    assert!(
        moved(
            "pushgate_registration_changes_total",
            &["change=\"retired_apns\""]
        ) >= 1.0
    );
    assert_eq!(
        moved(
            "pushgate_access_token_rejections_total",
            &["code=\"20101\""]
        ),
        1.0
    );
    assert!(
        moved(
            "pushgate_http_requests_total",
            &["route=\"/v1/invites\"", "status=\"202\""]
        ) >= 1.0
    );
    assert!(metric_value(&after, "pushgate_registrations", &["state=\"active\""]) >= 1.0);
    let credential = format!("credential=\"{}\"", app.credential);
    assert!(
        metric_value(
            &after,
            "pushgate_credential_not_after_timestamp_seconds",
            &[&credential]
        ) > 1.7e9
    );
    assert_eq!(
        metric_value(
            &after,
            "pushgate_credential_health",
            &[&credential, "state=\"ok\""]
        ),
        1.0
    );
    assert!(metric_value(&after, "pushgate_apns_connections", &[&credential]) >= 1.0);
    assert!(after.contains("process_resident_memory_bytes"));
    assert!(after.contains("pushgate_queue_oldest_age_seconds"));
    assert!(after.contains("pushgate_sqlite_wal_bytes"));
    if b == Backend::Sqlite {
        // The invites above went through the writer thread.
        assert!(metric_value(&after, "pushgate_sqlite_write_transactions_total", &[]) >= 1.0);
        assert!(metric_value(&after, "pushgate_sqlite_write_jobs_total", &[]) >= 1.0);
        assert!(metric_value(&after, "pushgate_sqlite_writer_busy_seconds_total", &[]) > 0.0);
    }
    for forbidden in [device_token(1), "alice".to_owned()] {
        assert!(
            !after.contains(&forbidden),
            "{forbidden} must never be a label"
        );
    }
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /metrics` on the private metrics listener at `port`, once it is up.
async fn scrape_private(app: &TestApp, port: u16) -> String {
    for _ in 0..50 {
        if let Ok(res) = app
            .client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        {
            assert_eq!(res.status(), 200);
            return res.text().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the metrics listener on port {port} never answered");
}

async fn metrics_can_live_on_a_private_listener(b: Backend) {
    let port = free_port();
    let (app, _apns) = spawn_app_with_apns(b, |c| {
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    })
    .await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404, "not on the public listener");
    let text = scrape_private(&app, port).await;
    assert!(text.contains("pushgate_invites_accepted_total"));
}

/// Two gateways in one process keep their own counts: what one records never shows in the
/// other's `/metrics` (public router or private listener).
async fn two_gateways_in_one_process_count_apart(b: Backend) {
    let (one, apns) = spawn_app_with_apns(b, |_| {}).await;
    let port = free_port();
    let two = spawn_app_with(b, |c| {
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    })
    .await;
    apns.register(&device_token(1), "production");
    one.register_device("alice", &device_token(1)).await;
    let (_, invite) = one
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    one.settled(invite["sid"].as_str().unwrap()).await;
    let bad = two.register("not-a-token", &device_token(2)).await;
    assert_eq!(bad.status(), 401);

    let first = scrape(&one, "/metrics").await;
    let second = scrape_private(&two, port).await;
    let both = |family: &str, labels: &[&str]| {
        (
            metric_value(&first, family, labels),
            metric_value(&second, family, labels),
        )
    };
    assert_eq!(both("pushgate_invites_accepted_total", &[]), (1.0, 0.0));
    assert_eq!(
        both("pushgate_apns_requests_total", &["status=\"200\""]),
        (1.0, 0.0)
    );
    assert_eq!(
        both("pushgate_invite_first_push_seconds_count", &[]),
        (1.0, 0.0)
    );
    assert_eq!(
        both(
            "pushgate_registration_changes_total",
            &["change=\"registered\""]
        ),
        (1.0, 0.0)
    );
    assert_eq!(
        both(
            "pushgate_access_token_rejections_total",
            &["code=\"20101\""]
        ),
        (0.0, 1.0)
    );
    assert_eq!(
        both(
            "pushgate_http_requests_total",
            &["route=\"/v1/invites\"", "status=\"202\""]
        ),
        (1.0, 0.0)
    );
    assert_eq!(
        both(
            "pushgate_http_requests_total",
            &["route=\"/v1/registrations\"", "status=\"401\""]
        ),
        (0.0, 1.0)
    );
    one.stop().await.unwrap();
    two.stop().await.unwrap();
}

/// The registration gauges come from trigger-kept counts, not a table scan: after registering,
/// re-registering, retiring and deleting they still equal a full count.
async fn registration_counts_follow_every_change(b: Backend) {
    use sqlx::Connection;
    let app = crate::helpers::spawn_app(b).await;
    let token = app.token("alice");
    for seed in 1..=4 {
        assert_eq!(
            app.register(&token, &device_token(seed)).await.status(),
            201
        );
    }
    // Registering the same device again changes nothing.
    assert!(
        app.register(&token, &device_token(1))
            .await
            .status()
            .is_success()
    );
    let url = app.config.database_url.clone().unwrap();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    for sql in [
        "UPDATE registrations SET state = 'invalid' WHERE device_token = $1",
        "UPDATE registrations SET environment = 'sandbox' WHERE device_token = $1",
        "DELETE FROM registrations WHERE device_token = $1",
        "UPDATE registrations SET last_used = 1 WHERE device_token = $1",
    ]
    .iter()
    .zip(1..)
    {
        sqlx::query(*sql.0)
            .bind(device_token(sql.1))
            .execute(&mut db)
            .await
            .unwrap();
    }
    let mut expected: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT COALESCE(environment, 'default'), state, COUNT(*) FROM registrations \
         GROUP BY COALESCE(environment, 'default'), state",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut counted: Vec<(String, String, i64)> = app
        .store
        .gauges()
        .await
        .unwrap()
        .registrations
        .iter()
        .map(|c| {
            let env = c.environment.map_or("default", |e| e.as_str());
            (env.to_owned(), c.state.as_str().to_owned(), c.count)
        })
        .collect();
    // A second refresh folds nothing new and reads the same.
    let again = app.store.gauges().await.unwrap().registrations;
    expected.sort();
    counted.sort();
    assert_eq!(counted, expected);
    assert_eq!(again.len(), counted.len());
    assert_eq!(expected.iter().map(|r| r.2).sum::<i64>(), 3);
    app.stop().await.unwrap();
}

/// A fresh gateway's first scrape already lists every family `src/metrics.rs` defines, with
/// zero series for the closed label sets and the build's version.
async fn every_family_is_exported_from_the_first_scrape(b: Backend) {
    let (app, _apns) = spawn_app_with_apns(b, |_| {}).await;
    let text = scrape(&app, "/metrics").await;
    promtool(&text);
    let source = include_str!("../../src/metrics.rs");
    let defined: Vec<&str> = source
        .split('"')
        .filter(|s| s.starts_with("pushgate_") && !s.contains(' '))
        .collect();
    assert!(defined.len() >= 20, "{defined:?}");
    for family in defined {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing from the first scrape:\n{text}"
        );
    }
    let version = format!(
        "pushgate_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&version), "{text}");
    for state in ["ok", "expiring", "expired", "rejected"] {
        assert!(
            text.contains(&format!("pushgate_credentials{{state=\"{state}\"}}")),
            "{state}"
        );
    }
    // The seeded credential is counted before the first request was served.
    assert_eq!(
        metric_value(&text, "pushgate_credentials", &["state=\"ok\""]),
        1.0
    );
    for series in [
        "pushgate_registrations{environment=\"production\",platform=\"apns\",state=\"active\"} 0",
        "pushgate_registrations{environment=\"default\",platform=\"fcm\",state=\"active\"} 0",
        "pushgate_invites_finished_total{status=\"answered\"} 0",
        "pushgate_apns_retries_total{cause=\"server_error\"} 0",
        "pushgate_access_token_rejections_total{code=\"20104\"} 0",
        "pushgate_status_callbacks_total{result=\"failed\"} 0",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    app.stop().await.unwrap();
}

store_tests!(
    every_family_is_exported_from_the_first_scrape,
    metrics_pass_promtool_and_move_with_pushes,
    metrics_can_live_on_a_private_listener,
    two_gateways_in_one_process_count_apart,
    registration_counts_follow_every_change,
);
