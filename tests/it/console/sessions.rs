//! Console sessions: cookie flags, what the store keeps, sign-out, idle expiry, revoked keys,
//! CSRF and cross-origin refusals, the sign-in limiter and the security headers.

use secrecy::ExposeSecret;

use super::Console;
use crate::helpers::{Backend, spawn_app, spawn_app_with, store_tests};

async fn sign_in_sets_a_strict_cookie_and_stores_only_a_hash(b: Backend) {
    let app = spawn_app(b).await;
    let mut c = Console::new(&app);
    let res = c.get("/console").await;
    assert_eq!(res.status(), 303, "signed out: to the sign-in page");
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/console/sign-in")
    );
    let res = c
        .sign_in_as(app.key.as_str(), app.secret.expose_secret())
        .await;
    assert_eq!(res.status(), 303);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain http without an https public_url"
    );
    let id = c.cookie.clone().unwrap();
    let id = id.split('=').nth(1).unwrap().to_owned();
    let page = c.page("/console").await;
    assert!(
        page.contains(app.key.as_str()),
        "the overview names the key"
    );
    // The store has the session under a hash, never the id or the CSRF token.
    let csrf = c.csrf().await;
    let dump = super::session_rows_text(&app).await;
    assert!(dump.contains(app.key.as_str()));
    assert!(!dump.contains(&id), "the session id is not stored");
    assert!(!dump.contains(&csrf), "the CSRF token is not stored");

    // Sign-out ends it: the same cookie no longer works.
    let res = c.submit("/console/sign-out", &[]).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(c.get("/console").await.status(), 303);
    app.stop().await.unwrap();
}

