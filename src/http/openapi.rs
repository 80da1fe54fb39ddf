//! `GET /openapi.json`: the OpenAPI 3 description, generated from the handlers' own
//! annotations and types, and exact: every status an operation can answer is listed with its
//! body. Each handler's annotation lists what is particular to it (a 404 for an unknown SID, a
//! 409 for an ended call); [`add_common_responses`] adds, from the operation's shape, what every
//! such operation can answer (401 and 429 with credentials, 400/413/415 with a body, 408 past the
//! request timeout, 503 when the store is down). `scripts/check-openapi.sh` holds the document to the server with schemathesis.

use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::credential_form::CredentialUpload;
use super::registrations::RegisterDevice;
use super::{ApiError, AppState, health, keys, registrations};
use crate::config::Config;

#[derive(OpenApi)]
#[openapi(
    info(title = "pushgate", description = "Self-hosted push relay for VoIP calling apps"),
    paths(
        health::healthz, health::readyz,
        registrations::register, registrations::list, registrations::fetch,
        registrations::unregister,
        keys::create, keys::list, keys::revoke,
        crate::http::webhook_secret::rotate,
        crate::http::invites::create, crate::http::invites::fetch,
        crate::http::calls::events, crate::http::calls::accept, crate::http::calls::reject,
        crate::http::calls::cancel,
        crate::http::credentials::create, crate::http::credentials::list,
        crate::http::credentials::fetch, crate::http::credentials::rotate,
        crate::http::credentials::remove,
        crate::http::twilio::webhook::call_notification,
        crate::http::twilio::links::create, crate::http::twilio::links::list,
        crate::http::twilio::links::delete,
    ),
    components(schemas(ApiError)),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An API key: its SID (SK…) as user, its secret as password",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bridge_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The push's twi_bridge_token, bound to one invite and one device",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Twilio-Token",
                "A phone's access token (Twilio format), as the mobile SDKs send it",
            ))),
        );
        components.add_security_scheme(
            "access_token_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The same access token, as Authorization: Bearer"))
                    .build(),
            ),
        );
    }
}

/// A response with an [`ApiError`] body.
fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}},
    })
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Adds to every operation the error statuses its shape implies; an operation's own
/// description of a status is kept.
fn add_common_responses(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            let has_body = op.contains_key("requestBody");
            let mut common = Vec::new();
            if secured {
                common.push(("401", "credentials missing, invalid, expired or revoked"));
                common.push(("429", "too many requests from this client; retry later"));
            }
            if has_body {
                common.push(("400", "the body is malformed or a field is invalid"));
                common.push(("413", "the body is larger than max_body_bytes"));
                common.push((
                    "415",
                    "the body's Content-Type is not one this operation reads",
                ));
            }
            common.push((
                "408",
                "not answered within http_request_timeout_ms (code 21501)",
            ));
            if path != "/healthz" {
                common.push(("503", "the database is unavailable; retry shortly"));
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            for (status, description) in common {
                responses
                    .entry(status)
                    .or_insert_with(|| error(description));
            }
        }
    }
}

/// With `status_callback_allowed_hosts` set, the invite's `status_callback` can only name
/// those hosts: the description says so as a pattern (`*.example.com` matches subdomains).
fn restrict_status_callback(doc: &mut Value, allowed: &[String]) {
    // The invite's field, and the Calls API's StatusCallback (the same rules).
    for (schema, name) in [
        ("CreateInviteBody", "status_callback"),
        ("CreateCallForm", "StatusCallback"),
    ] {
        if let Some(field) =
            doc["components"]["schemas"][schema]["properties"][name].as_object_mut()
        {
            restrict_field(field, allowed);
        }
    }
}

