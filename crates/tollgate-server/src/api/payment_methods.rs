//! `POST /v1/customers/{id}/payment_methods`: a card is attached and screened.

use axum::{http::StatusCode, response::Response};
use serde::Serialize;
use serde_json::Value;
use tollgate_core::{
    CustomerId, PaymentMethodId,
    decisions::{DecisionKind, DecisionTerms, Verdict},
    signals::{CardFacts, Context, Features, SignalConfig, velocity::VelocityCounts},
    validate,
};
use tollgate_store::ScreenedRow;
use utoipa::ToSchema;

use super::{Checks, Id, decisions::DecisionOut, signups::refuse_card_numbers};
use crate::{
    ctx::{Ctx, WriteFacts},
    decide::{self, Recorded},
    error::{ApiError, ApiResult},
    json::{JsonBody, from_value},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethodOut {
    pub id: PaymentMethodId,
    pub customer_id: CustomerId,
    /// `active` when allowed, `held` for review, `declined`.
    pub status: String,
    pub card: CardFacts,
    pub decision: DecisionOut,
}

pub(crate) fn status_of(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Decline => "declined",
        Verdict::Hold | Verdict::Review | Verdict::Challenge => "held",
        Verdict::Allow | Verdict::Approve => "active",
    }
}

fn check(card: &CardFacts) -> ApiResult<()> {
    let mut c = Checks::default();
    if card.last4.len() != 4 || !card.last4.bytes().all(|b| b.is_ascii_digit()) {
        c.fail("last4", "must be exactly 4 digits");
    }
    c.take(validate::text("fingerprint", &card.fingerprint, 128));
    if !(1..=12).contains(&card.exp_month) {
        c.fail("exp_month", "must be 1 to 12");
    }
    if !(2000..=2100).contains(&card.exp_year) {
        c.fail("exp_year", "must be a four-digit year");
    }
    c.finish()
}

/// Attach a card to a customer and screen it.
#[utoipa::path(post, path = "/v1/customers/{id}/payment_methods", tag = "decisions", request_body = CardFacts,
    params(("id" = String, Path, description = "`cus_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = PaymentMethodOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<WriteFacts>,
    Id(customer_id): Id<CustomerId>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    refuse_card_numbers(&body, &[])?;
    let card: CardFacts = from_value(body)?;
    check(&card)?;
    let data = ctx.state.reference_data()?;
    let tenant = ctx.tenant();
    let now = ctx.now();
    let mut tx = ctx.begin().await?;
    let customer = tx.customer_for_update(tenant, customer_id).await?;
    let id = PaymentMethodId::generate();
    let link_keys = [("card", card.fingerprint.clone())];

    let mut context = Context::at(now);
    context.customer = Some(decide::customer_state(&mut tx, tenant, &customer).await?);
    context.links = decide::links(&mut tx, tenant, &link_keys, Some(customer_id)).await?;
    let customer_key = customer_id.to_string();
    let per_customer = tx
        .velocity(
            tenant,
            &[("payment_method_customer", customer_key.as_str())],
            now,
        )
        .await?[0];
    context.velocity = VelocityCounts {
        payment_methods_customer_24h: per_customer.last_24h,
        payment_methods_customer_7d: per_customer.last_7d,
        ..VelocityCounts::default()
    };
    let mut candidates = vec![
        ("card", card.fingerprint.clone()),
        ("bin", card.bin.to_string()),
    ];
    if let Some(country) = card.country {
        candidates.push(("country", country.to_string()));
    }
    context.lists = decide::list_matches(&mut tx, tenant, &candidates, now).await?;

    let features = serde_json::to_value(Features::for_payment_method(
        &card,
        &context,
        data,
        &SignalConfig::default(),
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let policies = ctx.state.policies().live(&mut tx, tenant).await?;
    let (evaluation, shadows) = policies.evaluate(DecisionKind::PaymentMethod, &features);
    let facts = serde_json::to_value(&card).map_err(|e| ApiError::Internal(e.to_string()))?;
    let recorded = Recorded::new(
        evaluation,
        shadows,
        customer_id,
        DecisionTerms::new(customer.trust_tier, &customer.terms),
        facts.clone(),
        features,
        now,
    );
    let status = status_of(recorded.decision.verdict);
    tx.insert_payment_method(
        tenant,
        &ScreenedRow {
            id: id.to_string(),
            customer_id,
            facts: facts.to_string(),
            status: status.to_owned(),
            decision_id: recorded.decision.id,
            created_at: now,
        },
    )
    .await?;
    tx.add_link_keys(tenant, customer_id, &link_keys, now)
        .await?;
    tx.record_velocity(
        tenant,
        &[("payment_method_customer", customer_key.as_str(), 0)],
        now,
    )
    .await?;
    let created = ctx.audit_entry(
        "payment_method.created",
        id,
        serde_json::json!({ "customer_id": customer_id, "status": status, "bin": card.bin, "last4": card.last4 }),
    )?;
    let decided = recorded.store(&mut tx, tenant, &id.to_string()).await?;
    let out = PaymentMethodOut {
        id,
        customer_id,
        status: status.to_owned(),
        card,
        decision: DecisionOut::from(&recorded),
    };
    ctx.commit_audited(tx, vec![created, decided], StatusCode::CREATED, &out)
        .await
}
