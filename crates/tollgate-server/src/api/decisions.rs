//! `/v1/decisions`: every verdict with its reasons, and for one decision everything it saw.

use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_core::{DecisionId, TenantId, decisions::Decision};
use tollgate_store::{DecisionFilter, DecisionRow, Tx};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Ctx, Read},
    decide::{Recorded, ShadowResult},
    error::{ApiError, ApiResult},
};

/// A decision as answered to the caller that asked for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionOut {
    #[serde(flatten)]
    pub decision: Decision,
    /// The human sentence for the verdict, built from the strongest reasons.
    pub summary: String,
}

/// A decision with the facts and feature values it saw, so it can be explained and replayed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionDetail {
    #[serde(flatten)]
    pub decision: Decision,
    pub summary: String,
    /// What was decided on: the customer, payment method or order id.
    pub subject_id: String,
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
    /// Feature values in the rules' CEL variable shape.
    #[schema(value_type = Object)]
    pub features: serde_json::Value,
    /// What each shadow policy would have decided.
    pub shadows: Vec<ShadowResult>,
}

pub fn summary(decision: &Decision) -> String {
    let mut reasons: Vec<_> = decision.reasons.iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.contribution));
    let top: Vec<_> = reasons.iter().take(3).map(|r| r.message.as_str()).collect();
    if top.is_empty() {
        format!(
            "{} (score {}): no risk signal fired.",
            decision.verdict, decision.score
        )
    } else {
        format!(
            "{} (score {}): {}",
            decision.verdict,
            decision.score,
            top.join("; ")
        )
    }
}

impl From<&Recorded> for DecisionOut {
    fn from(recorded: &Recorded) -> Self {
        Self {
            summary: summary(&recorded.decision),
            decision: recorded.decision.clone(),
        }
    }
}

impl TryFrom<&DecisionRow> for DecisionOut {
    type Error = ApiError;

    fn try_from(row: &DecisionRow) -> ApiResult<Self> {
        let decision: Decision = parse(&row.decision, "decision")?;
        Ok(Self {
            summary: summary(&decision),
            decision,
        })
    }
}

/// The stored decision `id`, as answered to callers.
pub async fn stored(tx: &mut Tx, tenant: TenantId, id: DecisionId) -> ApiResult<DecisionOut> {
    DecisionOut::try_from(&tx.decision(tenant, id).await?)
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("stored {what}: {e}")))
}

impl TryFrom<DecisionRow> for DecisionDetail {
    type Error = ApiError;

    fn try_from(row: DecisionRow) -> ApiResult<Self> {
        let decision: Decision = parse(&row.decision, "decision")?;
        Ok(Self {
            summary: summary(&decision),
            decision,
            subject_id: row.subject_id,
            facts: parse(&row.facts, "facts")?,
            features: parse(&row.features, "features")?,
            shadows: parse(&row.shadows, "shadow results")?,
        })
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    pub customer_id: Option<tollgate_core::CustomerId>,
    /// `signup`, `payment_method` or `order`.
    pub kind: Option<tollgate_core::decisions::DecisionKind>,
    pub verdict: Option<tollgate_core::decisions::Verdict>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One decision with its facts, features and shadow results.
#[utoipa::path(get, path = "/v1/decisions/{id}", tag = "decisions",
    params(("id" = String, Path, description = "`dec_…`")),
    responses((status = 200, body = DecisionDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<DecisionId>) -> ApiResult<Json<DecisionDetail>> {
    let row = ctx.read().await?.decision(ctx.tenant(), id).await?;
    Ok(Json(row.try_into()?))
}

/// List decisions, oldest first.
#[utoipa::path(get, path = "/v1/decisions", tag = "decisions", params(DecisionQuery),
    responses((status = 200, body = ListOf<DecisionOut>)))]
pub async fn list(
    ctx: Ctx<Read>,
    Q(query): Q<DecisionQuery>,
) -> ApiResult<Json<ListOf<DecisionOut>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let filter = DecisionFilter {
        customer_id: query.customer_id,
        kind: query.kind.map(|k| k.as_str().to_owned()),
        verdict: query.verdict.map(|v| v.as_str().to_owned()),
    };
    let page = ctx
        .read()
        .await?
        .list_decisions(ctx.tenant(), &filter, &page)
        .await?;
    let data = page
        .data
        .iter()
        .map(DecisionOut::try_from)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(ListOf {
        data,
        next_cursor: page.next_cursor,
    }))
}
