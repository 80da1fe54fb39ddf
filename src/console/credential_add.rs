//! Adding a push credential: paste a certificate and its private key (with the Sandbox
//! checkbox, as Twilio's console has it), or upload a `.p12` (+ password), a `.p8` (+ key id,
//! team id, bundle id) or an FCM service-account JSON. The fields are the API's
//! (`http::credential_patch_from`) and the service is the API's (`credentials::manage`); a
//! refusal is shown next to the field it concerns, with the API's code and message. Secrets
//! (keys, passwords, files) are never put back into a re-rendered form.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::error::ConsoleError;
use super::gate::{Fields, Operator, Submitted};
use super::layout::{self, Nav, csrf_field};
use crate::auth::console_session::ConsoleSession;
use crate::credentials::manage::{self, CredentialPatch};
use crate::http::{ApiError, AppState, FieldValue, credential_patch_from};

/// The four ways to give key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Certificate,
    P12,
    P8,
    Fcm,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Certificate, Kind::P12, Kind::P8, Kind::Fcm];

    fn name(self) -> &'static str {
        match self {
            Kind::Certificate => "certificate",
            Kind::P12 => "p12",
            Kind::P8 => "p8",
            Kind::Fcm => "fcm",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Certificate => "APNs certificate: paste PEMs",
            Kind::P12 => "APNs certificate: upload a .p12",
            Kind::P8 => "APNs token key: upload a .p8",
            Kind::Fcm => "Android (FCM): upload a service-account JSON",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A form as shown again after a refusal: what was typed (never secrets) and the error.
#[derive(Default)]
pub struct Shown {
    pub values: HashMap<String, String>,
    /// The field the error is about (`""`: the form as a whole), its code and message.
    pub error: Option<(&'static str, u32, String)>,
}

/// Fields whose values may be shown again (none of them secret).
const ECHOED: &[&str] = &[
    "friendly_name",
    "certificate",
    "key_id",
    "team_id",
    "bundle_id",
];

/// The field an API error code concerns.
fn field_of(code: u32) -> &'static str {
    match code {
        21101 | 21103..=21107 => "private_key",
        21100..=21115 => "certificate",
        21121 => "password",
        21120..=21123 => "p12",
        21133 => "key_id",
        21134 => "team_id",
        21130..=21134 => "p8",
        21136..=21146 => "service_account",
        _ => "",
    }
}

fn error_at(shown: &Shown, field: &str) -> Markup {
    html! {
        @if let Some((f, code, message)) = &shown.error {
            @if *f == field {
                p.field-error role="alert" id=(format!("{}-error", if field.is_empty() { "form" } else { field })) {
                    "Error " code.code { (code) } ": " (message)
                }
            }
        }
    }
}

fn text_input(shown: &Shown, id: &str, name: &str, label: &str, required: bool) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(name) required[required] value=(shown.values.get(name).map(String::as_str).unwrap_or(""));
        (error_at(shown, name))
    }
}

/// The form for `kind`, posting to `action` (add, or rotate a credential).
pub fn form(
    session: &ConsoleSession,
    kind: Kind,
    action: &str,
    shown: &Shown,
    rotating: bool,
) -> Markup {
    let id = |f: &str| format!("{}-{f}", kind.name());
    let needs = !rotating;
    html! {
        form method="post" action=(action) enctype="multipart/form-data" id=(format!("add-{}", kind.name())) {
            h2 { (kind.title()) }
            (csrf_field(session))
            input type="hidden" name="kind" value=(kind.name());
            (error_at(shown, ""))
            @match kind {
                Kind::Certificate => {
                    label for=(id("certificate")) { "Certificate (PEM)" }
                    textarea id=(id("certificate")) name="certificate" required[needs] spellcheck="false"
                        placeholder="-----BEGIN CERTIFICATE-----" {
                        (shown.values.get("certificate").map(String::as_str).unwrap_or(""))
                    }
                    (error_at(shown, "certificate"))
                    label for=(id("private_key")) { "Private key (PEM)" }
                    textarea id=(id("private_key")) name="private_key" required[needs] spellcheck="false"
                        placeholder="-----BEGIN PRIVATE KEY-----" {}
                    (error_at(shown, "private_key"))
                }
                Kind::P12 => {
                    label for=(id("p12")) { ".p12 file" }
                    input id=(id("p12")) name="p12" type="file" accept=".p12,.pfx" required[needs];
                    (error_at(shown, "p12"))
                    label for=(id("password")) { "Password" }
                    input id=(id("password")) name="password" type="password" autocomplete="off";
                    (error_at(shown, "password"))
                }
                Kind::P8 => {
                    label for=(id("p8")) { ".p8 file" }
                    input id=(id("p8")) name="p8" type="file" accept=".p8" required[needs];
                    (error_at(shown, "p8"))
                    (text_input(shown, &id("key_id"), "key_id", "Key ID", needs))
                    (text_input(shown, &id("team_id"), "team_id", "Team ID", needs))
                    (text_input(shown, &id("bundle_id"), "bundle_id", "Bundle ID", needs))
                }
                Kind::Fcm => {
                    label for=(id("service_account")) { "Service-account JSON file" }
                    input id=(id("service_account")) name="service_account" type="file" accept=".json,application/json" required[needs];
                    (error_at(shown, "service_account"))
                }
            }
            (text_input(shown, &id("friendly_name"), "friendly_name", "Name (optional)", false))
            @if kind != Kind::Fcm {
                label.check for=(id("sandbox")) {
                    input id=(id("sandbox")) name="sandbox" type="checkbox" value="true"
                        checked[shown.values.contains_key("sandbox")];
                    "Sandbox (development builds: pushes go to APNs's sandbox)"
                }
            }
            button type="submit" { @if rotating { "Rotate" } @else { "Add credential" } }
        }
    }
}

