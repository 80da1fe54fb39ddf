//! Google's OAuth 2.0 token endpoint, `POST /token` (form-encoded `grant_type` =
//! `urn:ietf:params:oauth:grant-type:jwt-bearer` and `assertion`): faults first, then the
//! form, then the assertion (see `assertion`); a verified one gets
//! `{"access_token":"ya29.…","expires_in":N,"token_type":"Bearer"}`, a refused one
//! `{"error":…,"error_description":…}` with Google's status.

use serde_json::json;

use super::Shared;
use super::answer::{Answer, Req};
use super::assertion::{self, GrantError};
use super::config::{epoch_ms, epoch_secs};
use super::faults::{FaultAction, FaultAnswer, FaultTarget};
use super::records::Counters;
use super::tokens::Issued;

/// The grant type of a service-account assertion.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn refuse(shared: &Shared, e: &GrantError) -> Answer {
    shared.counters.token_error(e.error);
    tracing::debug!(error = e.error, description = %e.description, "mock-fcm: token refused");
    let mut a = Answer::json(
        e.status,
        &json!({ "error": e.error, "error_description": e.description }),
    );
    if e.status == 503 {
        a = a.with_header("retry-after", "1".into());
    }
    a
}

fn invalid_request(description: impl Into<String>) -> GrantError {
    GrantError {
        status: 400,
        error: "invalid_request",
        description: description.into(),
    }
}

/// Answers one token request.
pub(crate) async fn token(shared: &Shared, req: &Req<'_>) -> Answer {
    Counters::bump(&shared.counters.token_requests);
    let fault = shared.faults.pick(FaultTarget::Token, "");
    if let Some(delay) = fault.as_ref().and_then(|f| f.delay) {
        tokio::time::sleep(delay).await;
    }
    match fault.as_ref().and_then(|f| f.action) {
        Some(FaultAction::ResetStream) => return Answer::ResetStream,
        Some(FaultAction::DropConnection) => return Answer::DropConnection,
        _ => {}
    }
    if let Some(FaultAnswer::Token(e)) = fault.as_ref().and_then(|f| f.answer.as_ref()) {
        return refuse(shared, e);
    }
    if req.method != http::Method::POST {
        return refuse(
            shared,
            &invalid_request("The token endpoint only accepts POST."),
        );
    }
    if req.too_large {
        return refuse(shared, &invalid_request("The request body is too large."));
    }
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(req.body) {
        Ok(f) => f,
        Err(_) => return refuse(shared, &invalid_request("The body is not form-encoded.")),
    };
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(grant_type) = param("grant_type") else {
        return refuse(
            shared,
            &invalid_request("Missing required parameter: grant_type"),
        );
    };
    if grant_type != JWT_BEARER {
        let e = GrantError {
            status: 400,
            error: "unsupported_grant_type",
            description: format!(
                "Invalid grant_type: {}",
                grant_type.chars().take(100).collect::<String>()
            ),
        };
        return refuse(shared, &e);
    }
    let Some(assertion) = param("assertion") else {
        return refuse(
            shared,
            &invalid_request("Missing required parameter: assertion"),
        );
    };
    let now = shared.clock.now();
    let grant = match assertion::verify(
        assertion,
        &shared.accounts,
        &shared.audiences,
        epoch_secs(now),
    ) {
        Ok(g) => g,
        Err(e) => return refuse(shared, &e),
    };
    let lifetime = shared.token_lifetime.as_secs();
    let issued = Issued {
        client_email: grant.client_email,
        project_id: grant.project_id,
        scopes: grant.scopes,
        expires_at_ms: epoch_ms(now) + lifetime * 1000,
    };
    let email = issued.client_email.clone();
    let access_token = shared.access_tokens.issue(issued, epoch_ms(now));
    Counters::bump(&shared.counters.tokens_issued);
    tracing::debug!(client_email = %email, "mock-fcm: access token issued");
    Answer::json(
        200,
        &json!({ "access_token": access_token, "expires_in": lifetime, "token_type": "Bearer" }),
    )
    .with_header(
        "cache-control",
        "no-cache, no-store, max-age=0, must-revalidate".into(),
    )
    .with_header("pragma", "no-cache".into())
}
