//! Liveness (`/healthz`) and readiness (`/readyz`: the store answers).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, AppState};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: its store answers (and whether Redis does, when configured).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready"),
              (status = 503, description = "store unreachable", body = ApiError)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            super::code::STORE_UNAVAILABLE,
            "the database is unavailable",
        ));
    }
    // Redis carries shared state between replicas; without it this replica still serves
    // (falling back to local state), so it stays ready but says it is degraded.
    let Some(redis) = state.engine.clients().redis() else {
        return Ok(Json(json!({ "status": "ready", "store": "ok" })));
    };
    if crate::redis_conn::ping(redis).await {
        Ok(Json(
            json!({ "status": "ready", "store": "ok", "redis": "ok" }),
        ))
    } else {
        tracing::warn!("readiness: Redis unavailable");
        Ok(Json(
            json!({ "status": "degraded", "store": "ok", "redis": "unavailable" }),
        ))
    }
}
