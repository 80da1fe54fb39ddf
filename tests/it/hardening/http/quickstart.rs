//! The quickstart endpoints against browsers: DNS rebinding (a foreign `Host`) and cross-site
//! GETs that would ring phones.

use crate::helpers::{Backend, assert_error, spawn_app_with};

#[tokio::test]
async fn quickstart_refuses_foreign_hosts_and_get_place_call() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.quickstart = true).await;
    for path in ["/accessToken?identity=alice", "/placeCall?to=alice"] {
        let res = app
            .client
            .post(app.url(path))
            .header("Host", "attacker.example")
            .send()
            .await
            .unwrap();
        assert_error(res, 403, 21402).await;
    }
    let res = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .header("Host", "attacker.example:8080")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, 21402).await;
    let res = app
        .client
        .get(app.url("/placeCall?to=alice"))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, 20405).await;
    // Addressed to the loopback host, as a phone or curl on the machine would.
    let res = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .header("Host", format!("localhost:{}", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn quickstart_allow_remote_skips_the_host_check() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.quickstart = true;
        c.quickstart_allow_remote = true;
    })
    .await;
    let res = app
        .client
        .get(app.url("/accessToken?identity=alice"))
        .header("Host", "voice.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await.unwrap();
}
