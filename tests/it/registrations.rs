//! Device registration: the SDK wire format, idempotent refreshes, identity moves, the
//! per-identity limit, unregistering, operator listing, and bad input.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, assert_error, basic, device_token, spawn_app, spawn_app_with, store_tests,
};

async fn registers_with_the_sdk_wire_format(b: Backend) {
    let app = spawn_app(b).await;
    let token = device_token(0xab).to_uppercase();
    let res = app.register(&app.token("alice"), &token).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let sid = body["sid"].as_str().unwrap();
    assert!(sid.starts_with("BS") && sid.len() == 34);
    assert_eq!(location, format!("/v1/registrations/{sid}"));
    assert_eq!(body["identity"], "alice");
    assert_eq!(body["credential_sid"], app.credential.as_str());
    assert_eq!(body["binding_type"], "apn");
    assert_eq!(
        body["address"], "abababab…abab",
        "token shown only shortened"
    );
    assert!(!body.to_string().contains(&device_token(0xab)));
    // Stored lowercase, whole.
    let stored = app
        .store
        .registrations(&app.account, None, None, 10)
        .await
        .unwrap();
    assert_eq!(
        stored.registrations[0].device_token.as_hex(),
        device_token(0xab)
    );
    // The plain form works too.
    let res = app
        .client
        .post(app.url("/v1/registrations"))
        .header("X-Twilio-Token", app.token("alice"))
        .json(&json!({"binding_type": "apn", "address": device_token(2)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

async fn reregistering_is_idempotent_and_moves_identity(b: Backend) {
    let app = spawn_app(b).await;
    let first: Value = app
        .register(&app.token("alice"), &device_token(1))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = app
        .register(&app.token("alice"), &device_token(1))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["sid"], again["sid"]);
    assert_eq!(first["date_created"], again["date_created"]);
    assert!(again["date_updated"].as_str() >= first["date_updated"].as_str());
    assert_eq!(app.registration_count().await, 1);

    // Bob logs in on the same phone: the token now rings bob only.
    let moved: Value = app
        .register(&app.token("bob"), &device_token(1))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["sid"], first["sid"]);
    assert_eq!(moved["identity"], "bob");
    let (_, alice) = app.get_json("/v1/registrations?identity=alice").await;
    assert_eq!(alice["registrations"].as_array().unwrap().len(), 0);
    let (_, bob) = app.get_json("/v1/registrations?identity=bob").await;
    assert_eq!(bob["registrations"].as_array().unwrap().len(), 1);
}

async fn the_identity_limit_retires_the_stalest(b: Backend) {
    let app = spawn_app_with(b, |c| c.max_registrations_per_identity = 2).await;
    let alice = app.token("alice");
    let mut sids = Vec::new();
    for seed in 1..=2 {
        let body: Value = app
            .register(&alice, &device_token(seed))
            .await
            .json()
            .await
            .unwrap();
        sids.push(body["sid"].as_str().unwrap().to_owned());
        // Distinct refresh times, so "least recently refreshed" is unambiguous.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Refresh the first: the second becomes the stalest.
    app.register(&alice, &device_token(1)).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let third: Value = app
        .register(&alice, &device_token(3))
        .await
        .json()
        .await
        .unwrap();
    let (_, list) = app.get_json("/v1/registrations?identity=alice").await;
    let mut remaining: Vec<&str> = list["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].as_str().unwrap())
        .collect();
    remaining.sort();
    let mut expected = vec![sids[0].as_str(), third["sid"].as_str().unwrap()];
    expected.sort();
    assert_eq!(remaining, expected);
    // Another identity is unaffected by alice's limit.
    assert_eq!(
        app.register(&app.token("bob"), &device_token(9))
            .await
            .status(),
        201
    );
}

async fn phones_unregister_only_their_own(b: Backend) {
    let app = spawn_app(b).await;
    let res = app.register(&app.token("alice"), &device_token(1)).await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let as_bob = app
        .client
        .delete(app.url(&location))
        .header("X-Twilio-Token", app.token("bob"))
        .send()
        .await
        .unwrap();
    assert_error(as_bob, 404, 20404).await;
    let fetched = app
        .client
        .get(app.url(&location))
        .header("X-Twilio-Token", app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    let as_alice = app
        .client
        .delete(app.url(&location))
        .header("X-Twilio-Token", app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(as_alice.status(), 204);
    assert_eq!(app.registration_count().await, 0);
    let again = app
        .client
        .delete(app.url(&location))
        .header("X-Twilio-Token", app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_error(again, 404, 20404).await;
}

async fn operators_list_page_and_delete(b: Backend) {
    let app = spawn_app(b).await;
    for seed in 1..=5 {
        app.register(&app.token("alice"), &device_token(seed)).await;
    }
    app.register(&app.token("bob"), &device_token(6)).await;
    let mut seen = Vec::new();
    let mut path = "/v1/registrations?identity=alice&page_size=2".to_owned();
    loop {
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200);
        for r in page["registrations"].as_array().unwrap() {
            assert_eq!(r["identity"], "alice");
            seen.push(r["sid"].as_str().unwrap().to_owned());
        }
        match page["meta"]["next_page_token"].as_str() {
            Some(next) => {
                path = format!("/v1/registrations?identity=alice&page_size=2&page_token={next}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let (_, all) = app.get_json("/v1/registrations").await;
    assert_eq!(all["registrations"].as_array().unwrap().len(), 6);
    let res = app
        .client
        .delete(app.url(&format!("/v1/registrations/{}", seen[0])))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.registration_count().await, 5);
    let (status, _) = app.get_json("/v1/registrations?page_size=0").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/v1/registrations?page_token=junk").await;
    assert_eq!(status, 400);
}

async fn operator_endpoints_require_a_valid_key(b: Backend) {
    let app = spawn_app(b).await;
    let res = app
        .client
        .get(app.url("/v1/registrations"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Basic realm=\"pushgate\""
    );
    assert_error(res, 401, 20003).await;
    let res = app
        .client
        .get(app.url("/v1/registrations"))
        .header("Authorization", basic(app.key.as_str(), "wrong"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20151).await;
    let res = app
        .client
        .get(app.url("/v1/registrations"))
        .header("Authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20003).await;
    // A phone's access token is not an operator credential.
    let res = app
        .client
        .get(app.url("/v1/registrations"))
        .header("X-Twilio-Token", app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, 20003).await;
}

async fn bad_input_gets_a_clear_4xx_and_writes_nothing(b: Backend) {
    let app = spawn_app_with(b, |c| c.max_body_bytes = 4096).await;
    let token = app.token("alice");
    let post = |body: String, content_type: &'static str| {
        app.client
            .post(app.url("/v1/registrations"))
            .header("X-Twilio-Token", token.clone())
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let json_ct = "application/json";
    assert_error(post("{not json".into(), json_ct).await.unwrap(), 400, 21001).await;
    assert_error(post("[1,2]".into(), json_ct).await.unwrap(), 400, 21001).await;
    assert_error(post("{}".into(), "text/plain").await.unwrap(), 415, 21002).await;
    let huge = format!(
        "{{\"binding_type\":\"apn\",\"address\":\"{}\"}}",
        "a".repeat(10_000)
    );
    assert_error(post(huge, json_ct).await.unwrap(), 413, 21003).await;
    let cases = [
        (
            json!({"channel_type": "gcm", "data": {"registration_id": device_token(1)}}),
            21005,
        ),
        (json!({"data": {"registration_id": device_token(1)}}), 20001),
        (json!({"channel_type": "apn"}), 21004),
        (
            json!({"channel_type": "apn", "data": {"registration_id": "xyz".repeat(22)}}),
            21004,
        ),
        (
            json!({"channel_type": "apn", "data": {"registration_id": "abc"}}),
            21004,
        ),
        (
            json!({"binding_type": "apn", "address": "ab".repeat(31)}),
            21004,
        ),
        (json!({"binding_type": "apn", "address": 42}), 21001),
    ];
    for (body, code) in cases {
        let res = post(body.to_string(), json_ct).await.unwrap();
        assert_error(res, 400, code).await;
    }
    assert_eq!(app.registration_count().await, 0);
    let res = app
        .client
        .delete(app.url("/v1/registrations/BSnot-a-sid"))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_error(res, 404, 20404).await;
}

store_tests!(
    registers_with_the_sdk_wire_format,
    reregistering_is_idempotent_and_moves_identity,
    the_identity_limit_retires_the_stalest,
    phones_unregister_only_their_own,
    operators_list_page_and_delete,
    operator_endpoints_require_a_valid_key,
    bad_input_gets_a_clear_4xx_and_writes_nothing,
);
