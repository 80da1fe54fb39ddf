//! FCM access tokens: one exchange serves many pushes, a token near its expiry is replaced
//! once, and replicas on PostgreSQL + Redis share one token.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    Backend, fcm_token, redis_prefix, redis_url, spawn_app_with_fcm, spawn_app_with_fcm_sim,
    store_tests,
};

async fn one_token_serves_many_pushes_and_is_replaced_near_expiry(b: Backend) {
    // Tokens live 4 s: replaced once less than half their life is left.
    let (app, _apns, fcm) =
        spawn_app_with_fcm_sim(b, |s| s.token_lifetime = Duration::from_secs(4), |_| {}).await;
    fcm.register(&fcm_token(1));
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    for _ in 0..5 {
        let (_, invite) = app
            .invite(json!({"to": "alice", "from": "client:bob"}))
            .await;
        let settled = app.settled(invite["sid"].as_str().unwrap()).await;
        assert_eq!(settled["status"], "delivered");
    }
    assert_eq!(
        fcm.sim.stats().tokens_issued,
        1,
        "one exchange for five pushes"
    );
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    for _ in 0..3 {
        let (_, invite) = app
            .invite(json!({"to": "alice", "from": "client:bob"}))
            .await;
        app.settled(invite["sid"].as_str().unwrap()).await;
    }
    assert_eq!(
        fcm.sim.stats().tokens_issued,
        2,
        "replaced once near its expiry"
    );
    // Expired under us (FCM says 401): refreshed once, the push goes through.
    fcm.sim.expire_access_tokens();
    let (_, invite) = app
        .invite(json!({"to": "alice", "from": "client:bob"}))
        .await;
    let settled = app.settled(invite["sid"].as_str().unwrap()).await;
    assert_eq!(settled["deliveries"][0]["status"], "accepted", "{settled}");
    assert_eq!(fcm.sim.stats().tokens_issued, 3);
}

store_tests!(one_token_serves_many_pushes_and_is_replaced_near_expiry);

#[tokio::test]
async fn replicas_share_one_access_token_through_redis() {
    let (app, _apns, fcm) = spawn_app_with_fcm(Backend::Postgres, |c| {
        c.redis_url = Some(redis_url());
        c.redis_key_prefix = redis_prefix();
    })
    .await;
    fcm.register(&fcm_token(1));
    app.register_android("alice", &fcm.credential, &fcm_token(1))
        .await;
    let replicas = [app.spawn_replica().await, app.spawn_replica().await];
    let mut urls = vec![app.url("/v1/invites")];
    urls.extend(replicas.iter().map(|r| r.url("/v1/invites")));
    let mut invites = Vec::new();
    for round in 0..4 {
        for url in &urls {
            let res = app
                .client
                .post(url)
                .header("Authorization", app.basic())
                .json(&json!({"to": "alice", "from": format!("client:bob{round}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
            let body: serde_json::Value = res.json().await.unwrap();
            invites.push(body["sid"].as_str().unwrap().to_owned());
        }
    }
    for sid in &invites {
        let settled = app.settled(sid).await;
        assert_eq!(settled["status"], "delivered", "{settled}");
    }
    assert_eq!(fcm.pushes().len(), 12);
    let stats = fcm.sim.stats();
    assert_eq!(
        stats.tokens_issued, 1,
        "three replicas, one access token: {stats:?}"
    );
    for r in replicas {
        r.stop().await.unwrap();
    }
}
