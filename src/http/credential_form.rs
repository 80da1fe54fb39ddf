//! Reading a credential upload in any of the forms operators use: JSON, `multipart/form-data`
//! (so `curl -F p12=@cert.p12` works) and form-encoded Twilio field names (`Type`,
//! `FriendlyName`, `Certificate`, `PrivateKey`, `Sandbox`, and `Secret` for an FCM service
//! account).

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use base64::Engine;
use secrecy::SecretString;

use super::error::ApiError;
use super::extract::Json;
use crate::credentials::manage::{CredentialPatch, MAX_FRIENDLY_NAME, Material};
use crate::domain::CredentialType;
use serde_json::json;

const FIELDS: &[&str] = &[
    "type",
    "friendly_name",
    "certificate",
    "private_key",
    "sandbox",
    "p12",
    "password",
    "p8",
    "key_id",
    "team_id",
    "bundle_id",
    "service_account",
    "secret",
];

/// `sandbox` as text: a yes/no word in any case, surrounding ASCII whitespace ignored.
const BOOL_PATTERN: &str = "^[\\t\\n\\f\\r ]*([Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss]|[Oo][Nn]|[Ff][Aa][Ll][Ss][Ee]|0|[Nn][Oo]|[Oo][Ff][Ff])?[\\t\\n\\f\\r ]*$";
/// A `.p12` as standard base64 (canonical padding), surrounding ASCII whitespace ignored.
const BASE64_PATTERN: &str = "^[\\t\\n\\f\\r ]*([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?[\\t\\n\\f\\r ]*$";

/// The body of a credential upload or rotation, in each media type it is read in.
pub struct CredentialUpload;

impl CredentialUpload {
    /// The object schema for one media type: `json`, `multipart` or `form`.
    fn object(media: &str) -> serde_json::Value {
        let text = |description: &str| match media {
            "json" => json!({"type": ["string", "null"], "description": description}),
            _ => json!({"type": "string", "description": description}),
        };
        let mut properties = serde_json::Map::new();
        let mut add = |name: &str, schema: serde_json::Value| {
            properties.insert(name.to_owned(), schema);
        };
        add(
            "type",
            match media {
                "json" => json!({"enum": ["apn", "apn_token", "fcm", null],
                "description": "`apn` (certificate), `apn_token` (.p8) or `fcm` (service \
                account); inferred when absent"}),
                _ => json!({"type": "string", "enum": ["apn", "apn_token", "fcm"],
                "description": "`apn` (certificate), `apn_token` (.p8) or `fcm` (service \
                account); inferred when absent"}),
            },
        );
        add("friendly_name", {
            let mut t = text("at most 64 characters");
            t["maxLength"] = json!(MAX_FRIENDLY_NAME);
            t
        });
        add("certificate", text("the certificate (chain), PEM"));
        add(
            "private_key",
            text("its private key, PEM (an apn_token's .p8 is read here too)"),
        );
        add(
            "sandbox",
            match media {
                "json" => json!({"type": ["boolean", "string", "null"], "pattern": BOOL_PATTERN,
                "description": "pushes default to the development environment"}),
                _ => json!({"type": "string", "pattern": BOOL_PATTERN,
                "description": "pushes default to the development environment"}),
            },
        );
        add(
            "p12",
            match media {
                "multipart" => json!({"type": "string", "format": "binary",
                "description": "the .p12 file as exported by Keychain"}),
                "json" => json!({"type": ["string", "null"], "pattern": BASE64_PATTERN,
                "description": "the .p12 file, base64"}),
                _ => json!({"type": "string", "pattern": BASE64_PATTERN,
                "description": "the .p12 file, base64"}),
            },
        );
        add("password", text("the .p12's password"));
        add("p8", text("the .p8 signing key, PEM"));
        add("key_id", text("the .p8's key id (10 characters)"));
        add("team_id", text("the Apple team id (10 characters)"));
        add("bundle_id", text("the app's bundle id (.p8 credentials)"));
        add(
            "service_account",
            match media {
                "json" => json!({"type": ["object", "string", "null"],
                "description": "FCM: the Firebase service-account JSON (an object or its text)"}),
                _ => text("FCM: the Firebase service-account JSON file"),
            },
        );
        add(
            "secret",
            text("FCM: the service-account JSON, as Twilio's `Secret` field"),
        );
        json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
            "description": "One kind of key material: certificate + private_key, p12 (+ password), \
                p8 + key_id + team_id + bundle_id, or service_account (or secret). Field names are also read in Twilio's \
                PascalCase (Type, FriendlyName, Certificate, PrivateKey, Sandbox, …).",
        })
    }

    /// The `content` map of the request body: JSON, multipart and form-encoded.
    pub fn content() -> serde_json::Value {
        json!({
            "application/json": {"schema": Self::object("json")},
            "multipart/form-data": {"schema": Self::object("multipart")},
            "application/x-www-form-urlencoded": {"schema": Self::object("form")},
        })
    }
}

