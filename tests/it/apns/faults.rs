//! Transient failures over real TLS against the simulator: error statuses,
//! refused streams, GOAWAY, dropped connections, timeouts and unreachable
//! servers. Every push ends in exactly one outcome; none is lost and none is
//! sent twice unless APNs provably did not process it.

use std::time::Duration;

use super::support::*;
use pushgate::apns::{ApnsClient, ApnsConfig, Environment, Outcome, RetryCause};
use pushgate::mock_apns::{FaultAction, FaultSpec, Simulator};

fn fault(spec: FaultSpec, s: &Simulator) {
    s.add_fault(&spec).expect("fault accepted");
}

async fn push(client: &ApnsClient, n: u32) -> Outcome {
    client
        .send(invite(&device_token(n), Environment::Production))
        .await
}

fn is_retry(outcome: &Outcome, want: RetryCause) -> bool {
    matches!(outcome, Outcome::Retry { cause, .. } if *cause == want)
}

#[tokio::test]
async fn error_statuses_become_retries() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 1);
    let cases = [
        (429, "TooManyRequests", RetryCause::TooManyRequests),
        (
            429,
            "TooManyProviderTokenUpdates",
            RetryCause::TooManyProviderTokenUpdates,
        ),
        (500, "InternalServerError", RetryCause::ServerError),
        (503, "ServiceUnavailable", RetryCause::ServiceUnavailable),
        (503, "Shutdown", RetryCause::Shutdown),
    ];
    for (status, reason, cause) in cases {
        fault(
            FaultSpec {
                status: Some(status),
                reason: Some(reason.into()),
                count: Some(1),
                ..FaultSpec::default()
            },
            &s,
        );
        let outcome = push(&client, 1).await;
        assert!(is_retry(&outcome, cause), "{status} {reason}: {outcome:?}");
        assert_eq!(outcome.response().map(|r| r.status), Some(status));
        assert!(
            push(&client, 1).await.is_accepted(),
            "the next push goes through"
        );
    }
}

#[tokio::test]
async fn refused_streams_are_resent_then_reported() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 1);
    let rst = |count| FaultSpec {
        action: Some(FaultAction::RstStream),
        count: Some(count),
        ..FaultSpec::default()
    };
    // One refusal: APNs did not process it, so it is sent again at once.
    fault(rst(1), &s);
    assert!(push(&client, 1).await.is_accepted());
    assert_eq!((s.stats().received, s.stats().streams_reset), (2, 1));
    // Refused every time: after 3 attempts the caller is told to retry.
    fault(rst(3), &s);
    let outcome = push(&client, 1).await;
    assert!(is_retry(&outcome, RetryCause::RefusedStream), "{outcome:?}");
    assert_eq!(s.stats().received, 5);
    assert!(push(&client, 1).await.is_accepted());
    assert_eq!(
        s.stats().connections_total,
        1,
        "a refused stream keeps the connection"
    );
}

#[tokio::test]
async fn goaway_mid_stream_lets_in_flight_finish_and_reconnects() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 1);
    assert!(push(&client, 1).await.is_accepted());

    let slow = device_token(2);
    let goaway = device_token(3);
    fault(
        FaultSpec {
            delay_ms: Some(1000),
            match_token: Some(slow.clone()),
            ..FaultSpec::default()
        },
        &s,
    );
    fault(
        FaultSpec {
            action: Some(FaultAction::Goaway),
            match_token: Some(goaway.clone()),
            count: Some(1),
            ..FaultSpec::default()
        },
        &s,
    );
    let in_flight: Vec<_> = (0..10)
        .map(|_| {
            let (client, n) = (client.clone(), invite(&slow, Environment::Production));
            tokio::spawn(async move { client.send(n).await })
        })
        .collect();
    eventually("slow pushes reach the server", || async {
        s.stats().received == 11
    })
    .await;

    let outcome = client.send(invite(&goaway, Environment::Production)).await;
    assert!(is_retry(&outcome, RetryCause::Shutdown), "{outcome:?}");
    for task in in_flight {
        let outcome = task.await.expect("task");
        assert!(
            outcome.is_accepted(),
            "streams in flight at GOAWAY finish: {outcome:?}"
        );
    }
    for n in 10..15 {
        assert!(push(&client, n).await.is_accepted());
    }
    let stats = s.stats();
    assert_eq!(stats.goaways_sent, 1);
    assert_eq!(stats.connections_total, 2, "one reconnect after GOAWAY");
    assert_eq!(stats.received, 1 + 10 + 1 + 5, "nothing sent twice");
}

#[tokio::test]
async fn a_dropped_connection_fails_each_in_flight_push_as_retry() {
    let s = start(sim_config()).await;
    let client = client(&s, token_auth(&[&s]), 1);
    assert!(push(&client, 1).await.is_accepted());

    let stuck = device_token(2);
    let killer = device_token(3);
    // Held by the server far longer than the test runs.
    fault(
        FaultSpec {
            delay_ms: Some(60_000),
            match_token: Some(stuck.clone()),
            ..FaultSpec::default()
        },
        &s,
    );
    fault(
        FaultSpec {
            action: Some(FaultAction::DropConnection),
            match_token: Some(killer.clone()),
            count: Some(1),
            ..FaultSpec::default()
        },
        &s,
    );
    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            let (client, n) = (client.clone(), invite(&stuck, Environment::Production));
            tokio::spawn(async move { client.send(n).await })
        })
        .collect();
    eventually("stuck pushes reach the server", || async {
        s.stats().received == 21
    })
    .await;

    let outcome = client.send(invite(&killer, Environment::Production)).await;
    assert!(
        is_retry(&outcome, RetryCause::ConnectionLost),
        "{outcome:?}"
    );
    for task in in_flight {
        let outcome = task.await.expect("task");
        assert!(
            is_retry(&outcome, RetryCause::ConnectionLost),
            "{outcome:?}"
        );
    }
    assert_eq!(
        s.stats().received,
        22,
        "no in-flight push was silently resent"
    );

    s.clear_faults();
    assert!(
        push(&client, 4).await.is_accepted(),
        "reconnects after the drop"
    );
    let stats = s.stats();
    assert_eq!((stats.connections_dropped, stats.connections_total), (1, 2));
}

#[tokio::test]
async fn slow_answers_time_out_as_retry() {
    let s = start(sim_config()).await;
    let config = ApnsConfig {
        request_timeout: Duration::from_millis(300),
        connections_per_environment: 1,
        ..client_config(&s)
    };
    let client = ApnsClient::new(config, token_auth(&[&s])).expect("client");
    assert!(push(&client, 1).await.is_accepted());
    fault(
        FaultSpec {
            delay_ms: Some(10_000),
            count: Some(1),
            ..FaultSpec::default()
        },
        &s,
    );
    assert!(is_retry(&push(&client, 1).await, RetryCause::Timeout));
    assert!(
        push(&client, 1).await.is_accepted(),
        "a timeout does not spoil the connection"
    );
    assert_eq!(s.stats().connections_total, 1);
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_retry_with_backoff() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let config = ApnsConfig::default().with_url_for_both(format!("https://127.0.0.1:{port}"));
    let client =
        ApnsClient::new(config, Ca::new().client_cert(TOPIC, true, true, &[])).expect("client");
    match push(&client, 1).await {
        Outcome::Retry {
            cause: RetryCause::Connect,
            after: Some(after),
            response: None,
        } => {
            assert!(after <= Duration::from_secs(10));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.stats(Environment::Production).connections, 0);
}
