//! `/v1/actions`: the outbox as the partner sees it — every e-mail, webhook and vendor call
//! Tollgate decided to make, where it stands, and every attempt at it; and a manual re-send.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_core::{
    ActionId,
    outbox::{ActionKind, ActionStatus},
};
use tollgate_store::{ActionFilter, ActionRow, AttemptRow};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Ctx, Operate, Read},
    error::{ApiError, ApiResult},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionOut {
    /// `act_…`; the receiver sees it as the idempotency key of every attempt.
    pub id: ActionId,
    pub kind: ActionKind,
    /// What asked for the action: `dunning`, `playbook`, `case`, `webhook`…
    pub source: String,
    /// The object the action is about (a customer, an episode, a case…).
    pub object_id: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub status: ActionStatus,
    pub attempts: i64,
    /// When a pending action is tried next.
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<ActionRow> for ActionOut {
    fn from(row: ActionRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            source: row.source,
            object_id: row.object_id,
            payload: row.payload,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            created_at: row.created_at,
            finished_at: row.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptOut {
    pub attempt: i64,
    /// The worker that made the attempt.
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `delivered`, `skipped`, `transient_failure` or `permanent_failure`.
    pub outcome: String,
    pub detail: String,
}

impl From<AttemptRow> for AttemptOut {
    fn from(row: AttemptRow) -> Self {
        Self {
            attempt: row.attempt,
            worker: row.worker,
            started_at: row.started_at,
            finished_at: row.finished_at,
            outcome: row.outcome,
            detail: row.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDetail {
    #[serde(flatten)]
    pub action: ActionOut,
    pub attempt_log: Vec<AttemptOut>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionQuery {
    pub kind: Option<ActionKind>,
    pub status: Option<ActionStatus>,
    /// Actions about this object (a customer, an episode, a case…).
    pub object_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// List outbox actions, oldest first.
#[utoipa::path(get, path = "/v1/actions", tag = "actions", params(ActionQuery),
    responses((status = 200, body = ListOf<ActionOut>), (status = 422, body = crate::error::Problem)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<ActionQuery>) -> ApiResult<Json<ListOf<ActionOut>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let filter = ActionFilter {
        kind: query.kind,
        status: query.status,
        object_id: query.object_id,
    };
    let page = ctx
        .read()
        .await?
        .list_actions(ctx.tenant(), &filter, &page)
        .await?;
    Ok(Json(ListOf {
        data: page.data.into_iter().map(ActionOut::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn detail(ctx: &Ctx<impl Send + Sync>, id: ActionId) -> ApiResult<ActionDetail> {
    let mut tx = ctx.read().await?;
    let action = tx.action(ctx.tenant(), id).await?;
    let attempt_log = tx.action_attempts(id).await?;
    Ok(ActionDetail {
        action: action.into(),
        attempt_log: attempt_log.into_iter().map(AttemptOut::from).collect(),
    })
}

/// One action with every attempt made at it.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "actions",
    params(("id" = String, Path, description = "`act_…`")),
    responses((status = 200, body = ActionDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<ActionId>) -> ApiResult<Json<ActionDetail>> {
    Ok(Json(detail(&ctx, id).await?))
}

/// Send a finished action again (after fixing an endpoint, say). It keeps its id, so a receiver
/// that already has it treats the re-send as a duplicate.
#[utoipa::path(post, path = "/v1/actions/{id}/retry", tag = "actions",
    params(("id" = String, Path, description = "`act_…`")),
    responses((status = 202, body = ActionOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn retry(ctx: Ctx<Operate>, Id(id): Id<ActionId>) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let action = tx.action(tenant, id).await?;
    if action.status == ActionStatus::Pending {
        return Err(ApiError::Conflict {
            detail: "the action is still pending; it will be attempted again on its own".into(),
            field: None,
        });
    }
    tx.requeue_action(tenant, id, ctx.now()).await?;
    ctx.audit(
        &mut tx,
        "action.requeued",
        id,
        serde_json::json!({ "from": action.status, "kind": action.kind }),
    )
    .await?;
    let out = ActionOut::from(tx.action(tenant, id).await?);
    ctx.commit(tx, StatusCode::ACCEPTED, &out).await
}
