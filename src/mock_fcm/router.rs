//! Routes a request on the HTTPS listener: `/token` to the token endpoint,
//! `/v1/projects/{p}/messages:send` to the send handler, anything else 404 in Google's
//! error shape.

use super::Shared;
use super::answer::{Answer, Req};
use super::errors::ApiError;
use super::{oauth, send};

/// Answers one request.
pub(crate) async fn handle(shared: &Shared, req: &Req<'_>) -> Answer {
    if req.path == "/token" {
        return oauth::token(shared, req).await;
    }
    if let Some(project) = send::project_of(req.path) {
        return send::send(shared, req, project).await;
    }
    let shown: String = req.path.chars().take(200).collect();
    ApiError::plain(
        404,
        "NOT_FOUND",
        format!("The requested URL {shown} was not found on this server."),
    )
    .answer()
}
