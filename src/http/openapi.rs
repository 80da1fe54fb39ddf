//! `GET /openapi.json`: the OpenAPI 3 description, generated from the handlers' own
//! annotations and types.

use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{ApiError, health, keys, registrations};

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
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bridge_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Twilio-Token"))),
        );
    }
}

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Serves the document.
pub async fn serve() -> impl IntoResponse {
    axum::Json(document())
}
