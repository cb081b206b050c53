//! `/v1/alerts`: budget thresholds crossed and usage anomalies, for an analyst to acknowledge
//! and resolve. Every alert and every change of its status is on the audit chain.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_core::{AlertId, CustomerId, SubscriptionId};
use tollgate_store::{AlertFilter, AlertRow, Tx};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Ctx, Operate, Read},
    error::{ApiError, ApiResult},
};

pub const BUDGET_THRESHOLD: &str = "budget_threshold";
pub const USAGE_ANOMALY: &str = "usage_anomaly";

const OPEN: &str = "open";
const ACKNOWLEDGED: &str = "acknowledged";
const RESOLVED: &str = "resolved";

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    /// `alr_…`
    pub id: AlertId,
    /// `budget_threshold` or `usage_anomaly`.
    pub kind: String,
    pub customer_id: CustomerId,
    pub subscription_id: Option<SubscriptionId>,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// What happened, in one sentence.
    pub sentence: String,
    /// For budgets: the budget, threshold, action, spend and forecast; for anomalies: the
    /// score, baseline, observed value and the signals that fired.
    #[schema(value_type = Object)]
    pub details: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<AlertRow> for AlertOut {
    type Error = ApiError;

    fn try_from(row: AlertRow) -> ApiResult<Self> {
        Ok(Self {
            id: row.id,
            kind: row.kind,
            customer_id: row.customer_id,
            subscription_id: row.subscription_id,
            status: row.status,
            sentence: row.sentence,
            details: serde_json::from_str(&row.details)
                .map_err(|e| ApiError::Internal(format!("stored alert details: {e}")))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// An alert about to be raised.
pub struct NewAlert {
    pub kind: &'static str,
    pub customer_id: CustomerId,
    pub subscription_id: Option<SubscriptionId>,
    pub sentence: String,
    pub details: Value,
}

/// Stores the alert under `id` (chosen by the caller, which may have keyed a dedupe row on it)
/// and appends it to the audit chain.
pub async fn raise<P>(
    ctx: &Ctx<P>,
    tx: &mut Tx,
    id: AlertId,
    new: NewAlert,
) -> ApiResult<AlertOut> {
    let now = ctx.now();
    let row = AlertRow {
        id,
        kind: new.kind.to_owned(),
        customer_id: new.customer_id,
        subscription_id: new.subscription_id,
        status: OPEN.to_owned(),
        sentence: new.sentence,
        details: new.details.to_string(),
        created_at: now,
        updated_at: now,
    };
    tx.insert_alert(ctx.tenant(), &row).await?;
    ctx.audit(
        tx,
        "alert.raised",
        id,
        serde_json::json!({
            "kind": row.kind,
            "customer_id": row.customer_id,
            "subscription_id": row.subscription_id,
            "sentence": row.sentence,
        }),
    )
    .await?;
    row.try_into()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `budget_threshold` or `usage_anomaly`.
    pub kind: Option<String>,
    pub customer_id: Option<CustomerId>,
    /// `open`, `acknowledged` or `resolved`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// List alerts, oldest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "spend watch", params(AlertQuery),
    responses((status = 200, body = ListOf<AlertOut>), (status = 422, body = crate::error::Problem)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<AlertQuery>) -> ApiResult<Json<ListOf<AlertOut>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    if let Some(kind) = &query.kind
        && ![BUDGET_THRESHOLD, USAGE_ANOMALY].contains(&kind.as_str())
    {
        return Err(ApiError::field(
            "kind",
            "must be `budget_threshold` or `usage_anomaly`",
        ));
    }
    if let Some(status) = &query.status
        && ![OPEN, ACKNOWLEDGED, RESOLVED].contains(&status.as_str())
    {
        return Err(ApiError::field(
            "status",
            "must be `open`, `acknowledged` or `resolved`",
        ));
    }
    let filter = AlertFilter {
        kind: query.kind,
        customer_id: query.customer_id,
        status: query.status,
    };
    let page = ctx
        .read()
        .await?
        .list_alerts(ctx.tenant(), &filter, &page)
        .await?;
    Ok(Json(ListOf {
        data: page
            .data
            .into_iter()
            .map(AlertOut::try_from)
            .collect::<ApiResult<_>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Get one alert.
#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "spend watch",
    params(("id" = String, Path, description = "`alr_…`")),
    responses((status = 200, body = AlertOut), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<AlertId>) -> ApiResult<Json<AlertOut>> {
    let row = ctx.read().await?.alert(ctx.tenant(), id).await?;
    Ok(Json(row.try_into()?))
}

/// Moves the alert to `to` from one of `from`; the same status again is a no-op answer.
async fn transition(
    ctx: Ctx<Operate>,
    id: AlertId,
    from: &[&str],
    to: &'static str,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let row = tx.alert(tenant, id).await?;
    if row.status != to {
        if !from.contains(&row.status.as_str()) {
            return Err(ApiError::Conflict {
                detail: format!("the alert is {} and cannot become {to}", row.status),
                field: None,
            });
        }
        tx.set_alert_status(tenant, id, to, ctx.now()).await?;
        ctx.audit(
            &mut tx,
            &format!("alert.{to}"),
            id,
            serde_json::json!({ "from": row.status }),
        )
        .await?;
    }
    let out = AlertOut::try_from(tx.alert(tenant, id).await?)?;
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// Acknowledge an open alert: someone is looking at it.
#[utoipa::path(post, path = "/v1/alerts/{id}/acknowledge", tag = "spend watch",
    params(("id" = String, Path, description = "`alr_…`")),
    responses((status = 200, body = AlertOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn acknowledge(ctx: Ctx<Operate>, Id(id): Id<AlertId>) -> ApiResult<Response> {
    transition(ctx, id, &[OPEN], ACKNOWLEDGED).await
}

/// Resolve an open or acknowledged alert.
#[utoipa::path(post, path = "/v1/alerts/{id}/resolve", tag = "spend watch",
    params(("id" = String, Path, description = "`alr_…`")),
    responses((status = 200, body = AlertOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn resolve(ctx: Ctx<Operate>, Id(id): Id<AlertId>) -> ApiResult<Response> {
    transition(ctx, id, &[OPEN, ACKNOWLEDGED], RESOLVED).await
}
