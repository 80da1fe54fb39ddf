//! `messages:send` over HTTP/2: success, the bearer checks, and FCM's body validation.

use std::time::Duration;

use serde_json::json;

use super::*;

#[tokio::test]
async fn accepts_a_well_formed_message() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let reply = send(&sim, &bearer, &message(&fcm_token(1))).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    let name = reply.json()["name"].as_str().unwrap().to_string();
    assert!(
        name.starts_with("projects/pushgate-test/messages/0:"),
        "{name}"
    );
    let again = send(&sim, &bearer, &message(&fcm_token(1))).await;
    assert_ne!(again.json()["name"].as_str().unwrap(), name);
    let log = sim.pushes(0);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].token, fcm_token(1));
    assert_eq!(log[0].protocol, "HTTP/2");
    assert_eq!(log[0].data.as_ref().unwrap()["caller"], "Alice");
    assert_eq!(log[0].android.as_ref().unwrap()["priority"], "HIGH");
    assert_eq!(
        log[0].client_email.as_deref(),
        Some(sim.service_account().client_email.as_str())
    );
    assert_eq!(log[0].name.as_deref(), Some(name.as_str()));
    let stats = sim.stats();
    assert_eq!(
        (stats.sends, stats.accepted, stats.connections_h2),
        (2, 2, 2)
    );
}

#[tokio::test]
async fn validate_only_and_camel_case_names() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let body = json!({ "validateOnly": true, "message": {
        "token": fcm_token(2), "android": { "collapseKey": "k", "ttl": "2.5s", "directBootOk": true } } });
    let reply = send(&sim, &bearer, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.json());
    assert_eq!(
        reply.json()["name"],
        "projects/pushgate-test/messages/fake_message_id"
    );
    let topic = json!({ "message": { "topic": "calls", "data": { "a": "b" } } });
    assert_eq!(send(&sim, &bearer, &topic).await.status, 200);
}

