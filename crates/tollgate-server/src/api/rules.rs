//! `/v1/rules`: versioned policies of CEL rules. Versions are immutable; one is active, others
//! may run in shadow. A candidate can be backtested over stored decisions before it goes live.

use axum::{Json, extract::Path, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_core::{
    decisions::DecisionKind,
    rules::{Backtest, BacktestReport, CompiledPolicy, Policy, PolicyError, StoredDecision},
    signals::Features,
};
use tollgate_store::PolicyRow;
use utoipa::ToSchema;

use crate::{
    ctx::{Ctx, Operate, Read},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

tollgate_core::str_enum!(
    /// Whether a version decides (`active`), is evaluated and recorded only (`shadow`), or rests.
    PolicyStatus {
        Active = "active",
        Shadow = "shadow",
        Inactive = "inactive",
    }
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    pub policy: Policy,
    /// Defaults to `inactive`: publish first, backtest, then activate.
    pub status: Option<PolicyStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyStatusIn {
    pub status: PolicyStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyVersion {
    /// Tollgate's number for this version, 1, 2, 3…
    pub version: i64,
    /// The document's own version label, recorded on every decision it makes.
    pub label: String,
    pub status: String,
    pub rules: usize,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDetail {
    #[serde(flatten)]
    pub summary: PolicyVersion,
    pub policy: Policy,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestIn {
    /// The candidate policy to replay.
    pub policy: Policy,
    /// Decisions made at or after this instant.
    pub from: DateTime<Utc>,
    /// Decisions made before this instant.
    pub to: DateTime<Utc>,
    /// How many changed decisions to show (default 20, at most 200).
    pub max_examples: Option<usize>,
}

fn detail(row: PolicyRow) -> ApiResult<PolicyDetail> {
    let policy = Policy::from_json(&row.document)
        .map_err(|e| ApiError::Internal(format!("stored policy: {e}")))?;
    Ok(PolicyDetail {
        summary: PolicyVersion {
            version: row.version,
            label: row.label,
            status: row.status,
            rules: policy.rules.len(),
            created_by: row.created_by,
            created_at: row.created_at,
        },
        policy,
    })
}

/// Compiles a candidate, naming the rule and position of any error. A candidate is also held
/// to what a stored version is not: every threshold it compares a count with must be reachable.
fn compile(policy: Policy) -> ApiResult<CompiledPolicy> {
    let refused = |e: PolicyError| {
        let field = match e.field() {
            f if f.is_empty() => "policy".to_owned(),
            f => format!("policy.{f}"),
        };
        ApiError::field(field, e)
    };
    let compiled = CompiledPolicy::compile(policy).map_err(refused)?;
    compiled.check_reachable().map_err(refused)?;
    Ok(compiled)
}

/// List policy versions, newest first.
#[utoipa::path(get, path = "/v1/rules", tag = "rules", responses((status = 200, body = Vec<PolicyVersion>)))]
pub async fn list(ctx: Ctx<Read>) -> ApiResult<Json<Vec<PolicyVersion>>> {
    let rows = ctx.read().await?.policies(ctx.tenant()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| detail(r).map(|d| d.summary))
            .collect::<ApiResult<_>>()?,
    ))
}

/// One version with its document.
#[utoipa::path(get, path = "/v1/rules/{version}", tag = "rules", params(("version" = i64, Path)),
    responses((status = 200, body = PolicyDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Path(version): Path<String>) -> ApiResult<Json<PolicyDetail>> {
    let version = version.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(detail(
        ctx.read().await?.policy(ctx.tenant(), version).await?,
    )?))
}

/// Publish a new version. Invalid CEL is refused with the rule and position at fault.
#[utoipa::path(post, path = "/v1/rules", tag = "rules", request_body = PolicyIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = PolicyDetail), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(ctx: Ctx<Operate>, JsonBody(input): JsonBody<PolicyIn>) -> ApiResult<Response> {
    let label = input.policy.version.clone();
    let document =
        serde_json::to_string(&input.policy).map_err(|e| ApiError::Internal(e.to_string()))?;
    compile(input.policy)?;
    let status = input.status.unwrap_or(PolicyStatus::Inactive);
    let mut tx = ctx.begin().await?;
    if tx
        .policies(ctx.tenant())
        .await?
        .iter()
        .any(|p| p.label == label)
    {
        return Err(ApiError::Conflict {
            detail: format!(
                "a policy labelled `{label}` exists; versions are immutable, publish a new label"
            ),
            field: Some("policy.version"),
        });
    }
    let row = tx
        .insert_policy(
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
        "policy.published",
        format!("policy:{}", out.summary.version),
        serde_json::json!({ "label": label, "status": status }),
    )
    .await?;
    let response = ctx.commit(tx, StatusCode::CREATED, &out).await?;
    ctx.state.policies().changed(ctx.tenant());
    Ok(response)
}

/// Activate, shadow or retire a version. Activating one retires the version that was active.
#[utoipa::path(post, path = "/v1/rules/{version}/status", tag = "rules", request_body = PolicyStatusIn,
    params(("version" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = PolicyVersion), (status = 404, body = crate::error::Problem)))]
pub async fn set_status(
    ctx: Ctx<Operate>,
    Path(version): Path<String>,
    JsonBody(input): JsonBody<PolicyStatusIn>,
) -> ApiResult<Response> {
    let version: i64 = version.parse().map_err(|_| ApiError::NotFound)?;
    let mut tx = ctx.begin().await?;
    let (before, after) = tx
        .set_policy_status(ctx.tenant(), version, input.status.as_str())
        .await?;
    ctx.audit(
        &mut tx,
        "policy.status_changed",
        format!("policy:{version}"),
        serde_json::json!({ "label": after.label, "from": before.status, "to": after.status }),
    )
    .await?;
    let out = detail(after)?.summary;
    let response = ctx.commit(tx, StatusCode::OK, &out).await?;
    ctx.state.policies().changed(ctx.tenant());
    Ok(response)
}

/// Replay a candidate over the decisions stored in a time range, through the same engine.
#[utoipa::path(post, path = "/v1/rules/backtest", tag = "rules", request_body = BacktestIn,
    responses((status = 200, body = BacktestReport), (status = 422, body = crate::error::Problem)))]
pub async fn backtest(
    ctx: Ctx<Operate>,
    JsonBody(input): JsonBody<BacktestIn>,
) -> ApiResult<Json<BacktestReport>> {
    if input.to <= input.from {
        return Err(ApiError::field("to", "must be after from"));
    }
    let max_examples = input.max_examples.unwrap_or(20);
    if max_examples > 200 {
        return Err(ApiError::field("max_examples", "must be at most 200"));
    }
    let candidate = compile(input.policy)?;
    let mut run = Backtest::new(&candidate, max_examples);
    let mut tx = ctx.read().await?;
    let mut after = None;
    loop {
        let page = tx
            .decisions_between(ctx.tenant(), input.from, input.to, after, 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for row in &page {
            let mut features = serde_json::from_str(&row.features)
                .map_err(|e| ApiError::Internal(format!("stored features: {e}")))?;
            Features::upgrade_stored(&mut features);
            let stored = StoredDecision {
                decision_id: row.id,
                kind: row
                    .kind
                    .parse::<DecisionKind>()
                    .map_err(ApiError::Internal)?,
                features,
                verdict: row.verdict.parse().map_err(ApiError::Internal)?,
            };
            run.replay(&stored);
        }
    }
    Ok(Json(run.finish()))
}
