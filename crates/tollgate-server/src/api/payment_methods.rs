//! `POST /v1/customers/{id}/payment_methods`: a card or a bank account is attached and
//! screened.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_core::{
    CustomerId, PaymentMethodId, TenantId,
    customers::Customer,
    decisions::{DecisionKind, DecisionTerms},
    signals::{
        BankAccountFacts, BankVerification, CardFacts, Context, DebitScheme, Features, Mandate,
        PaymentMethodFacts, PaymentMethodKind, SignalConfig, velocity::VelocityCounts,
    },
    validate,
    webhooks::EventType,
};
use tollgate_store::{Screened, ScreenedRow, Tx};
use utoipa::ToSchema;

use super::{
    Checks, Id, ListOf, Q,
    decisions::{self, DecisionOut},
    review::{self, ReviewIn, ReviewOut, ScreenedQuery, ScreenedStatus},
    signups::refuse_account_numbers,
};
use crate::{
    AppState,
    ctx::{Ctx, Operate, Read, WriteFacts},
    decide::{self, Recorded},
    error::{ApiError, ApiResult},
    json::{JsonBody, from_value},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethodOut {
    pub id: PaymentMethodId,
    pub customer_id: CustomerId,
    #[serde(rename = "type")]
    pub kind: PaymentMethodKind,
    /// `active` when allowed, `held` for review, `declined`.
    pub status: String,
    /// For a card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardFacts>,
    /// For a bank account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<BankAccountFacts>,
    /// The decision that screened it.
    pub decision: DecisionOut,
    /// Who released or declined it after it was held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewOut>,
    pub created_at: DateTime<Utc>,
}

impl PaymentMethodOut {
    fn new(
        id: PaymentMethodId,
        row: ScreenedRow,
        method: PaymentMethodFacts,
        decision: DecisionOut,
    ) -> Self {
        Self {
            id,
            customer_id: row.customer_id,
            kind: method.kind(),
            status: row.status,
            card: method.card().cloned(),
            bank_account: method.bank_account().cloned(),
            decision,
            review: row.review.map(ReviewOut::from),
            created_at: row.created_at,
        }
    }

    /// A stored payment method with the decision that screened it.
    async fn stored(tx: &mut Tx, tenant: TenantId, row: ScreenedRow) -> ApiResult<Self> {
        let id = row
            .id
            .parse()
            .map_err(|e| ApiError::Internal(format!("stored payment method id: {e}")))?;
        let method = serde_json::from_str(&row.facts)
            .map_err(|e| ApiError::Internal(format!("stored payment method: {e}")))?;
        let decision = decisions::stored(tx, tenant, row.decision_id).await?;
        Ok(Self::new(id, row, method, decision))
    }
}

/// The PSP reports the last four characters; an IBAN can end in letters (Malta's do).
fn check_last4(c: &mut Checks, last4: &str, allow_letters: bool) {
    let fits = |b: u8| b.is_ascii_digit() || (allow_letters && b.is_ascii_alphabetic());
    if last4.len() != 4 || !last4.bytes().all(fits) {
        c.fail(
            "last4",
            if allow_letters {
                "must be exactly 4 letters or digits"
            } else {
                "must be exactly 4 digits"
            },
        );
    }
}

fn check_card(card: &CardFacts) -> ApiResult<()> {
    let mut c = Checks::default();
    check_last4(&mut c, &card.last4, false);
    c.take(validate::text("fingerprint", &card.fingerprint, 128));
    if !(1..=12).contains(&card.exp_month) {
        c.fail("exp_month", "must be 1 to 12");
    }
    if !(2000..=2100).contains(&card.exp_year) {
        c.fail("exp_year", "must be a four-digit year");
    }
    c.finish()
}

/// Where each national scheme's accounts are held. SEPA reaches three dozen countries and
/// territories, so its country is not checked here.
fn scheme_country(scheme: DebitScheme) -> Option<&'static str> {
    match scheme {
        DebitScheme::SepaCore | DebitScheme::SepaB2b => None,
        DebitScheme::Ach => Some("US"),
        DebitScheme::Bacs => Some("GB"),
        DebitScheme::Becs => Some("AU"),
        DebitScheme::Pad => Some("CA"),
    }
}

