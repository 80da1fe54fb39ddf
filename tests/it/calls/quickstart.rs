//! The quickstart endpoints (`/accessToken`, `/placeCall`), answering like Twilio's
//! quickstart servers.

use crate::helpers::{Backend, device_token, spawn_app_with_apns, store_tests};

async fn quickstart_endpoints_work_like_the_quickstart_servers(b: Backend) {
    let (app, apns) = spawn_app_with_apns(b, |c| c.quickstart = true).await;
    let token = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token = token.text().await.unwrap();
    apns.register(&device_token(1), "production");
    assert_eq!(app.register(&token, &device_token(1)).await.status(), 201);
    let call = app
        .client
        .post(app.url("/placeCall"))
        .form(&[("to", "alice")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(call.starts_with("CA"), "{call}");
    let (_, invite) = app.get_json(&format!("/v1/invites/{call}?wait=5000")).await;
    assert_eq!(invite["from"], "client:quick_start");
    assert_eq!(invite["status"], "delivered");
    let res = app
        .client
        .post(app.url("/placeCall?to=nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

store_tests!(quickstart_endpoints_work_like_the_quickstart_servers,);
