//! Liveness, readiness, metrics and the API's own description.

use std::sync::Arc;

use axum::{Extension, Json, extract::State, http::StatusCode, response::IntoResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use crate::{AppState, error::ApiError};

#[derive(Clone)]
pub struct Published {
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    pub metrics: PrometheusHandle,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The process can reach its store.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, body = Health), (status = 503, body = crate::error::Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, impl IntoResponse> {
    match state.store().ping().await {
        Ok(()) => Ok(Json(Health { status: "ready" })),
        Err(err) => {
            tracing::warn!(%err, "store unreachable");
            let mut response = ApiError::Internal(err.to_string()).into_response();
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Err(response)
        }
    }
}

/// Prometheus text exposition: request counts and latency histograms per route.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(Extension(published): Extension<Published>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        published.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi(Extension(published): Extension<Published>) -> Json<utoipa::openapi::OpenApi> {
    Json((*published.openapi).clone())
}
