//! `/v1/playbooks`: versioned playbook documents, one active per tenant, as rule policies are.
//! Without an active version the shipped playbook (`policies/playbook-default.json`) applies.

use axum::{Json, extract::Path, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_core::cases::Playbook;
use tollgate_store::PlaybookRow;
use utoipa::ToSchema;

use super::cases::playbook_in_force;
use crate::{
    ctx::{Ctx, Operate, Read},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

tollgate_core::str_enum!(
    /// Whether a version decides (`active`) or rests.
    PlaybookStatus {
        Active = "active",
        Inactive = "inactive",
    }
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookIn {
    pub playbook: Playbook,
    /// Defaults to `inactive`.
    pub status: Option<PlaybookStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookStatusIn {
    pub status: PlaybookStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookVersion {
    /// Tollgate's number for this version, 1, 2, 3…; absent for the shipped playbook.
    pub version: Option<i64>,
    /// The document's own version label, recorded on every automatic action.
    pub label: String,
    /// `active`, `inactive`, or `shipped` for the built-in playbook in force.
    pub status: String,
    pub rules: usize,
    pub created_by: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybookDetail {
    #[serde(flatten)]
    pub summary: PlaybookVersion,
    pub playbook: Playbook,
}

fn detail(row: PlaybookRow) -> ApiResult<PlaybookDetail> {
    let playbook: Playbook = serde_json::from_str(&row.document)
        .map_err(|e| ApiError::Internal(format!("stored playbook: {e}")))?;
    Ok(PlaybookDetail {
        summary: PlaybookVersion {
            version: Some(row.version),
            label: row.label,
            status: row.status,
            rules: playbook.rules.len(),
            created_by: Some(row.created_by),
            created_at: Some(row.created_at),
        },
        playbook,
    })
}

/// List playbook versions, newest first.
#[utoipa::path(get, path = "/v1/playbooks", tag = "cases", responses((status = 200, body = Vec<PlaybookVersion>)))]
pub async fn list(ctx: Ctx<Read>) -> ApiResult<Json<Vec<PlaybookVersion>>> {
    let rows = ctx.read().await?.playbooks(ctx.tenant()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| detail(r).map(|d| d.summary))
            .collect::<ApiResult<_>>()?,
    ))
}

/// The playbook in force: the active version, else the shipped one.
#[utoipa::path(get, path = "/v1/playbooks/active", tag = "cases", responses((status = 200, body = PlaybookDetail)))]
pub async fn active(ctx: Ctx<Read>) -> ApiResult<Json<PlaybookDetail>> {
    let mut tx = ctx.read().await?;
    if let Some(row) = tx.active_playbook(ctx.tenant()).await? {
        return Ok(Json(detail(row)?));
    }
    let in_force = playbook_in_force(&mut tx, ctx.tenant()).await?;
    Ok(Json(PlaybookDetail {
        summary: PlaybookVersion {
            version: None,
            label: in_force.playbook.version.clone(),
            status: "shipped".into(),
            rules: in_force.playbook.rules.len(),
            created_by: None,
            created_at: None,
        },
        playbook: in_force.playbook,
    }))
}

/// One version with its document.
#[utoipa::path(get, path = "/v1/playbooks/{version}", tag = "cases", params(("version" = i64, Path)),
    responses((status = 200, body = PlaybookDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Path(version): Path<String>) -> ApiResult<Json<PlaybookDetail>> {
    let version = version.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(detail(
        ctx.read().await?.playbook(ctx.tenant(), version).await?,
    )?))
}

/// Publish a new version; labels are unique per tenant (versions are immutable).
#[utoipa::path(post, path = "/v1/playbooks", tag = "cases", request_body = PlaybookIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = PlaybookDetail), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<Operate>,
    JsonBody(input): JsonBody<PlaybookIn>,
) -> ApiResult<Response> {
    input
        .playbook
        .validate()
        .map_err(|e| ApiError::field(format!("playbook.{}", e.field), e.message))?;
    let label = input.playbook.version.clone();
    let document =
        serde_json::to_string(&input.playbook).map_err(|e| ApiError::Internal(e.to_string()))?;
    let status = input.status.unwrap_or(PlaybookStatus::Inactive);
    let mut tx = ctx.begin().await?;
    if tx
        .playbooks(ctx.tenant())
        .await?
        .iter()
        .any(|p| p.label == label)
    {
        return Err(ApiError::Conflict {
            detail: format!(
                "a playbook labelled `{label}` exists; versions are immutable, publish a new label"
            ),
            field: Some("playbook.version"),
        });
    }
    let row = tx
        .insert_playbook(
            ctx.tenant(),
            &label,
            &document,
            status.as_str(),
            &ctx.actor().label(),
            ctx.now(),
        )
        .await?;
    let out = detail(row)?;
    ctx.audit(
        &mut tx,
        "playbook.published",
        format!("playbook:{}", out.summary.version.unwrap_or_default()),
        serde_json::json!({ "label": label, "status": status }),
    )
    .await?;
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// Activate or retire a version; activating one retires the version that was active.
#[utoipa::path(post, path = "/v1/playbooks/{version}/status", tag = "cases", request_body = PlaybookStatusIn,
    params(("version" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = PlaybookVersion), (status = 404, body = crate::error::Problem)))]
pub async fn set_status(
    ctx: Ctx<Operate>,
    Path(version): Path<String>,
    JsonBody(input): JsonBody<PlaybookStatusIn>,
) -> ApiResult<Response> {
    let version: i64 = version.parse().map_err(|_| ApiError::NotFound)?;
    let mut tx = ctx.begin().await?;
    let (before, after) = tx
        .set_playbook_status(ctx.tenant(), version, input.status.as_str())
        .await?;
    ctx.audit(
        &mut tx,
        "playbook.status_changed",
        format!("playbook:{version}"),
        serde_json::json!({ "label": after.label, "from": before.status, "to": after.status }),
    )
    .await?;
    let out = detail(after)?.summary;
    ctx.commit(tx, StatusCode::OK, &out).await
}
