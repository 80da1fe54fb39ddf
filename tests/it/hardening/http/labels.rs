//! Metric label cardinality: methods a client invents must not mint series.

use crate::helpers::{Backend, TestApp, spawn_app};

/// Series (sample lines) in `/metrics`, and the body's size.
async fn metrics(app: &TestApp) -> (usize, usize) {
    let body = app.metrics_text().await;
    let series = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    (series, body.len())
}

fn random_token(n: usize) -> String {
    let bytes: [u8; 16] = pushgate::domain::random_bytes();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..n)
        .map(|i| alphabet[(bytes[i % 16] as usize + i * 7) % 26] as char)
        .collect()
}

#[tokio::test]
async fn invented_and_huge_methods_mint_no_series() {
    let app = spawn_app(Backend::Sqlite).await;
    // Every label value a normal request can produce, once.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    metrics(&app).await; // the first scrape adds /metrics' own series
    let (series_before, _) = metrics(&app).await;

    for i in 0..2_000 {
        let method = format!("M{}{i}", random_token(8));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app
            .client
            .request(method, app.url(&format!("/v1/invites/x{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
    }
    for _ in 0..200 {
        let method = random_token(60 * 1024);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app
            .client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
    }

    let (series_after, size) = metrics(&app).await;
    // A few series may appear (the /metrics requests themselves, process gauges): never one
    // per method.
    assert!(
        series_after <= series_before + 20,
        "series grew from {series_before} to {series_after}"
    );
    assert!(size < 256 * 1024, "/metrics is {size} bytes");
    app.stop().await.unwrap();
}
