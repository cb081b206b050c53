//! Who is calling: a bearer API key resolves to one tenant and one role before any handler
//! runs. Handlers then ask for a [`Ctx`](crate::ctx::Ctx) whose type names the permission they need,
//! so a route cannot forget to check it.

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use tollgate_core::{
    KeyId, TenantId,
    tenancy::{Role, hash_secret},
};
use tollgate_store::StoreError;

use crate::{AppState, error::ApiError};

/// The authenticated caller, placed in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub tenant: TenantId,
    pub key: KeyId,
    pub role: Role,
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let secret = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|s| s.trim().to_owned());
    match caller(&state, secret).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

async fn caller(state: &AppState, secret: Option<String>) -> Result<Caller, ApiError> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let key = match state
        .store()
        .read()
        .await?
        .key_by_hash(&hash_secret(&secret))
        .await
    {
        Ok(key) => key,
        Err(StoreError::NotFound) => return Err(ApiError::Unauthorized),
        Err(other) => return Err(other.into()),
    };
    if !key.is_usable_at(state.now()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(Caller {
        tenant: key.tenant_id,
        key: key.id,
        role: key.role,
    })
}