fn check_bank_account(account: &BankAccountFacts, now: DateTime<Utc>) -> ApiResult<()> {
    let mut c = Checks::default();
    check_last4(&mut c, &account.last4, true);
    c.take(validate::text("fingerprint", &account.fingerprint, 128));
    if let Some(expected) = scheme_country(account.scheme)
        && account.country.as_str() != expected
    {
        c.fail(
            "country",
            format_args!("`{}` debits draw on accounts in {expected}", account.scheme),
        );
    }
    if let Some(code) = &account.bank_code {
        let fits = (3..=20).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b' ');
        if !fits {
            c.fail(
                "bank_code",
                "must be a BIC, routing number, sort code or BSB (3 to 20 letters, digits, dashes)",
            );
        }
    }
    if let Some(holder) = &account.holder_name {
        c.take(validate::text("holder_name", holder, 200));
    }
    if let Some(mandate) = &account.mandate {
        c.take(validate::text("mandate.reference", &mandate.reference, 140));
        if mandate.accepted_at > now + chrono::Duration::minutes(5) {
            c.fail("mandate.accepted_at", "must not be in the future");
        }
    }
    c.finish()
}

/// The body as a card (no `type`, or `"type": "card"`) or a bank account, validated.
fn parse(body: Value, now: DateTime<Utc>) -> ApiResult<PaymentMethodFacts> {
    let Value::Object(mut fields) = body else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let kind = PaymentMethodKind::take_from(&mut fields).map_err(|e| ApiError::field("type", e))?;
    let body = Value::Object(fields);
    Ok(match kind {
        PaymentMethodKind::Card => {
            let card = from_value(body)?;
            check_card(&card)?;
            PaymentMethodFacts::Card(card)
        }
        PaymentMethodKind::BankAccount => {
            let account = from_value(body)?;
            check_bank_account(&account, now)?;
            PaymentMethodFacts::BankAccount(account)
        }
    })
}

