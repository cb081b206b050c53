//! `/v1/keys`: API keys of the caller's tenant. A secret is shown once, at creation.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_core::{
    KeyId, TenantId,
    audit::{Actor, AuditEntry},
    tenancy::{self, ApiKey, Role},
};
use tollgate_store::{NewKey, Tx};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Administer, Ctx},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    pub role: Role,
    pub label: Option<String>,
    /// After this instant the key no longer authenticates.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key with its secret. The secret is not stored and cannot be shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    pub secret: String,
}

/// Mints a key for `tenant` and puts it on the audit chain; the API and the CLI share this.
pub async fn issue(
    tx: &mut Tx,
    tenant: TenantId,
    role: Role,
    label: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    actor: Actor,
    now: DateTime<Utc>,
) -> tollgate_store::Result<CreatedKey> {
    let secret = tenancy::secret_from_bytes(&rand::random());
    let key = tx
        .insert_key(&NewKey {
            id: KeyId::generate(),
            tenant_id: tenant,
            role,
            prefix: tenancy::visible_prefix(&secret),
            secret_hash: tenancy::hash_secret(&secret),
            label,
            created_at: now,
            expires_at,
        })
        .await?;
    tx.append_audit(
        tenant,
        now,
        AuditEntry {
            actor,
            action: "key.created".into(),
            object_id: key.id.to_string(),
            data: serde_json::to_value(&key).expect("keys serialize"),
        },
    )
    .await?;
    Ok(CreatedKey { key, secret })
}

/// Create an API key.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = KeyIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = CreatedKey), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(ctx: Ctx<Administer>, JsonBody(input): JsonBody<KeyIn>) -> ApiResult<Response> {
    let label = input
        .label
        .as_deref()
        .map(|l| tollgate_core::validate::text("label", l, 100))
        .transpose()
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    if input.expires_at.is_some_and(|t| t <= ctx.now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let mut tx = ctx.begin().await?;
    let created = issue(
        &mut tx,
        ctx.tenant(),
        input.role,
        label,
        input.expires_at,
        ctx.actor(),
        ctx.now(),
    )
    .await?;
    ctx.commit(tx, StatusCode::CREATED, &created).await
}

/// List keys (prefixes only, never secrets).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(Paging),
    responses((status = 200, body = ListOf<ApiKey>)))]
pub async fn list(ctx: Ctx<Administer>, Q(paging): Q<Paging>) -> ApiResult<Json<ListOf<ApiKey>>> {
    let page = paging.request()?;
    Ok(Json(
        ctx.read()
            .await?
            .list_keys(ctx.tenant(), &page)
            .await?
            .into(),
    ))
}

/// Revoke a key at once.
#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys",
    params(("id" = String, Path, description = "`key_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = ApiKey), (status = 404, body = crate::error::Problem)))]
pub async fn revoke(ctx: Ctx<Administer>, Id(id): Id<KeyId>) -> ApiResult<Response> {
    let mut tx = ctx.begin().await?;
    let key = tx.revoke_key(ctx.tenant(), id, ctx.now()).await?;
    ctx.audit(&mut tx, "key.revoked", id, &key).await?;
    ctx.commit(tx, StatusCode::OK, &key).await
}