/// One uploaded field: text, or the raw bytes of a file part.
pub enum Value {
    Text(String),
    Bytes(Vec<u8>),
}

/// Reads the request body, whatever its content type, into a [`CredentialPatch`].
pub async fn read_patch(req: Request) -> Result<CredentialPatch, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let fields = if content_type.starts_with("multipart/form-data") {
        multipart_fields(req).await?
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::Bytes::from_request(req, &())
            .await
            .map_err(|_| super::extract::body_too_large())?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::invalid(format!("form body could not be read: {e}")))?;
        collect(pairs.into_iter().map(|(k, v)| (k, Value::Text(v))))?
    } else {
        let Json(body) =
            Json::<serde_json::Map<String, serde_json::Value>>::from_request(req, &()).await?;
        let mut pairs = Vec::new();
        for (key, value) in body {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) if normalize(&key) == "sandbox" => b.to_string(),
                v @ serde_json::Value::Object(_) if normalize(&key) == "service_account" => {
                    v.to_string()
                }
                _ if normalize(&key) == "sandbox" => {
                    return Err(ApiError::invalid(format!(
                        "{key} must be a boolean or a string"
                    )));
                }
                _ => return Err(ApiError::invalid(format!("{key} must be a string"))),
            };
            pairs.push((key, Value::Text(text)));
        }
        collect(pairs)?
    };
    build(fields)
}

/// A credential upload from fields already read (the console's forms): the same names and
/// rules as the API's.
pub fn patch_from(pairs: Vec<(String, Value)>) -> Result<CredentialPatch, ApiError> {
    build(collect(pairs)?)
}

async fn multipart_fields(req: Request) -> Result<HashMap<String, Value>, ApiError> {
    let mut multipart = Multipart::from_request(req, &()).await.map_err(|e| {
        ApiError::invalid(format!(
            "multipart body could not be read: {}",
            e.body_text()
        ))
    })?;
    let mut pairs = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e.status(), e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| multipart_error(e.status(), e.body_text()))?;
        let value = if normalize(&name) == "p12" {
            Value::Bytes(bytes.to_vec())
        } else {
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::invalid(format!("{name} must be text (PEM), not binary")))?;
            Value::Text(text)
        };
        pairs.push((name, value));
    }
    collect(pairs)
}

fn multipart_error(status: axum::http::StatusCode, text: String) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        super::extract::body_too_large()
    } else {
        ApiError::invalid(format!("multipart body could not be read: {text}"))
    }
}

/// `FriendlyName` → `friendly_name`, `P12` → `p12`, `friendly_name` unchanged.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn collect(
    pairs: impl IntoIterator<Item = (String, Value)>,
) -> Result<HashMap<String, Value>, ApiError> {
    let mut fields = HashMap::new();
    for (name, value) in pairs {
        let key = normalize(&name);
        if !FIELDS.contains(&key.as_str()) {
            return Err(ApiError::invalid(format!(
                "unknown field {name:?}; expected one of: {}",
                FIELDS.join(", ")
            )));
        }
        if fields.insert(key, value).is_some() {
            return Err(ApiError::invalid(format!("field {name:?} given twice")));
        }
    }
    Ok(fields)
}