#[tokio::test]
async fn bearer_missing_unknown_or_expired_is_unauthenticated() {
    let (sim, clock) = sim().await;
    let body = message(&fcm_token(1));
    let missing = send(&sim, "", &body).await;
    assert_eq!(
        (missing.status, missing.json()["error"]["status"].clone()),
        (401, json!("UNAUTHENTICATED"))
    );
    assert!(
        missing
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let unknown = send(&sim, "ya29.not-issued-here", &body).await;
    assert_eq!(unknown.status, 401);
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    assert_eq!(send(&sim, &bearer, &body).await.status, 200);
    clock.advance(Duration::from_secs(3600));
    let expired = send(&sim, &bearer, &body).await;
    assert_eq!(expired.status, 401, "{}", expired.json());
    assert_eq!(
        expired.json()["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_EXPIRED"
    );
    assert_eq!(sim.stats().rejected_by_error_code["UNAUTHENTICATED"], 3);
}

#[tokio::test]
async fn another_projects_token_or_scope_is_permission_denied() {
    let (sim, clock) = sim().await;
    let other = sim
        .generate_service_account("other-project")
        .expect("generate");
    let bearer = access_token(&sim, &other, &clock).await;
    let reply = send(&sim, &bearer, &message(&fcm_token(1))).await;
    assert_eq!(reply.status, 403, "{}", reply.json());
    assert_eq!(reply.json()["error"]["status"], "PERMISSION_DENIED");
    let sa = sim.service_account().clone();
    let mut c = claims(&sa, sim.token_url(), now_secs(&clock));
    c["scope"] = json!("https://www.googleapis.com/auth/userinfo.email");
    let a = sign(&sa, &c);
    let (status, body) = token_request(
        &sim,
        &[
            ("grant_type", super::super::oauth::JWT_BEARER),
            ("assertion", &a),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let narrow = body["access_token"].as_str().unwrap();
    let reply = send(&sim, narrow, &message(&fcm_token(1))).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json()["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    );
}

#[tokio::test]
async fn invalid_registration_tokens() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    for token in ["", "has space", "bad/slash", "émoji"] {
        let reply = send(&sim, &bearer, &message(token)).await;
        assert_fcm_error(&reply, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT");
        assert_eq!(
            reply.message(),
            "The registration token is not a valid FCM registration token"
        );
    }
}

async fn invalid(sim: &Simulator, bearer: &str, body: Value) -> String {
    let reply = send(sim, bearer, &body).await;
    assert_eq!(reply.status, 400, "{body} -> {}", reply.json());
    assert_eq!(reply.json()["error"]["status"], "INVALID_ARGUMENT");
    reply.message()
}

#[tokio::test]
async fn android_fields_are_checked() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let t = fcm_token(1);
    for ttl in [
        json!("30"),
        json!("1.5m"),
        json!("-1s"),
        json!("1.1234567890s"),
        json!(30),
        json!("2419201s"),
    ] {
        let m = invalid(
            &sim,
            &bearer,
            json!({ "message": { "token": t, "android": { "ttl": ttl } } }),
        )
        .await;
        assert!(
            m.starts_with("Invalid value at 'message.android.ttl'"),
            "{m}"
        );
    }
    for ok in ["0s", "2419200s", "3.000000001s"] {
        let body = json!({ "message": { "token": t, "android": { "ttl": ok } } });
        assert_eq!(send(&sim, &bearer, &body).await.status, 200, "{ok}");
    }
    for priority in [json!("URGENT"), json!("high"), json!(10)] {
        let m = invalid(
            &sim,
            &bearer,
            json!({ "message": { "token": t, "android": { "priority": priority } } }),
        )
        .await;
        assert!(
            m.starts_with("Invalid value at 'message.android.priority'"),
            "{m}"
        );
    }
    let m = invalid(
        &sim,
        &bearer,
        json!({ "message": { "token": t, "android": { "collapse_key": 5 } } }),
    )
    .await;
    assert!(m.contains("message.android.collapse_key"), "{m}");
    let m = invalid(
        &sim,
        &bearer,
        json!({ "message": { "token": t, "android": { "speed": 1 } } }),
    )
    .await;
    assert!(
        m.contains("Unknown name \"speed\" at 'message.android'"),
        "{m}"
    );
}

#[tokio::test]
async fn data_values_keys_and_size_are_checked() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let t = fcm_token(1);
    let m = invalid(
        &sim,
        &bearer,
        json!({ "message": { "token": t, "data": { "n": 12 } } }),
    )
    .await;
    assert_eq!(
        m,
        "Invalid value at 'message.data[0].value' (TYPE_STRING), 12"
    );
    for key in [
        "from",
        "notification",
        "message_type",
        "google.x",
        "gcm.n.e",
        "googlefoo",
    ] {
        let m = invalid(
            &sim,
            &bearer,
            json!({ "message": { "token": t, "data": { key: "v" } } }),
        )
        .await;
        assert!(m.contains("reserved"), "{key}: {m}");
    }
    let big = "x".repeat(4096 - 1);
    let m = invalid(
        &sim,
        &bearer,
        json!({ "message": { "token": t, "data": { "ab": big } } }),
    )
    .await;
    assert_eq!(m, "Android message is too big");
    let fits = json!({ "message": { "token": t, "data": { "a": big } } });
    assert_eq!(send(&sim, &bearer, &fits).await.status, 200);
}

#[tokio::test]
async fn shape_errors_name_the_problem() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let t = fcm_token(1);
    let m = invalid(&sim, &bearer, json!({ "message": { "data": {} } })).await;
    assert_eq!(m, "Recipient of the message is not set.");
    let m = invalid(
        &sim,
        &bearer,
        json!({ "message": { "token": t, "topic": "x" } }),
    )
    .await;
    assert!(m.contains("oneof"), "{m}");
    let m = invalid(
        &sim,
        &bearer,
        json!({ "message": { "token": t, "extra": 1 } }),
    )
    .await;
    assert!(m.contains("Unknown name \"extra\" at 'message'"), "{m}");
    let m = invalid(&sim, &bearer, json!({ "msg": {} })).await;
    assert!(m.contains("Unknown name \"msg\""), "{m}");
    invalid(&sim, &bearer, json!({ "message": "text" })).await;
    invalid(&sim, &bearer, json!([1, 2])).await;
    let h2 = H2::connect(&sim).await;
    let reply = h2
        .post(&send_path(PROJECT), &bearer, b"{not json")
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    let huge = format!(
        r#"{{"message":{{"token":"{t}","data":{{"a":"{}"}}}}}}"#,
        "x".repeat(70_000)
    );
    let reply = h2
        .post(&send_path(PROJECT), &bearer, huge.as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert!(
        reply.message().contains("exceeds the limit"),
        "{}",
        reply.message()
    );
    let reply = h2
        .post("/v1/projects/pushgate-test/messages:bogus", &bearer, b"{}")
        .await
        .unwrap();
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn sends_also_work_over_http1() {
    let (sim, clock) = sim().await;
    let bearer = access_token(&sim, &sim.service_account().clone(), &clock).await;
    let url = format!("{}{}", sim.base_url(), send_path(PROJECT));
    let resp = http1(&sim)
        .post(url)
        .bearer_auth(&bearer)
        .json(&message(&fcm_token(3)))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(sim.pushes(0)[0].protocol, "HTTP/1.1");
}
