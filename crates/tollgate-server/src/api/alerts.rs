//! `/v1/alerts`: budget thresholds crossed and usage anomalies, for an analyst to acknowledge
//! and resolve. Every alert and every change of its status is on the audit chain.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_core::{AlertId, CustomerId, SubscriptionId, webhooks::EventType};
use tollgate_store::{AlertFilter, AlertRow, Tx};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Acting, Ctx, Operate, Read, audit_as},
    error::{ApiError, ApiResult},
};

pub const BUDGET_THRESHOLD: &str = "budget_threshold";
pub const USAGE_ANOMALY: &str = "usage_anomaly";
/// A Sigma rule or built-in detector matched activity-log records (`POST /v1/activity`).
pub const ACTIVITY: &str = "activity";
/// A webhook endpoint was disabled after a day of failed deliveries (or a `410 Gone`).
pub const WEBHOOK_DISABLED: &str = "webhook_disabled";

const OPEN: &str = "open";
const ACKNOWLEDGED: &str = "acknowledged";
pub const RESOLVED: &str = "resolved";

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    /// `alr_…`
    pub id: AlertId,
    /// `budget_threshold`, `usage_anomaly`, `activity` or `webhook_disabled`.
    pub kind: String,
    /// Absent for an alert about the tenant's own setup (`webhook_disabled`).
    pub customer_id: Option<CustomerId>,
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
pub async fn raise(
    who: &impl Acting,
    tx: &mut Tx,
    id: AlertId,
    new: NewAlert,
) -> ApiResult<AlertOut> {
    let now = who.now();
    let row = AlertRow {
        id,
        kind: new.kind.to_owned(),
        customer_id: Some(new.customer_id),
        subscription_id: new.subscription_id,
        status: OPEN.to_owned(),
        sentence: new.sentence,
        details: new.details.to_string(),
        created_at: now,
        updated_at: now,
    };
    let out = store(who, tx, row).await?;
    super::cases::on_alert(who, tx, &out).await?;
    Ok(out)
}

/// Raises an alert about the tenant's own setup rather than a customer.
pub async fn raise_for_tenant(
    who: &impl Acting,
    tx: &mut Tx,
    kind: &'static str,
    sentence: String,
    details: Value,
) -> ApiResult<AlertOut> {
    let now = who.now();
    let row = AlertRow {
        id: AlertId::generate(),
        kind: kind.to_owned(),
        customer_id: None,
        subscription_id: None,
        status: OPEN.to_owned(),
        sentence,
        details: details.to_string(),
        created_at: now,
        updated_at: now,
    };
    store(who, tx, row).await
}

/// Inserts, audits and announces (`alert.created`) an alert.
async fn store(who: &impl Acting, tx: &mut Tx, row: AlertRow) -> ApiResult<AlertOut> {
    let id = row.id;
    tx.insert_alert(who.tenant(), &row).await?;
    audit_as(
        who,
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
    let out = AlertOut::try_from(row)?;
    let data = serde_json::to_value(&out).map_err(|e| ApiError::Internal(e.to_string()))?;
    crate::webhooks::publish(tx, who.tenant(), EventType::AlertCreated, data, who.now()).await?;
    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `budget_threshold`, `usage_anomaly`, `activity` or `webhook_disabled`.
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
        && ![
            BUDGET_THRESHOLD,
            USAGE_ANOMALY,
            ACTIVITY,
            WEBHOOK_DISABLED,
            super::cases::CASE_DEADLINE,
        ]
        .contains(&kind.as_str())
    {
        return Err(ApiError::field(
            "kind",
            "must be `budget_threshold`, `usage_anomaly`, `activity`, `webhook_disabled` or \
             `case_deadline`",
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
