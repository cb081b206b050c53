//! `/v1/tenant`: the caller's own tenant.

use axum::Json;
use tollgate_core::tenancy::Tenant;

use crate::{
    ctx::{Ctx, Read},
    error::ApiResult,
};

/// The tenant the key belongs to.
#[utoipa::path(get, path = "/v1/tenant", tag = "tenant", responses((status = 200, body = Tenant)))]
pub async fn get(ctx: Ctx<Read>) -> ApiResult<Json<Tenant>> {
    Ok(Json(ctx.read().await?.tenant(ctx.tenant()).await?))
}
