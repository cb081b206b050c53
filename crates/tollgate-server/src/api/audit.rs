//! `/v1/audit`: the tenant's hash-chained trail of every change.

use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_core::audit::AuditEvent;
use tollgate_store::AuditFilter;
use utoipa::ToSchema;

use super::Q;
use crate::{
    ctx::{Ctx, Read},
    error::{ApiError, ApiResult},
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events about this object (`cus_…`, `sub_…`, …).
    pub object_id: Option<String>,
    /// Only events of this action, e.g. `subscription.suspended`.
    pub action: Option<String>,
    /// Events after this chain position (`next_cursor` of the previous page).
    pub cursor: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEvent>,
    pub next_cursor: Option<i64>,
}

/// List audit events in chain order.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<AuditQuery>) -> ApiResult<Json<AuditPage>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    let filter = AuditFilter {
        object_id: query.object_id,
        action: query.action,
        after_seq: query.cursor.unwrap_or(0),
        limit: limit + 1,
    };
    let mut data = ctx.read().await?.list_audit(ctx.tenant(), &filter).await?;
    let next_cursor = if data.len() > limit as usize {
        data.truncate(limit as usize);
        data.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(AuditPage { data, next_cursor }))
}
