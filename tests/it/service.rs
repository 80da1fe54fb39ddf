//! The service itself: health, readiness, OpenAPI, JSON errors for unknown routes, and
//! graceful shutdown.

use serde_json::Value;

use crate::helpers::{Backend, assert_error, spawn_app, spawn_app_with, store_tests};

async fn health_and_readiness(b: Backend) {
    let app = spawn_app(b).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

async fn without_the_store_readyz_and_api_answer_503(b: Backend) {
    let app = spawn_app(b).await;
    // A router over a store whose pool is closed: alive, not ready.
    let state = pushgate::start_services(app.config.clone(), app.store.clone(), app.master.clone())
        .await
        .unwrap();
    app.store.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, pushgate::http::router(state)).await });
    let url = |p: &str| format!("http://{addr}{p}");
    let res = app.client.get(url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.client.get(url("/readyz")).send().await.unwrap();
    assert_error(res, 503, 20503).await;
    let res = app
        .client
        .get(url("/v1/registrations"))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_error(res, 503, 20503).await;
}

async fn openapi_describes_every_endpoint(b: Backend) {
    let app = spawn_app(b).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/readyz",
        "/v1/registrations",
        "/v1/registrations/{sid}",
        "/v1/keys",
        "/v1/keys/{sid}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

async fn unknown_routes_and_methods_get_json_errors(b: Backend) {
    let app = spawn_app(b).await;
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_error(res, 404, 20404).await;
    let res = app
        .client
        .put(app.url("/v1/registrations"))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, 20405).await;
}

async fn shuts_down_gracefully(b: Backend) {
    let app = spawn_app(b).await;
    let client = app.client.clone();
    let url = app.url("/healthz");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    app.stop().await.expect("clean shutdown");
    assert!(
        client.get(&url).send().await.is_err(),
        "no longer accepting"
    );
}

async fn readiness_reports_redis_when_configured(b: Backend) {
    let redis = std::env::var("PUSHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let app = spawn_app_with(b, |c| c.redis_url = Some(redis)).await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(
        (status, body["redis"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
}

/// Shutdown waits for every tracked task: work in flight finishes, long timers are cut short,
/// and nothing is left running — embedded and with the Redis queue.
async fn shutdown_waits_for_tracked_tasks(b: Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let app = spawn_app(b).await;
    let redis = std::env::var("PUSHGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    for redis_url in [None, Some(redis)] {
        let mut config = app.config.clone();
        config.redis_url = redis_url;
        let state = pushgate::start_services(config, app.store.clone(), app.master.clone())
            .await
            .unwrap();
        let tasks = state.engine.tasks().clone();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            flag.store(true, Ordering::SeqCst);
        });
        let stop = tasks.stopping();
        tasks.spawn(async move {
            pushgate::tasks::sleep_unless(&stop, Duration::from_secs(3600)).await
        });
        tokio::time::timeout(Duration::from_secs(20), state.engine.shutdown())
            .await
            .expect("no task holds up shutdown");
        assert!(
            finished.load(Ordering::SeqCst),
            "waited for the task in flight"
        );
        assert_eq!(tasks.running(), 0, "every tracked task ended");
    }
}

store_tests!(
    shutdown_waits_for_tracked_tasks,
    readiness_reports_redis_when_configured,
    health_and_readiness,
    without_the_store_readyz_and_api_answer_503,
    openapi_describes_every_endpoint,
    unknown_routes_and_methods_get_json_errors,
    shuts_down_gracefully,
);
