//! Verification steps: an SMS one-time code, a credit-bureau business check, a phone call an
//! analyst completes. Each passed step re-decides the customer's sign-up and its terms.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tollgate_connectors::bureau::{
    BureauAddress, BureauReport, BureauRequest, BusinessStatus, NameMatch, ScoreBand,
};
use tollgate_core::{CustomerId, VerificationId, customers::Customer, signals::SignupFacts};
use tollgate_store::{CustomerPatch, Tx, VerificationRow};
use utoipa::ToSchema;

use super::{Id, decisions::DecisionOut, signups};
use crate::{
    ctx::{Ctx, Operate, Read, WriteFacts},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

const CODE_TTL_MINUTES: i64 = 10;
const MAX_ATTEMPTS: i64 = 5;

tollgate_core::str_enum!(
    VerificationKind {
        Sms = "sms",
        Bureau = "bureau",
        PhoneCall = "phone_call",
    }
);

impl VerificationKind {
    /// The step name the rules see in `customer.completed_steps`.
    fn step(self) -> &'static str {
        match self {
            VerificationKind::Sms => "sms_verification",
            VerificationKind::Bureau => "bureau_check",
            VerificationKind::PhoneCall => "phone_call",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationIn {
    pub kind: VerificationKind,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmIn {
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteIn {
    /// `passed` or `failed`.
    pub outcome: String,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationOut {
    pub id: VerificationId,
    pub customer_id: CustomerId,
    /// `sms_verification`, `bureau_check` or `phone_call`.
    pub step: String,
    /// `pending`, `passed`, `failed` or `expired`.
    pub status: String,
    pub attempts: i64,
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub result: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The re-decision of the customer's terms, when this step completed it.
    pub decision: Option<DecisionOut>,
}

impl VerificationOut {
    fn new(row: VerificationRow, decision: Option<DecisionOut>) -> Self {
        Self {
            id: row.id,
            customer_id: row.customer_id,
            step: row.kind,
            status: row.status,
            attempts: row.attempts,
            expires_at: row.expires_at,
            result: row.result.and_then(|r| serde_json::from_str(&r).ok()),
            created_at: row.created_at,
            completed_at: row.completed_at,
            decision,
        }
    }
}

/// Codes are stored hashed with the verification's id, so a leaked table reveals no codes.
fn code_hash(id: VerificationId, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{id}:{code}").as_bytes()))
}

fn passes(report: &BureauReport) -> bool {
    report.score_band <= ScoreBand::C
        && report.name_match != NameMatch::None
        && report.status == BusinessStatus::Active
}

async fn signup_of(
    tx: &mut Tx,
    ctx_tenant: tollgate_core::TenantId,
    customer: CustomerId,
) -> ApiResult<SignupFacts> {
    let text = tx
        .signup_facts(ctx_tenant, customer)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            detail: "this customer did not come through /v1/signups; there is no sign-up to verify"
                .into(),
            field: None,
        })?;
    serde_json::from_str(&text).map_err(|e| ApiError::Internal(format!("stored sign-up: {e}")))
}

/// Re-decides the sign-up with the steps passed so far and applies the new terms.
async fn redecide<P>(ctx: &Ctx<P>, tx: &mut Tx, customer: &Customer) -> ApiResult<DecisionOut> {
    let tenant = ctx.tenant();
    let facts = signup_of(tx, tenant, customer.id).await?;
    let recorded = signups::decide_signup(
        &ctx.state,
        tx,
        tenant,
        &facts,
        customer.id,
        Some(customer),
        ctx.now(),
    )
    .await?;
    if let Some(terms) = &recorded.decision.terms {
        let patch = CustomerPatch {
            status: Some(signups::customer_status(recorded.decision.verdict)),
            trust_tier: Some(terms.trust_tier),
            terms: Some(terms.commercial()),
            ..CustomerPatch::default()
        };
        let (before, after) = tx
            .update_customer(tenant, customer.id, patch, ctx.now())
            .await?;
        ctx.audit(tx, "customer.terms_changed", customer.id, serde_json::json!({ "before": before, "after": after, "decision_id": recorded.decision.id })).await?;
    }
    recorded.save(tx, tenant, &customer.id.to_string()).await?;
    Ok(DecisionOut::from(&recorded))
}

/// Start a verification step for a customer.
#[utoipa::path(post, path = "/v1/customers/{id}/verifications", tag = "verifications", request_body = VerificationIn,
    params(("id" = String, Path, description = "`cus_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = VerificationOut), (status = 404, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<WriteFacts>,
    Id(customer_id): Id<CustomerId>,
    JsonBody(input): JsonBody<VerificationIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let customer = ctx.read().await?.customer(tenant, customer_id).await?;
    let id = VerificationId::generate();
    let mut row = VerificationRow {
        id,
        customer_id,
        kind: input.kind.step().to_owned(),
        status: "pending".into(),
        code_hash: None,
        attempts: 0,
        expires_at: None,
        result: None,
        created_at: now,
        completed_at: None,
    };
    let mut decision = None;
    let mut tx;
    match input.kind {
        VerificationKind::Sms => {
            let sms = ctx
                .state
                .connectors()
                .sms
                .clone()
                .ok_or_else(|| ApiError::Unavailable("no SMS provider is configured".into()))?;
            let phone = customer.phone.clone().ok_or_else(|| ApiError::Conflict {
                detail: "the customer has no phone number".into(),
                field: None,
            })?;
            let code = format!("{:06}", rand::random_range(0..1_000_000u32));
            // Sent before anything is stored: a failed send leaves no dangling pending step.
            let receipt = sms
                .send(&phone, &format!("Your verification code is {code}. It expires in {CODE_TTL_MINUTES} minutes."))
                .await
                .map_err(|e| ApiError::Unavailable(format!("the SMS provider did not take the message: {e}")))?;
            row.code_hash = Some(code_hash(id, &code));
            row.expires_at = Some(now + Duration::minutes(CODE_TTL_MINUTES));
            row.result = Some(serde_json::json!({ "message_id": receipt.message_id, "provider_status": receipt.status, "attempts": receipt.attempts.len() }).to_string());
            tx = ctx.begin().await?;
            tx.insert_verification(tenant, &row).await?;
        }
        VerificationKind::Bureau => {
            let bureau =
                ctx.state.connectors().bureau.clone().ok_or_else(|| {
                    ApiError::Unavailable("no credit bureau is configured".into())
                })?;
            let facts = signup_of(&mut ctx.read().await?, tenant, customer_id).await?;
            let request = BureauRequest {
                reference: id.to_string(),
                legal_name: facts.company.name.clone(),
                registration_number: facts.company.registration_number.clone(),
                country: facts.company.country,
                domain: customer.company_domain.clone(),
                address: Some(BureauAddress {
                    line1: facts.billing_address.line1.clone(),
                    city: facts.billing_address.city.clone(),
                    postal_code: facts.billing_address.postal_code.clone(),
                    country: facts.billing_address.country,
                }),
            };
            let report = bureau.check(request).await.map_err(|e| {
                ApiError::Unavailable(format!("the credit bureau did not answer: {e}"))
            })?;
            row.status = if passes(&report) { "passed" } else { "failed" }.into();
            row.completed_at = Some(now);
            row.result = Some(
                serde_json::json!({
                    "check_id": report.check_id,
                    "score_band": report.score_band,
                    "registered_name": report.registered_name,
                    "name_match": report.name_match,
                    "years_in_business": report.years_in_business,
                    "status": report.status,
                })
                .to_string(),
            );
            tx = ctx.begin().await?;
            tx.insert_verification(tenant, &row).await?;
            if row.status == "passed" {
                let customer = tx.customer_for_update(tenant, customer_id).await?;
                decision = Some(redecide(&ctx, &mut tx, &customer).await?);
            }
        }
        VerificationKind::PhoneCall => {
            tx = ctx.begin().await?;
            tx.insert_verification(tenant, &row).await?;
        }
    }
    ctx.audit(
        &mut tx,
        "verification.started",
        id,
        serde_json::json!({ "customer_id": customer_id, "step": row.kind, "status": row.status }),
    )
    .await?;
    ctx.commit(
        tx,
        StatusCode::CREATED,
        &VerificationOut::new(row, decision),
    )
    .await
}

/// Confirm an SMS code.
#[utoipa::path(post, path = "/v1/verifications/{id}/confirm", tag = "verifications", request_body = ConfirmIn,
    params(("id" = String, Path, description = "`ver_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = VerificationOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn confirm(
    ctx: Ctx<WriteFacts>,
    Id(id): Id<VerificationId>,
    JsonBody(input): JsonBody<ConfirmIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let mut tx = ctx.begin().await?;
    let mut row = tx.verification_for_update(tenant, id).await?;
    if row.kind != "sms_verification" {
        return Err(ApiError::Conflict {
            detail: "only SMS verifications take a code".into(),
            field: None,
        });
    }
    if row.status != "pending" {
        return Err(ApiError::Conflict {
            detail: format!("this verification is {}", row.status),
            field: None,
        });
    }
    let expired = row.expires_at.is_some_and(|t| now >= t);
    let matches =
        !expired && row.code_hash.as_deref() == Some(code_hash(id, input.code.trim()).as_str());
    row.attempts += 1;
    if matches {
        row.status = "passed".into();
        row.completed_at = Some(now);
    } else if expired {
        row.status = "expired".into();
    } else if row.attempts >= MAX_ATTEMPTS {
        row.status = "failed".into();
        row.completed_at = Some(now);
    }
    tx.update_verification(tenant, &row).await?;
    ctx.audit(
        &mut tx,
        "verification.attempted",
        id,
        serde_json::json!({ "status": row.status, "attempts": row.attempts }),
    )
    .await?;
    if !matches {
        // The attempt counts even though the answer is an error.
        tx.commit().await?;
        let why = match row.status.as_str() {
            "expired" => "the code has expired; start a new verification",
            "failed" => "too many wrong codes; start a new verification",
            _ => "the code does not match",
        };
        return Err(ApiError::field("code", why));
    }
    let customer = tx.customer_for_update(tenant, row.customer_id).await?;
    let decision = redecide(&ctx, &mut tx, &customer).await?;
    ctx.commit(
        tx,
        StatusCode::OK,
        &VerificationOut::new(row, Some(decision)),
    )
    .await
}

/// Record the outcome of a phone call.
#[utoipa::path(post, path = "/v1/verifications/{id}/complete", tag = "verifications", request_body = CompleteIn,
    params(("id" = String, Path, description = "`ver_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = VerificationOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn complete(
    ctx: Ctx<Operate>,
    Id(id): Id<VerificationId>,
    JsonBody(input): JsonBody<CompleteIn>,
) -> ApiResult<Response> {
    if !matches!(input.outcome.as_str(), "passed" | "failed") {
        return Err(ApiError::field("outcome", "must be `passed` or `failed`"));
    }
    let note = input
        .note
        .as_deref()
        .map(|n| tollgate_core::validate::text("note", n, 1000))
        .transpose()
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let mut row = tx.verification_for_update(tenant, id).await?;
    if row.kind != "phone_call" || row.status != "pending" {
        return Err(ApiError::Conflict {
            detail: format!("this {} verification is {}", row.kind, row.status),
            field: None,
        });
    }
    row.status = input.outcome.clone();
    row.completed_at = Some(ctx.now());
    row.result = Some(serde_json::json!({ "note": note, "by": ctx.actor().label() }).to_string());
    tx.update_verification(tenant, &row).await?;
    ctx.audit(
        &mut tx,
        "verification.completed",
        id,
        serde_json::json!({ "outcome": row.status, "note": note }),
    )
    .await?;
    let decision = if row.status == "passed" {
        let customer = tx.customer_for_update(tenant, row.customer_id).await?;
        Some(redecide(&ctx, &mut tx, &customer).await?)
    } else {
        None
    };
    ctx.commit(tx, StatusCode::OK, &VerificationOut::new(row, decision))
        .await
}

/// One verification.
#[utoipa::path(get, path = "/v1/verifications/{id}", tag = "verifications",
    params(("id" = String, Path, description = "`ver_…`")),
    responses((status = 200, body = VerificationOut), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<VerificationId>) -> ApiResult<Json<VerificationOut>> {
    let row = ctx
        .read()
        .await?
        .verification_for_update(ctx.tenant(), id)
        .await?;
    Ok(Json(VerificationOut::new(row, None)))
}
