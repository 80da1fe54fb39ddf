//! The API description of Twilio's shapes, merged into `/openapi.json` (`http/openapi.rs`):
//! their operations, and the credential form written in Twilio's PascalCase names.

use serde_json::{Value, json};
use utoipa::OpenApi;

use super::super::credential_form::CredentialUpload;
use super::{call_form, calls, credentials};

#[derive(OpenApi)]
#[openapi(paths(
    calls::create,
    calls::fetch,
    calls::update,
    credentials::create,
    credentials::list,
    credentials::fetch,
    credentials::update,
    credentials::remove,
))]
struct TwilioDoc;

/// The operations of Twilio's shapes.
pub fn doc() -> utoipa::openapi::OpenApi {
    TwilioDoc::openapi()
}

/// `friendly_name` → `FriendlyName`, `p12` → `P12`.
fn pascal(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The credential upload form with Twilio's field names (the parser reads either spelling).
fn credential_form() -> Value {
    let mut schema =
        CredentialUpload::content()["application/x-www-form-urlencoded"]["schema"].take();
    if let Some(properties) = schema["properties"].as_object_mut() {
        let renamed: serde_json::Map<String, Value> = std::mem::take(properties)
            .into_iter()
            .map(|(name, field)| (pascal(&name), field))
            .collect();
        *properties = renamed;
    }
    schema
}

/// Puts the credential form on the `/v2/Credentials` uploads and tags the operations so
/// their ids stay unique (`twilio_calls_create`, `twilio_credentials_create`).
pub fn adjust(doc: &mut Value) {
    let url = &mut doc["components"]["schemas"]["CreateCallForm"]["properties"]["Url"];
    if url.is_object() {
        url["pattern"] = Value::String(call_form::URL_PATTERN.into());
    }
    for (path, method) in [
        ("/v2/Credentials", "post"),
        ("/v2/Credentials/{Sid}", "post"),
    ] {
        let body = &mut doc["paths"][path][method]["requestBody"];
        if body.is_object() {
            body["content"] =
                json!({"application/x-www-form-urlencoded": {"schema": credential_form()}});
            body["required"] = Value::Bool(true);
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let tag = if path.starts_with("/2010-04-01/") {
            "twilio-calls"
        } else if path.starts_with("/v2/Credentials") {
            "twilio-credentials"
        } else {
            continue;
        };
        if let Some(item) = item.as_object_mut() {
            for op in item.values_mut() {
                if op.get("tags").is_some() {
                    op["tags"] = json!([tag]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credential_fields_get_twilio_names() {
        assert_eq!(super::pascal("friendly_name"), "FriendlyName");
        assert_eq!(super::pascal("p12"), "P12");
        let form = super::credential_form();
        let properties = form["properties"].as_object().unwrap();
        for name in [
            "Type",
            "FriendlyName",
            "Certificate",
            "PrivateKey",
            "Sandbox",
            "Secret",
        ] {
            assert!(properties.contains_key(name), "{name}");
        }
        assert_eq!(form["additionalProperties"], false);
    }
}