fn restrict_field(field: &mut serde_json::Map<String, Value>, allowed: &[String]) {
    if allowed.is_empty() {
        field.insert("format".into(), Value::String("uri".into()));
        return;
    }
    let hosts: Vec<String> = allowed
        .iter()
        .map(|h| {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix("*.") {
                Some(domain) => format!("[a-z0-9-]+(\\.[a-z0-9-]+)*\\.{}", regex_escape(domain)),
                None if h.contains(':') => format!("\\[{}\\]", regex_escape(&h)),
                None => regex_escape(&h),
            }
        })
        .collect();
    let pattern = format!(
        "^https?://({})(:{PORT})?(/[A-Za-z0-9._~/-]*)?$",
        hosts.join("|")
    );
    field.insert("pattern".into(), Value::String(pattern));
    field.insert(
        "description".into(),
        Value::String(format!(
            "URL that receives the invite's state changes: http(s) on a host of \
             status_callback_allowed_hosts ({})",
            allowed.join(", ")
        )),
    );
}

/// 1–65535.
const PORT: &str =
    "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The credential upload bodies are written by hand (see [`CredentialUpload`]): three media
/// types whose fields are read by one parser.
fn credential_bodies(doc: &mut Value) {
    for (path, method) in [
        ("/v1/credentials", "post"),
        ("/v1/credentials/{sid}", "post"),
    ] {
        let body = &mut doc["paths"][path][method]["requestBody"];
        if body.is_object() {
            body["content"] = CredentialUpload::content();
            body["required"] = Value::Bool(true);
        }
    }
}

/// The registration body, also written by hand (see [`RegisterDevice::schema`]).
fn registration_body(doc: &mut Value) {
    doc["components"]["schemas"]["RegisterDevice"] = RegisterDevice::schema();
    let body = &mut doc["paths"]["/v1/registrations"]["post"]["requestBody"];
    if body.is_object() {
        body["content"] = json!({"application/json": {
            "schema": {"$ref": "#/components/schemas/RegisterDevice"}}});
        body["required"] = Value::Bool(true);
    }
}

/// Each Server-Sent Event of `/events`: its name and its data, a JSON [`CallState`].
///
/// [`CallState`]: super::calls::CallState
fn event_stream(doc: &mut Value) {
    let media = &mut doc["paths"]["/v1/invites/{sid}/events"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"];
    if media.is_object() {
        media["schema"] = json!({
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"type": "string", "enum": [
                    "pending", "ringing", "answered", "rejected", "canceled", "expired", "failed"]},
                "data": {"type": "string", "contentMediaType": "application/json",
                         "contentSchema": {"$ref": "#/components/schemas/CallState"}},
            },
        });
    }
}

/// The document for a server running with `config`, as JSON.
pub fn document(config: &Config) -> Value {
    let mut api = ApiDoc::openapi();
    api.merge(super::twilio::openapi::doc());
    let mut doc = serde_json::to_value(api).expect("the document serializes");
    super::twilio::openapi::adjust(&mut doc);
    credential_bodies(&mut doc);
    registration_body(&mut doc);
    event_stream(&mut doc);
    add_common_responses(&mut doc);
    unique_operation_ids(&mut doc);
    restrict_status_callback(&mut doc, &config.status_callback_allowed_hosts);
    doc
}

/// Operation ids are the handlers' names (`create`, `list`, `rotate` …), which repeat across
/// resources; OpenAPI requires them unique, and clients and schemathesis's links key on them:
/// each becomes `<tag>_<name>` (`credentials_rotate`, `webhooks_rotate`).
fn unique_operation_ids(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            let tag = op
                .get("tags")
                .and_then(|t| t.get(0))
                .and_then(Value::as_str)
                .map(|t| t.replace('-', "_"));
            if let (Some(tag), Some(id)) = (tag, op.get("operationId").and_then(Value::as_str)) {
                let id = format!("{tag}_{id}");
                op.insert("operationId".into(), Value::String(id));
            }
        }
    }
}

/// Serves the document.
pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(document(&state.config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_builds() {
        let doc = super::document(&crate::config::Config::default());
        assert!(doc["paths"]["/v1/credentials"]["post"]["requestBody"]["content"].is_object());
        if std::env::var_os("PUSHGATE_DUMP_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
    }
}
