//! The operator console over real HTTP on both stores: sessions (cookie flags, idle expiry,
//! sign-out, revoked keys), CSRF and cross-origin refusals, rate-limited sign-in, the
//! security headers, escaping, and each page's forms calling the same services as the API.
//! The real-browser run is `scripts/check-console.sh`.

mod pages;
mod sessions;

use reqwest::redirect::Policy;
use secrecy::ExposeSecret;

use crate::helpers::TestApp;

/// A browser-like client of `app`'s console: no redirects followed, the session cookie kept
/// by hand.
pub struct Console<'a> {
    pub app: &'a TestApp,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
}

impl<'a> Console<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Signs in with `sid`/`secret`; the response of the sign-in POST.
    pub async fn sign_in_as(&mut self, sid: &str, secret: &str) -> reqwest::Response {
        let res = self
            .http
            .post(self.app.url("/console/sign-in"))
            .form(&[("sid", sid), ("secret", secret)])
            .send()
            .await
            .unwrap();
        if let Some(set) = res.headers().get("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        res
    }

    /// Signs in with the app's seeded key and expects success.
    pub async fn sign_in(&mut self) {
        let (sid, secret) = (
            self.app.key.to_string(),
            self.app.secret.expose_secret().to_owned(),
        );
        let res = self.sign_in_as(&sid, &secret).await;
        assert_eq!(res.status(), 303, "sign-in redirects to the overview");
        assert!(self.cookie.is_some());
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut req = self.http.get(self.app.url(path));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        req.send().await.unwrap()
    }

    /// A page's text, expecting 200.
    pub async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// Posts `form` with the session cookie (no CSRF token unless `form` has one).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.http.post(self.app.url(path)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        req.send().await.unwrap()
    }

    /// The session's CSRF token, read from a page's form.
    pub async fn csrf(&self) -> String {
        csrf_in(&self.page("/console/keys").await)
    }

    /// Posts `form` plus this session's CSRF token.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf().await;
        let mut fields = form.to_vec();
        fields.push(("csrf", &csrf));
        self.post(path, &fields).await
    }
}

/// The CSRF token of the first form in `html`.
pub fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 64].to_owned()
}

/// Every `console_sessions` row as text (to check what is and isn't stored).
pub async fn session_rows_text(app: &TestApp) -> String {
    use sqlx::{Connection, Row};
    let url = app.config.database_url.clone().unwrap();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    let rows = sqlx::query(
        "SELECT id_hash, account_sid, api_key_sid, last_seen, date_created FROM console_sessions",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}\n",
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<String, _>(2),
                r.get::<i64, _>(3),
                r.get::<i64, _>(4)
            )
        })
        .collect()
}

/// Moves every session's last request `ms` into the past.
pub async fn age_console_sessions(app: &TestApp, ms: i64) {
    use sqlx::Connection;
    let url = app.config.database_url.clone().unwrap();
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE console_sessions SET last_seen = last_seen - $1")
        .bind(ms)
        .execute(&mut db)
        .await
        .unwrap();
}
