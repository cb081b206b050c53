//! Who is calling: a bearer API key resolves to one tenant and one role before any handler
//! runs. Handlers then ask for a [`Ctx`](crate::ctx::Ctx) whose type names the permission they need,
//! so a route cannot forget to check it.

use std::{
    collections::HashMap,
    sync::{LazyLock, RwLock},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use tollgate_core::{
    KeyId, TenantId,
    tenancy::{ApiKey, Role, hash_secret},
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

/// How long a looked-up key is trusted without asking the store again. A key revoked through
/// this process stops working at once (the store counts revocations); one revoked elsewhere (by
/// another instance, or `tollgate key revoke` at the command line) works for up to this long.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Keys by secret hash, as last read from the store, with when and at which revocation count.
/// Only keys that exist are kept, so the map holds at most the keys in use.
static KEYS: LazyLock<RwLock<HashMap<String, CachedKey>>> = LazyLock::new(Default::default);

#[derive(Clone)]
struct CachedKey {
    key: ApiKey,
    read_at: Instant,
    revocations: u64,
}

async fn caller(state: &AppState, secret: Option<String>) -> Result<Caller, ApiError> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let key = key(state, hash_secret(&secret)).await?;
    // Checked on every request, cached or not: expiry is a matter of the clock, not the store.
    if !key.is_usable_at(state.now()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(Caller {
        tenant: key.tenant_id,
        key: key.id,
        role: key.role,
    })
}

async fn key(state: &AppState, secret_hash: String) -> Result<ApiKey, ApiError> {
    let store = state.store();
    let revocations = store.key_revocations();
    let cached = KEYS
        .read()
        .expect("key cache lock")
        .get(&secret_hash)
        .filter(|c| c.revocations == revocations && c.read_at.elapsed() < KEY_CACHE_TTL)
        .map(|c| c.key.clone());
    if let Some(key) = cached {
        return Ok(key);
    }
    let key = match store.key_by_hash(&secret_hash).await {
        Ok(key) => key,
        Err(StoreError::NotFound) => return Err(ApiError::Unauthorized),
        Err(other) => return Err(other.into()),
    };
    let mut keys = KEYS.write().expect("key cache lock");
    keys.retain(|_, c| c.read_at.elapsed() < KEY_CACHE_TTL);
    keys.insert(
        secret_hash,
        CachedKey {
            key: key.clone(),
            read_at: Instant::now(),
            revocations,
        },
    );
    Ok(key)
}
