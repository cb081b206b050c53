//! `Idempotency-Key` on POST: the first answer is kept with a hash of the request; the same key
//! with the same request replays it, with a different request is refused (422).

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use tollgate_core::TenantId;
use tollgate_store::StoredResponse;

use crate::{AppState, auth::Caller, ctx::json_response, error::ApiError};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// Present in a request's extensions when the client sent a fresh key.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request = match prepare(&state, request).await {
        Ok(Prepared::Run(request)) => request,
        Ok(Prepared::Answer(response)) => return response,
        Err(err) => return err.into_response(),
    };
    let tenant = request.extensions().get::<Caller>().map(|c| c.tenant);
    let idem = request.extensions().get::<Idempotency>().cloned();
    let response = next.run(request).await;
    // A twin sent at the same moment may have taken a natural key first (a sign-up's
    // external id): then its answer is this request's answer too.
    if response.status() == StatusCode::CONFLICT
        && let (Some(tenant), Some(idem)) = (tenant, idem)
        && let Ok(Some(first)) = winner(&state, tenant, &idem.key).await
    {
        return replay(&first, &idem.request_hash).unwrap_or_else(IntoResponse::into_response);
    }
    response
}

/// The answer stored under `key` by a twin that won a race with this request. On SQLite the
/// twin may sit in the writer's current group, released but not yet committed: an empty write
/// transaction commits once that group is durable. On PostgreSQL the conflict already waited
/// for the twin's commit.
pub async fn winner(
    state: &AppState,
    tenant: TenantId,
    key: &str,
) -> Result<Option<StoredResponse>, ApiError> {
    state.store().begin().await?.commit().await?;
    Ok(state.store().idempotent_response(tenant, key).await?)
}

enum Prepared {
    Run(Request),
    Answer(Response),
}

async fn prepare(state: &AppState, request: Request) -> Result<Prepared, ApiError> {
    if request.method() != Method::POST {
        return Ok(Prepared::Run(request));
    }
    let Some(key) = request.headers().get(HEADER) else {
        return Ok(Prepared::Run(request));
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                format_args!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
        })?
        .to_owned();
    let caller = *request
        .extensions()
        .get::<Caller>()
        .ok_or(ApiError::Unauthorized)?;
    let (parts, body) = request.into_parts();
    // The largest limit any route has; each route's extractor applies its own afterwards.
    let limit = state
        .config()
        .body_limit
        .max(state.config().batch_body_limit);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge(limit))?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.path());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize());

    let stored = state
        .store()
        .idempotent_response(caller.tenant, &key)
        .await?;
    if let Some(stored) = stored {
        return replay(&stored, &request_hash).map(Prepared::Answer);
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request
        .extensions_mut()
        .insert(Idempotency { key, request_hash });
    Ok(Prepared::Run(request))
}

/// The stored answer, if it answered this same request.
pub fn replay(stored: &StoredResponse, request_hash: &str) -> Result<Response, ApiError> {
    if stored.request_hash != request_hash {
        return Err(ApiError::IdempotencyMismatch);
    }
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = json_response(status, stored.body.clone());
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