async fn an_https_public_url_makes_the_cookie_secure_and_is_a_trusted_origin(b: Backend) {
    let app = spawn_app_with(b, |c| {
        c.public_url = Some("https://push.example.com".into())
    })
    .await;
    let mut c = Console::new(&app);
    let res = c
        .sign_in_as(app.key.as_str(), app.secret.expose_secret())
        .await;
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
    // Behind a proxy that rewrites Host, forms come from the public URL's origin.
    let csrf = c.csrf().await;
    let res = c
        .http
        .post(app.url("/console/keys"))
        .header("Cookie", c.cookie.clone().unwrap())
        .header("Origin", "https://push.example.com")
        .form(&[("friendly_name", "behind a proxy"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.stop().await.unwrap();
}

async fn an_idle_session_expires(b: Backend) {
    let app = spawn_app(b).await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    // Pretend the last request was 31 minutes ago (the default idle timeout is 30).
    super::age_console_sessions(&app, 31 * 60_000).await;
    let res = c.get("/console/keys").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/sign-in?reason=expired");
    app.stop().await.unwrap();
}

async fn a_revoked_key_ends_its_sessions(b: Backend) {
    let app = spawn_app(b).await;
    // A second key, signed in, revoked through the API.
    let created =
        pushgate::auth::api_keys::create_key(&app.store, &app.master, &app.account, "ops")
            .await
            .unwrap();
    let mut c = Console::new(&app);
    let res = c
        .sign_in_as(created.record.sid.as_str(), created.secret.expose_secret())
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(c.get("/console/keys").await.status(), 200);
    let res = app
        .client
        .delete(app.url(&format!("/v1/keys/{}", created.record.sid)))
        .header("Authorization", app.basic())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = c.get("/console/keys").await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/console/sign-in")
    );
    app.stop().await.unwrap();
}

async fn posts_without_the_csrf_token_or_from_another_site_are_refused(b: Backend) {
    let app = spawn_app(b).await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    let before = app.store.api_keys(&app.account).await.unwrap().len();
    // A cross-site form: the browser sends the cookie only if SameSite allowed it; even then
    // it can't know the token.
    let res = c.post("/console/keys", &[("friendly_name", "evil")]).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("21703"));
    let res = c
        .post(
            "/console/keys",
            &[("friendly_name", "evil"), ("csrf", &"0".repeat(64))],
        )
        .await;
    assert_eq!(res.status(), 403, "another token");
    let csrf = c.csrf().await;
    let res = c
        .http
        .post(app.url("/console/keys"))
        .header("Cookie", c.cookie.clone().unwrap())
        .header("Origin", "https://evil.example")
        .form(&[("friendly_name", "evil"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("21704"));
    assert_eq!(
        app.store.api_keys(&app.account).await.unwrap().len(),
        before
    );
    // With the token, from the console's own origin: created.
    let origin = format!("http://{}", app.addr);
    let res = c
        .http
        .post(app.url("/console/keys"))
        .header("Cookie", c.cookie.clone().unwrap())
        .header("Origin", origin)
        .form(&[("friendly_name", "ops"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        app.store.api_keys(&app.account).await.unwrap().len(),
        before + 1
    );
    app.stop().await.unwrap();
}

async fn failed_sign_ins_are_rate_limited(b: Backend) {
    let app = spawn_app_with(b, |c| c.auth_failures_per_minute = 3).await;
    let mut c = Console::new(&app);
    for _ in 0..3 {
        let res = c.sign_in_as(app.key.as_str(), "wrong").await;
        assert_eq!(res.status(), 401);
        assert!(res.text().await.unwrap().contains("21701"));
    }
    let res = c.sign_in_as(app.key.as_str(), "wrong").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("20429"));
    // The right secret still works: only failures are limited.
    c.sign_in().await;
    app.stop().await.unwrap();
}

async fn every_response_carries_the_security_headers(b: Backend) {
    let app = spawn_app(b).await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    for path in [
        "/console/sign-in",
        "/console",
        "/console/keys",
        "/console/nope",
    ] {
        let res = c.get(path).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    let res = c.get("/console/assets/htmx.min.js").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // No inline script or style anywhere a page could carry one.
    let page = c.page("/console/keys").await;
    assert!(!page.contains("<script>") && !page.contains("style="));
    app.stop().await.unwrap();
}

async fn a_session_works_on_every_replica(b: Backend) {
    let app = spawn_app(b).await;
    let replica = app.spawn_replica().await;
    let mut c = Console::new(&app);
    c.sign_in().await;
    let cookie = c.cookie.clone().unwrap();
    let get = |url: String| c.http.get(url).header("Cookie", cookie.clone()).send();
    let res = get(replica.url("/console/keys")).await.unwrap();
    assert_eq!(res.status(), 200, "signed in on the other replica too");
    let csrf = super::csrf_in(&res.text().await.unwrap());
    let res = c
        .http
        .post(replica.url("/console/sign-out"))
        .header("Cookie", cookie.clone())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = get(app.url("/console/keys")).await.unwrap();
    assert_eq!(res.status(), 303, "signed out there: signed out here");
    replica.stop().await.unwrap();
    app.stop().await.unwrap();
}

async fn scripted_requests_without_a_session_get_401(b: Backend) {
    let app = spawn_app(b).await;
    let c = Console::new(&app);
    let res = c
        .http
        .get(app.url("/console/calls/events"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "an EventSource can't follow a redirect");
    assert!(res.text().await.unwrap().contains("21702"));
    app.stop().await.unwrap();
}

async fn the_console_can_be_turned_off(b: Backend) {
    let app = spawn_app_with(b, |c| c.console = false).await;
    let res = Console::new(&app).get("/console/sign-in").await;
    assert_eq!(res.status(), 404);
    app.stop().await.unwrap();
}

store_tests!(
    sign_in_sets_a_strict_cookie_and_stores_only_a_hash,
    an_https_public_url_makes_the_cookie_secure_and_is_a_trusted_origin,
    an_idle_session_expires,
    a_revoked_key_ends_its_sessions,
    posts_without_the_csrf_token_or_from_another_site_are_refused,
    failed_sign_ins_are_rate_limited,
    every_response_carries_the_security_headers,
    a_session_works_on_every_replica,
    scripted_requests_without_a_session_get_401,
    the_console_can_be_turned_off,
);
