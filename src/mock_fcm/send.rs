//! `POST /v1/projects/{project_id}/messages:send`: faults, the bearer (401 unless an
//! unexpired access token issued here; 403 without an FCM scope or for another project),
//! the body (see `message`), the registration-token registry, then
//! `{"name":"projects/{p}/messages/0:…"}`. Counted, and logged with `log_pushes`.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::Shared;
use super::answer::{Answer, MAX_SEND_BODY, Req};
use super::config::epoch_ms;
use super::errors::ApiError;
use super::faults::{FaultAction, FaultAnswer, FaultTarget};
use super::message::{self, Target};
use super::records::{Counters, PushRecord};
use super::tokens::Issued;

/// Scopes that allow sending.
const SEND_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
];

/// The project of a `messages:send` path.
pub(crate) fn project_of(path: &str) -> Option<&str> {
    let project = path
        .strip_prefix("/v1/projects/")?
        .strip_suffix("/messages:send")?;
    (!project.is_empty() && !project.contains('/')).then_some(project)
}

/// The access token's grant, or the 401/403 of Google's auth layer.
fn authenticate(shared: &Shared, req: &Req<'_>, project_id: &str) -> Result<Issued, ApiError> {
    let bearer = req.header("authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let Some(bearer) = bearer.filter(|b| !b.is_empty()) else {
        return Err(ApiError::unauthenticated(true, "CREDENTIALS_MISSING"));
    };
    let Some(issued) = shared.access_tokens.lookup(bearer) else {
        return Err(ApiError::unauthenticated(
            false,
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        ));
    };
    if issued.expires_at_ms <= epoch_ms(shared.clock.now()) {
        return Err(ApiError::unauthenticated(false, "ACCESS_TOKEN_EXPIRED"));
    }
    if !issued
        .scopes
        .iter()
        .any(|s| SEND_SCOPES.contains(&s.as_str()))
    {
        return Err(ApiError::permission_denied(
            "Request had insufficient authentication scopes.",
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        ));
    }
    if issued.project_id != project_id {
        return Err(ApiError::permission_denied(
            &format!(
                "Permission 'cloudmessaging.messages.create' denied on resource \
                 '//cloudresourcemanager.googleapis.com/projects/{project_id}' (or it may not \
                 exist)."
            ),
            "IAM_PERMISSION_DENIED",
        ));
    }
    Ok(issued)
}

/// The verdict on an authenticated send: the accepted message's name, or the error.
fn judge(
    shared: &Shared,
    req: &Req<'_>,
    project_id: &str,
    body: Option<&Value>,
) -> Result<String, ApiError> {
    if req.method != http::Method::POST {
        return Err(ApiError::plain(
            405,
            "INVALID_ARGUMENT",
            "messages:send takes POST.",
        ));
    }
    if req.too_large {
        return Err(ApiError::plain(
            400,
            "INVALID_ARGUMENT",
            format!("Request payload size exceeds the limit: {MAX_SEND_BODY} bytes."),
        ));
    }
    let Some(body) = body else {
        return Err(ApiError::field(
            "",
            "Invalid JSON payload received. The body is not a JSON value.",
        ));
    };
    let message = message::validate(body)?;
    if let Target::Token(token) = &message.target
        && let Some(code) = shared.registry.judge(token, project_id)
    {
        return Err(ApiError::of(code));
    }
    if message.validate_only {
        return Ok(format!("projects/{project_id}/messages/fake_message_id"));
    }
    let n = shared.next_message.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    let ms = epoch_ms(shared.clock.now());
    Ok(format!("projects/{project_id}/messages/0:{ms}{n:06}"))
}

/// Answers one send.
pub(crate) async fn send(shared: &Shared, req: &Req<'_>, project_id: &str) -> Answer {
    let received = shared.clock.now();
    Counters::bump(&shared.counters.sends);
    let body: Option<Value> = if req.too_large {
        None
    } else {
        serde_json::from_slice(req.body).ok()
    };
    let token = body.as_ref().map(message::token_of).unwrap_or("");
    let fault = shared.faults.pick(FaultTarget::Send, token);
    if let Some(delay) = fault.as_ref().and_then(|f| f.delay) {
        tokio::time::sleep(delay).await;
    }
    let message = body.as_ref().and_then(|b| b.get("message"));
    let mut record = shared.log_pushes.then(|| PushRecord {
        seq: 0,
        received_at_ms: epoch_ms(received),
        connection_id: req.conn_id,
        protocol: req.protocol.to_string(),
        project_id: project_id.to_string(),
        token: token.to_string(),
        data: message.and_then(|m| m.get("data")).cloned(),
        android: message.and_then(|m| m.get("android")).cloned(),
        validate_only: body
            .as_ref()
            .and_then(|b| b.get("validate_only").or_else(|| b.get("validateOnly")))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        client_email: None,
        status: 0,
        error_code: None,
        message: None,
        name: None,
        fault: fault.as_ref().map(|f| f.label.clone()),
    });
    let early = match fault.as_ref().and_then(|f| f.action) {
        Some(FaultAction::ResetStream) => Some(Answer::ResetStream),
        Some(FaultAction::DropConnection) => Some(Answer::DropConnection),
        _ => None,
    };
    if let Some(answer) = early {
        finish(shared, record);
        return answer;
    }
    let verdict = authenticate(shared, req, project_id).and_then(|issued| {
        if let Some(r) = record.as_mut() {
            r.client_email = Some(issued.client_email);
        }
        match fault.as_ref().and_then(|f| f.answer.as_ref()) {
            Some(FaultAnswer::Send(e)) => Err(e.clone()),
            _ => judge(shared, req, project_id, body.as_ref()),
        }
    });
    let answer = match &verdict {
        Ok(name) => {
            Counters::bump(&shared.counters.accepted);
            Answer::json(200, &json!({ "name": name }))
        }
        Err(e) => {
            shared.counters.reject(&e.label());
            e.answer()
        }
    };
    if let Some(r) = record.as_mut() {
        r.status = answer.status();
        match verdict {
            Ok(name) => r.name = Some(name),
            Err(e) => {
                r.error_code = Some(e.label());
                r.message = Some(e.message);
            }
        }
    }
    finish(shared, record);
    answer
}

/// Stores the record (if logging) and emits a tracing event for it.
fn finish(shared: &Shared, record: Option<PushRecord>) {
    if let Some(r) = record {
        let shown: String = r.token.chars().take(12).collect();
        tracing::info!(
            conn = r.connection_id,
            project = %r.project_id,
            token = %shown,
            status = r.status,
            error_code = r.error_code.as_deref().unwrap_or(""),
            "mock-fcm send"
        );
        shared.log.push(r);
    }
}