/// Values of a kind (`card`, `bank_account`, `country`…), as links and lists key them.
pub(crate) type Keys = Vec<(&'static str, String)>;

/// What links customers sharing the instrument, and what the lists may name.
pub(crate) fn keys(method: &PaymentMethodFacts) -> (Keys, Keys) {
    match method {
        PaymentMethodFacts::Card(card) => {
            let mut candidates = vec![
                ("card", card.fingerprint.clone()),
                ("bin", card.bin.to_string()),
            ];
            if let Some(country) = card.country {
                candidates.push(("country", country.to_string()));
            }
            (vec![("card", card.fingerprint.clone())], candidates)
        }
        PaymentMethodFacts::BankAccount(account) => (
            vec![("bank_account", account.fingerprint.clone())],
            vec![
                ("bank_account", account.fingerprint.clone()),
                ("country", account.country.to_string()),
            ],
        ),
    }
}

/// Attach a card or a bank account to a customer and screen it. A body without `type` is a card.
#[utoipa::path(post, path = "/v1/customers/{id}/payment_methods", tag = "decisions", request_body = PaymentMethodFacts,
    params(("id" = String, Path, description = "`cus_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = PaymentMethodOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<WriteFacts>,
    Id(customer_id): Id<CustomerId>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    refuse_account_numbers(&body, &[])?;
    let now = ctx.now();
    let method = parse(body, now)?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let customer = tx.customer_for_update(tenant, customer_id).await?;
    let id = PaymentMethodId::generate();
    let recorded = screen(&ctx.state, tenant, &mut tx, &customer, &method, None, now).await?;
    let status = ScreenedStatus::of(recorded.decision.verdict).as_str();
    let row = ScreenedRow {
        id: id.to_string(),
        customer_id,
        facts: recorded.facts.to_string(),
        status: status.to_owned(),
        decision_id: recorded.decision.id,
        created_at: now,
        review: None,
    };
    tx.insert_payment_method(tenant, &row).await?;
    let (link_keys, _) = keys(&method);
    tx.add_link_keys(tenant, customer_id, &link_keys, now)
        .await?;
    let customer_key = customer_id.to_string();
    tx.record_velocity(
        tenant,
        &[("payment_method_customer", customer_key.as_str(), 0)],
        now,
    )
    .await?;
    ctx.audit(
        &mut tx,
        "payment_method.created",
        id,
        serde_json::json!({
            "customer_id": customer_id,
            "status": status,
            "type": method.kind(),
            "bin": method.card().map(|card| &card.bin),
            "last4": method.last4(),
        }),
    )
    .await?;
    recorded.save(&mut tx, tenant, &id.to_string()).await?;
    let out = PaymentMethodOut::new(id, row, method, DecisionOut::from(&recorded));
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// Decides on `method` of `customer` over what `tx` sees. `existing` is the payment method's
/// own creation instant when it is decided again: its own entry then leaves the velocity
/// windows, so it is judged on the others as it was the first time.
async fn screen(
    state: &AppState,
    tenant: TenantId,
    tx: &mut Tx,
    customer: &Customer,
    method: &PaymentMethodFacts,
    existing: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<Recorded> {
    let (link_keys, candidates) = keys(method);
    let customer_key = customer.id.to_string();
    let ask = decide::Ask {
        link_keys: &link_keys,
        velocity: &[("payment_method_customer", customer_key.as_str())],
        list_candidates: &candidates,
        customer: Some(customer),
    };
    let found = decide::surroundings(tx, tenant, ask, now).await?;
    let per_customer = found.velocity[0];
    let mut context = Context::at(now);
    context.customer = found.customer;
    context.links = found.links;
    context.lists = found.lists;
    let own = |window: chrono::Duration| {
        u32::from(existing.is_some_and(|created| now - created < window))
    };
    context.velocity = VelocityCounts {
        payment_methods_customer_24h: per_customer
            .last_24h
            .saturating_sub(own(chrono::Duration::hours(24))),
        payment_methods_customer_7d: per_customer
            .last_7d
            .saturating_sub(own(chrono::Duration::days(7))),
        ..VelocityCounts::default()
    };

    let features = serde_json::to_value(Features::for_payment_method(
        method,
        &context,
        state.reference_data()?,
        &SignalConfig::default(),
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let policies = state.policies().live(tx, tenant).await?;
    let (evaluation, shadows) = policies.evaluate(DecisionKind::PaymentMethod, &features);
    let facts = serde_json::to_value(method).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Recorded::new(
        evaluation,
        shadows,
        customer.id,
        DecisionTerms::new(customer.trust_tier, &customer.terms),
        facts,
        features,
        now,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationIn {
    /// Where the PSP's verification of the account stands now.
    pub verification: BankVerification,
    /// The mandate, when the payer signed it since the account was attached.
    pub mandate: Option<Mandate>,
}

/// The PSP finished (or failed) verifying a bank account, or the payer signed its mandate: the
/// account is decided again on its new facts, and so are the orders held because it was not
/// verified or had no mandate.
#[utoipa::path(post, path = "/v1/payment_methods/{id}/verification", tag = "decisions", request_body = VerificationIn,
    params(("id" = String, Path, description = "`pm_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = PaymentMethodOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn verification(
    ctx: Ctx<WriteFacts>,
    Id(id): Id<PaymentMethodId>,
    JsonBody(input): JsonBody<VerificationIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let key = id.to_string();
    let mut tx = ctx.begin().await?;
    let row = tx.payment_method(tenant, &key).await?;
    let customer = tx.customer_for_update(tenant, row.customer_id).await?;
    // Re-read under the customer's lock: a review or another update may have come first.
    let row = tx.payment_method(tenant, &key).await?;
    let PaymentMethodFacts::BankAccount(mut account) = serde_json::from_str(&row.facts)
        .map_err(|e| ApiError::Internal(format!("stored payment method: {e}")))?
    else {
        return Err(ApiError::field(
            "verification",
            "only a bank account is verified this way; a card's checks come with it",
        ));
    };
    if row.review.is_some() {
        return Err(ApiError::Conflict {
            detail: format!("an analyst already {} this payment method", row.status),
            field: None,
        });
    }
    account.verification = input.verification;
    if let Some(mandate) = input.mandate {
        account.mandate = Some(mandate);
    }
    check_bank_account(&account, now)?;
    let method = PaymentMethodFacts::BankAccount(account);
    let recorded = screen(
        &ctx.state,
        tenant,
        &mut tx,
        &customer,
        &method,
        Some(row.created_at),
        now,
    )
    .await?;
    let status = ScreenedStatus::of(recorded.decision.verdict).as_str();
    tx.restate_payment_method(
        tenant,
        &key,
        &recorded.facts.to_string(),
        status,
        recorded.decision.id,
    )
    .await?;
    recorded.save(&mut tx, tenant, &key).await?;
    ctx.audit(
        &mut tx,
        "payment_method.verification_updated",
        &key,
        serde_json::json!({
            "customer_id": row.customer_id,
            "verification": input.verification,
            "from_status": row.status,
            "status": status,
            "decision_id": recorded.decision.id,
        }),
    )
    .await?;
    let out = PaymentMethodOut::new(
        id,
        ScreenedRow {
            status: status.to_owned(),
            decision_id: recorded.decision.id,
            facts: recorded.facts.to_string(),
            ..row
        },
        method,
        DecisionOut::from(&recorded),
    );
    let data = serde_json::to_value(&out).map_err(|e| ApiError::Internal(e.to_string()))?;
    crate::webhooks::publish(&mut tx, tenant, EventType::PaymentMethodUpdated, data, now).await?;
    // The orders held on this account's standing are decided in the same transaction: the
    // update and its consequences land together, or the PSP's retry brings both.
    super::orders::decide_again_on_payment_method(&ctx, &mut tx, &key).await?;
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// List payment methods, oldest first; `status=held` is the review queue.
#[utoipa::path(get, path = "/v1/payment_methods", tag = "decisions", params(ScreenedQuery),
    responses((status = 200, body = ListOf<PaymentMethodOut>), (status = 422, body = crate::error::Problem)))]
pub async fn list(
    ctx: Ctx<Read>,
    Q(query): Q<ScreenedQuery>,
) -> ApiResult<Json<ListOf<PaymentMethodOut>>> {
    let (filter, page) = query.into_parts()?;
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    let page = tx.list_payment_methods(tenant, &filter, &page).await?;
    let mut data = Vec::with_capacity(page.data.len());
    for row in page.data {
        data.push(PaymentMethodOut::stored(&mut tx, tenant, row).await?);
    }
    Ok(Json(ListOf {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// One payment method with the decision that screened it and its review.
#[utoipa::path(get, path = "/v1/payment_methods/{id}", tag = "decisions",
    params(("id" = String, Path, description = "`pm_…`")),
    responses((status = 200, body = PaymentMethodOut), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<PaymentMethodId>) -> ApiResult<Json<PaymentMethodOut>> {
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    let row = tx.payment_method(tenant, &id.to_string()).await?;
    Ok(Json(PaymentMethodOut::stored(&mut tx, tenant, row).await?))
}

/// Release or decline a held payment method.
#[utoipa::path(post, path = "/v1/payment_methods/{id}/review", tag = "decisions", request_body = ReviewIn,
    params(("id" = String, Path, description = "`pm_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = PaymentMethodOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn review(
    ctx: Ctx<Operate>,
    Id(id): Id<PaymentMethodId>,
    JsonBody(input): JsonBody<ReviewIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let row = tx.payment_method(tenant, &id.to_string()).await?;
    review::settle(&ctx, &mut tx, Screened::PaymentMethod, &row, input).await?;
    let row = tx.payment_method(tenant, &id.to_string()).await?;
    let out = PaymentMethodOut::stored(&mut tx, tenant, row).await?;
    let data = serde_json::to_value(&out).map_err(|e| ApiError::Internal(e.to_string()))?;
    crate::webhooks::publish(
        &mut tx,
        tenant,
        EventType::PaymentMethodUpdated,
        data,
        ctx.now(),
    )
    .await?;
    ctx.commit(tx, StatusCode::OK, &out).await
}
