//! Success in each environment and every request-validation reason.

use super::*;
use crate::mock_apns::EnvironmentMode;
use crate::mock_apns::validate::is_uuid;

fn bearer_for(clock: &ManualClock) -> String {
    // No keys registered and not strict: any well-formed token is accepted.
    Key::new("ABCDE12345", "TEAM123456").token(now_secs(clock), false)
}

#[tokio::test]
async fn success_in_production_has_no_unique_id() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let c = Client::connect(&sim, None).await;
    let r = push(&c, &device_token(1), &voip_headers(&bearer_for(&clock))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.is_empty());
    assert!(is_uuid(r.header("apns-id").expect("apns-id")));
    assert!(r.header("apns-unique-id").is_none());
}

#[tokio::test]
async fn success_in_development_has_unique_id_and_echoes_apns_id() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Development, &clock)).await;
    let c = Client::connect(&sim, None).await;
    let mut headers = voip_headers(&bearer_for(&clock));
    let id = "6F4E2C1A-0B3D-4E5F-8A9B-1C2D3E4F5A6B";
    headers.push(("apns-id", id.into()));
    let r = push(&c, &device_token(1), &headers).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("apns-id"), Some(id));
    assert!(is_uuid(r.header("apns-unique-id").expect("unique id")));
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    reason: &'static str,
}

fn cases(bearer: &str) -> Vec<Case> {
    let ok_path = format!("/3/device/{}", device_token(7));
    let base = voip_headers(bearer);
    let with = |extra: &[(&'static str, &str)]| {
        let mut h = base.clone();
        for (k, v) in extra {
            h.retain(|(name, _)| name != k);
            h.push((k, v.to_string()));
        }
        h
    };
    let without = |name: &str| base.iter().filter(|(k, _)| *k != name).cloned().collect();
    let case = |name, headers, body: &[u8], status, reason| Case {
        name,
        method: "POST",
        path: ok_path.clone(),
        headers,
        body: body.to_vec(),
        status,
        reason,
    };
    let big = |n: usize| format!(r#"{{"x":"{}"}}"#, "a".repeat(n - 8)).into_bytes();
    let mut duplicated = base.clone();
    duplicated.push(("apns-topic", "com.example.app.voip".into()));
    let long_collapse = "c".repeat(65);
    vec![
        Case {
            method: "GET",
            ..case("method", base.clone(), b"", 405, "MethodNotAllowed")
        },
        Case {
            path: "/3/foo".into(),
            ..case("path", base.clone(), PAYLOAD, 404, "BadPath")
        },
        Case {
            path: "/3/device/".into(),
            ..case("no token", base.clone(), PAYLOAD, 400, "MissingDeviceToken")
        },
        Case {
            path: "/3/device/xyz".into(),
            ..case("hex", base.clone(), PAYLOAD, 400, "BadDeviceToken")
        },
        case("dup", duplicated, PAYLOAD, 400, "DuplicateHeaders"),
        case(
            "id",
            with(&[("apns-id", "nope")]),
            PAYLOAD,
            400,
            "BadMessageId",
        ),
        case(
            "no auth",
            without("authorization"),
            PAYLOAD,
            403,
            "MissingProviderToken",
        ),
        case(
            "bad jwt",
            with(&[("authorization", "bearer a.b.c")]),
            PAYLOAD,
            403,
            "InvalidProviderToken",
        ),
        case(
            "no topic",
            without("apns-topic"),
            PAYLOAD,
            400,
            "MissingTopic",
        ),
        case(
            "type",
            with(&[("apns-push-type", "fax")]),
            PAYLOAD,
            400,
            "InvalidPushType",
        ),
        case(
            "voip topic",
            with(&[("apns-topic", "com.example.app")]),
            PAYLOAD,
            400,
            "InvalidPushType",
        ),
        case(
            "priority",
            with(&[("apns-priority", "7")]),
            PAYLOAD,
            400,
            "BadPriority",
        ),
        case(
            "expiration",
            with(&[("apns-expiration", "soon")]),
            PAYLOAD,
            400,
            "BadExpirationDate",
        ),
        case(
            "collapse",
            with(&[("apns-collapse-id", &long_collapse)]),
            PAYLOAD,
            400,
            "BadCollapseId",
        ),
        case("empty", base.clone(), b"", 400, "PayloadEmpty"),
        case(
            "voip 5121",
            base.clone(),
            &big(5121),
            413,
            "PayloadTooLarge",
        ),
        case("voip 5120", base.clone(), &big(5120), 200, ""),
        case(
            "alert 4097",
            with(&[
                ("apns-push-type", "alert"),
                ("apns-topic", "com.example.app"),
            ]),
            &big(4097),
            413,
            "PayloadTooLarge",
        ),
        case(
            "alert 4096",
            with(&[
                ("apns-push-type", "alert"),
                ("apns-topic", "com.example.app"),
            ]),
            &big(4096),
            200,
            "",
        ),
        case("not json", base.clone(), b"hello", 400, "BadPayload"),
        case("json array", base.clone(), b"[1]", 400, "BadPayload"),
        case(
            "64-byte collapse id",
            with(&[("apns-collapse-id", &"c".repeat(64))]),
            PAYLOAD,
            200,
            "",
        ),
        case(
            "inferred voip type",
            without("apns-push-type"),
            PAYLOAD,
            200,
            "",
        ),
    ]
}

#[tokio::test]
async fn each_validation_reason() {
    let clock = clock();
    let sim = run(config(EnvironmentMode::Production, &clock)).await;
    let c = Client::connect(&sim, None).await;
    let mut failures = Vec::new();
    for case in cases(&bearer_for(&clock)) {
        let h: Vec<(&str, &str)> = case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c
            .send(request(case.method, &case.path, &h), &case.body)
            .await
            .expect("send");
        if r.status != case.status || r.reason() != case.reason {
            failures.push(format!(
                "{}: got {} {:?}, want {} {}",
                case.name,
                r.status,
                r.reason(),
                case.status,
                case.reason
            ));
        }
        assert!(is_uuid(r.header("apns-id").unwrap_or("")), "{}", case.name);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let stats = sim.stats();
    assert_eq!(stats.rejected_by_reason.get("PayloadTooLarge"), Some(&2));
    assert_eq!(stats.connections_total, 1);
}

#[tokio::test]
async fn the_tap_sees_each_push_with_its_collapse_id_and_answer() {
    let clock = clock();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let tap = crate::mock_apns::PushTap::new(move |e| {
        let entry = (
            e.collapse_id.map(str::to_owned),
            e.status,
            e.reason.map(str::to_owned),
        );
        assert!(e.payload.is_some_and(|p| !p.is_empty()), "the body is lent");
        sink.lock().unwrap().push(entry);
    });
    let sim = run(SimulatorConfig {
        tap: Some(tap),
        ..config(EnvironmentMode::Production, &clock)
    })
    .await;
    let c = Client::connect(&sim, None).await;
    let mut headers = voip_headers(&bearer_for(&clock));
    headers.push(("apns-collapse-id", "CA0123".into()));
    assert_eq!(push(&c, &device_token(1), &headers).await.status, 200);
    assert_eq!(push(&c, "zz", &headers).await.status, 400);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (Some("CA0123".into()), 200, None),
            (Some("CA0123".into()), 400, Some("BadDeviceToken".into())),
        ]
    );
}