fn text(fields: &mut HashMap<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match fields.remove(key) {
        None => Ok(None),
        Some(Value::Text(s)) => Ok(Some(s)),
        Some(Value::Bytes(b)) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("{key} must be text"))),
    }
}

fn parse_bool(key: &str, raw: &str) -> Result<bool, ApiError> {
    match raw
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase()
        .as_str()
    {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ApiError::invalid(format!("{key} must be true or false"))),
    }
}

fn build(mut fields: HashMap<String, Value>) -> Result<CredentialPatch, ApiError> {
    let kind = text(&mut fields, "type")?;
    let certificate = text(&mut fields, "certificate")?;
    let mut private_key = text(&mut fields, "private_key")?.map(SecretString::from);
    let password = text(&mut fields, "password")?.map(SecretString::from);
    let mut p8 = text(&mut fields, "p8")?.map(SecretString::from);
    if kind.as_deref() == Some(CredentialType::ApnToken.as_str()) && p8.is_none() {
        // An apn_token's key may arrive as private_key, as in Twilio-style forms.
        p8 = private_key.take();
    }
    let p12 = match fields.remove("p12") {
        None => None,
        Some(Value::Bytes(bytes)) => Some(bytes),
        Some(Value::Text(b64)) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim_matches(|c: char| c.is_ascii_whitespace()))
                .map_err(|_| ApiError::invalid("p12 must be the file, base64-encoded"))?,
        ),
    };
    let service_account = match (
        text(&mut fields, "service_account")?,
        text(&mut fields, "secret")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "send the service account once: service_account or secret, not both",
            ));
        }
        (a, b) => a.or(b).map(SecretString::from),
    };
    if let Some(json) = service_account {
        if certificate.is_some() || private_key.is_some() || p12.is_some() || p8.is_some() {
            return Err(ApiError::invalid(
                "send one kind of key material: a service account takes no certificate, \
                 private_key, p12 or p8",
            ));
        }
        return Ok(CredentialPatch {
            material: Some(Material::ServiceAccount { json }),
            ..rest(kind, fields)?
        });
    }
    let material = match (certificate, private_key, p12, p8) {
        (None, None, None, None) => None,
        (Some(certificate), Some(private_key), None, None) => Some(Material::CertificatePem {
            certificate,
            private_key,
        }),
        (None, None, Some(der), None) => Some(Material::P12 {
            der,
            password: password.unwrap_or_else(|| SecretString::from("")),
        }),
        (None, None, None, Some(pem)) => Some(Material::P8 { pem }),
        (Some(_), None, None, None) => {
            return Err(ApiError::invalid(
                "private_key is required with certificate",
            ));
        }
        (None, Some(_), None, None) => {
            return Err(ApiError::invalid(
                "certificate is required with private_key",
            ));
        }
        _ => {
            return Err(ApiError::invalid(
                "send one kind of key material: certificate + private_key, or p12 (+ password), \
                 or p8 (+ key_id, team_id, bundle_id), or service_account",
            ));
        }
    };
    Ok(CredentialPatch {
        material,
        ..rest(kind, fields)?
    })
}

/// The fields besides the key material.
fn rest(
    kind: Option<String>,
    mut fields: HashMap<String, Value>,
) -> Result<CredentialPatch, ApiError> {
    let sandbox = text(&mut fields, "sandbox")?
        .map(|s| parse_bool("sandbox", &s))
        .transpose()?;
    Ok(CredentialPatch {
        kind,
        friendly_name: text(&mut fields, "friendly_name")?,
        sandbox,
        material: None,
        key_id: text(&mut fields, "key_id")?,
        team_id: text(&mut fields, "team_id")?,
        bundle_id: text(&mut fields, "bundle_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_twilio_names() {
        assert_eq!(normalize("FriendlyName"), "friendly_name");
        assert_eq!(normalize("PrivateKey"), "private_key");
        assert_eq!(normalize("P12"), "p12");
        assert_eq!(normalize("KeyId"), "key_id");
        assert_eq!(normalize("friendly_name"), "friendly_name");
        assert_eq!(normalize("Type"), "type");
    }
}
