//! The page shell every console page shares (head, navigation, sign-out form), and small
//! rendering helpers: times, badges, the CSRF field. maud escapes every interpolated value.

use maud::{DOCTYPE, Markup, html};

use crate::auth::console_session::ConsoleSession;

/// The console's sections, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Keys,
    Credentials,
    Registrations,
    Calls,
}

const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Overview, "/console", "Overview"),
    (Nav::Keys, "/console/keys", "API keys"),
    (Nav::Credentials, "/console/credentials", "Push credentials"),
    (
        Nav::Registrations,
        "/console/registrations",
        "Registrations",
    ),
    (Nav::Calls, "/console/calls", "Calls"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx must not inject its indicator <style> (the CSP allows no inline style),
            // nor evaluate attributes as code.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
            title { (title) " · pushgate console" }
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/htmx.min.js" defer {}
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A page of a signed-in operator: navigation, sign-out, then `body`.
pub fn page(title: &str, session: &ConsoleSession, active: Nav, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/console" { "pushgate" }
                    nav aria-label="Console" {
                        ul {
                            @for (nav, href, label) in NAV {
                                li {
                                    @if *nav == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/console/sign-out" {
                        (csrf_field(session))
                        span.who title="the API key you signed in with" { code { (session.principal.key) } }
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main id="main" { (body) }
            }
        }
    }
}

/// The hidden field carrying the session's CSRF token.
pub fn csrf_field(session: &ConsoleSession) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// An epoch-ms time as `2026-12-02 07:50:01 UTC`.
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// An optional epoch-ms time, or a dash.
pub fn when_opt(ms: Option<i64>) -> String {
    ms.map(when).unwrap_or_else(|| "–".to_owned())
}

/// A coloured label; `kind` is one of the stylesheet's badge classes (`ok`, `warn`, `bad`,
/// `muted`, `info`).
pub fn badge(kind: &str, text: &str) -> Markup {
    html! { span class=(format!("badge {kind}")) { (text) } }
}

/// A notice at the top of a page (after a redirect: `?done=…` names a fixed message).
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}
