//! Fault injection, concurrency and shutdown.

use std::time::{Duration, Instant};

use super::*;
use crate::mock_apns::{EnvironmentMode, FaultAction, FaultSpec};

async fn setup() -> (Simulator, Client, Vec<(&'static str, String)>) {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let c = Client::connect(&sim, None).await;
    let bearer = Key::new("FAULTKEY01", "TEAM000009").token(now_secs(&clock), false);
    (sim, c, voip_headers(&bearer))
}

#[tokio::test]
async fn ratio_and_next_n_faults() {
    let (sim, c, h) = setup().await;
    let spec = FaultSpec {
        status: Some(503),
        ratio: Some(0.5),
        match_token: Some(device_token(1)),
        ..FaultSpec::default()
    };
    sim.add_fault(&spec).expect("fault");
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = push(&c, &device_token(1), &h).await;
        if r.status == 503 {
            assert_eq!(r.reason(), "ServiceUnavailable");
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 503].repeat(5));
    assert_eq!(
        push(&c, &device_token(2), &h).await.status,
        200,
        "match_token"
    );
    sim.clear_faults();

    let spec = FaultSpec {
        status: Some(429),
        count: Some(2),
        ..FaultSpec::default()
    };
    sim.add_fault(&spec).expect("fault");
    let mut got = Vec::new();
    for _ in 0..3 {
        let r = push(&c, &device_token(3), &h).await;
        got.push((r.status, r.reason()));
    }
    let tmr = (429, "TooManyRequests".to_string());
    assert_eq!(got, [tmr.clone(), tmr, (200, String::new())]);
    assert_eq!(
        sim.stats().rejected_by_reason.get("TooManyRequests"),
        Some(&2)
    );
}

#[tokio::test]
async fn latency_fault_delays_the_answer() {
    let (sim, c, h) = setup().await;
    let spec = FaultSpec {
        delay_ms: Some(200),
        count: Some(1),
        ..FaultSpec::default()
    };
    sim.add_fault(&spec).expect("fault");
    let started = Instant::now();
    assert_eq!(push(&c, &device_token(1), &h).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn rst_stream_refuses_one_request() {
    let (sim, c, h) = setup().await;
    let spec = FaultSpec {
        action: Some(FaultAction::RstStream),
        count: Some(1),
        ..FaultSpec::default()
    };
    sim.add_fault(&spec).expect("fault");
    let hh: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = format!("/3/device/{}", device_token(1));
    let err = c
        .send(request("POST", &path, &hh), PAYLOAD)
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), Some(h2::Reason::REFUSED_STREAM), "{err}");
    assert_eq!(
        push(&c, &device_token(1), &h).await.status,
        200,
        "same connection"
    );
    assert_eq!(sim.stats().streams_reset, 1);
}

#[tokio::test]
async fn goaway_carries_json_reason_and_closes() {
    let (sim, c, h) = setup().await;
    let spec = FaultSpec {
        action: Some(FaultAction::Goaway),
        status: Some(503),
        reason: Some("Shutdown".into()),
        count: Some(1),
        ..FaultSpec::default()
    };
    sim.add_fault(&spec).expect("fault");
    let r = push(&c, &device_token(1), &h).await;
    assert_eq!((r.status, r.reason()), (503, "Shutdown".into()));
    let Client { goaways, conn, .. } = c;
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await;
    assert!(ended.is_ok(), "connection should close after GOAWAY");
    let debug = goaways.lock().expect("goaways").clone();
    assert!(!debug.is_empty(), "no GOAWAY seen");
    for d in &debug {
        assert_eq!(&d[..], br#"{"reason":"Shutdown"}"#);
    }
    let again = Client::connect(&sim, None).await;
    assert_eq!(push(&again, &device_token(1), &h).await.status, 200);
    assert_eq!(sim.stats().goaways_sent, 1);
}

#[tokio::test]
async fn drop_connection_fails_in_flight_requests() {
    let (sim, c, h) = setup().await;
    let slow = FaultSpec {
        delay_ms: Some(60_000),
        match_token: Some(device_token(1)),
        ..FaultSpec::default()
    };
    let drop = FaultSpec {
        action: Some(FaultAction::DropConnection),
        match_token: Some(device_token(2)),
        ..FaultSpec::default()
    };
    sim.add_fault(&slow).expect("fault");
    sim.add_fault(&drop).expect("fault");
    let hh: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let in_flight = {
        let send = c.sender();
        let req = request("POST", &format!("/3/device/{}", device_token(1)), &hh);
        tokio::spawn(async move { client::send_on(send, req, PAYLOAD).await })
    };
    let req = request("POST", &format!("/3/device/{}", device_token(2)), &hh);
    assert!(
        c.send(req, PAYLOAD).await.is_err(),
        "dropping request fails"
    );
    let slow_result = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("in-flight request ends")
        .expect("join");
    assert!(slow_result.is_err(), "in-flight request fails");
    assert_eq!(sim.stats().connections_dropped, 1);
}

#[tokio::test]
async fn thousand_concurrent_streams_on_one_connection() {
    let (sim, c, h) = setup().await;
    let hh: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000u32 {
        let send = c.sender();
        let path = format!("/3/device/{}", device_token((i % 250) as u8));
        let req = request("POST", &path, &hh);
        tasks.spawn(async move { client::send_on(send, req, PAYLOAD).await });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.expect("join").expect("push");
        assert_eq!(r.status, 200, "{}", r.reason());
        ok += 1;
    }
    assert_eq!(ok, 1000);
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.connections_total), (1000, 1));
    assert_eq!(sim.pushes(0).len(), 1000);
}

#[tokio::test]
async fn shutdown_sends_goaway_shutdown() {
    let (sim, c, h) = setup().await;
    assert_eq!(push(&c, &device_token(1), &h).await.status, 200);
    sim.shutdown().await;
    let Client { goaways, conn, .. } = c;
    let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
    let debug = goaways.lock().expect("goaways").clone();
    assert_eq!(
        debug.first().map(|d| &d[..]),
        Some(&br#"{"reason":"Shutdown"}"#[..])
    );
    assert_eq!(sim.stats().connections_open, 0);
}