/// The page with the four forms; one may carry a refusal.
fn render(session: &ConsoleSession, refused: Option<(Kind, Shown)>) -> Markup {
    let empty = Shown::default();
    let body = html! {
        p.hint { "pushgate checks everything at upload: the key matches the certificate, the \
            dates, the environments and topics Apple wrote into it. A .p12 is converted into its \
            certificate and key; neither the file nor its password is kept." }
        div.kinds {
            @for kind in Kind::ALL {
                section {
                    @match &refused {
                        Some((k, shown)) if *k == kind => { (form(session, kind, "/console/credentials", shown, false)) }
                        _ => { (form(session, kind, "/console/credentials", &empty, false)) }
                    }
                }
            }
        }
    };
    layout::page("Add a push credential", session, Nav::Credentials, body)
}

/// `GET /console/credentials/new`.
pub async fn page(Operator(session): Operator) -> Markup {
    render(&session, None)
}

/// What a console form asks for: the patch, and what to show again if it is refused; or
/// the form again with the API's refusal of its fields.
pub type Read = Result<(Kind, CredentialPatch, Shown), (Kind, Shown)>;

/// Reads a console credential form.
pub fn read(fields: Fields) -> Result<Read, ConsoleError> {
    let kind = fields
        .text("kind")
        .and_then(Kind::parse)
        .ok_or_else(|| ConsoleError::bad_form("the form has no credential kind"))?;
    let mut shown = Shown::default();
    let mut pairs = Vec::new();
    let mut sandbox = false;
    for (name, value) in fields.0 {
        match name.as_str() {
            "kind" => {}
            "sandbox" => sandbox = true,
            _ => {
                if let (true, FieldValue::Text(t)) = (ECHOED.contains(&name.as_str()), &value) {
                    shown.values.insert(name.clone(), t.clone());
                }
                pairs.push((name, value));
            }
        }
    }
    if kind != Kind::Fcm {
        if sandbox {
            shown.values.insert("sandbox".into(), "true".into());
        }
        pairs.push(("sandbox".into(), FieldValue::Text(sandbox.to_string())));
    }
    Ok(match credential_patch_from(pairs) {
        Ok(patch) => Ok((kind, patch, shown)),
        Err(e) => Err((kind, refused(shown, e))),
    })
}

/// Where a refused form goes: the field its code concerns.
pub fn refused(mut shown: Shown, e: ApiError) -> Shown {
    shown.error = Some((field_of(e.code), e.code, e.message));
    shown
}

/// `POST /console/credentials`: validates and stores the credential, as the API does.
pub async fn submit(
    State(state): State<AppState>,
    Submitted { session, fields }: Submitted,
) -> Result<Response, ConsoleError> {
    let (kind, patch, shown) = match read(fields)? {
        Ok(read) => read,
        Err((kind, shown)) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                render(&session, Some((kind, shown))),
            )
                .into_response());
        }
    };
    let created = manage::create(
        &state.store,
        &state.master_key,
        &session.principal.account,
        patch,
        &state.config.intake_rules(),
    )
    .await;
    match created {
        Ok(record) => {
            tracing::info!(credential = %record.sid, kind = %record.kind, by = %session.principal.key,
                "credential created (console)");
            let to = format!("/console/credentials?done=added#cred-{}", record.sid);
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response())
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status >= 500 {
                return Err(e.into());
            }
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            Ok((status, render(&session, Some((kind, refused(shown, e))))).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn each_upload_code_points_at_its_field() {
        assert_eq!(field_of(21100), "certificate");
        assert_eq!(
            field_of(21107),
            "private_key",
            "a mismatched key is the key's fault"
        );
        assert_eq!(field_of(21108), "certificate");
        assert_eq!(field_of(21121), "password");
        assert_eq!(field_of(21120), "p12");
        assert_eq!(field_of(21133), "key_id");
        assert_eq!(field_of(21134), "team_id");
        assert_eq!(field_of(21131), "p8");
        assert_eq!(field_of(21140), "service_account");
        assert_eq!(field_of(20001), "", "the form as a whole");
    }
}
