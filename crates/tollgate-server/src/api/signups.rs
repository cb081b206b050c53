//! `POST /v1/signups`: a new customer applies; the answer is a decision with terms.

use axum::{http::StatusCode, response::Response};
use serde_json::Value;
use tollgate_core::{
    CustomerId,
    customers::{CustomerStatus, Terms, TrustTier},
    decisions::{DecisionKind, DecisionTerms, Verdict},
    signals::{
        AccountNumberKind, Context, Features, SignalConfig, SignupFacts, email,
        find_account_number, velocity::VelocityCounts,
    },
    validate,
};
use tollgate_store::NewCustomer;

use super::{Checks, decisions::DecisionOut};
use crate::{
    ctx::{Ctx, WriteFacts},
    decide::{self, Recorded},
    error::{ApiError, ApiResult},
    json::{JsonBody, from_value},
};

/// Refuses anything that looks like a full card number before it can reach storage.
/// Refuses a body holding a full card or bank account number anywhere: Tollgate must never
/// store one, not even in a field it would otherwise ignore.
pub(crate) fn refuse_account_numbers(body: &Value, exempt: &[&str]) -> ApiResult<()> {
    let Some(found) = find_account_number(body, exempt) else {
        return Ok(());
    };
    let message = match found.kind {
        AccountNumberKind::DigitRun => {
            "looks like a full card or account number; send only the BIN or last4 and the PSP's fingerprint"
        }
        AccountNumberKind::Iban => {
            "holds an IBAN; send only its last4, the country and the PSP's fingerprint"
        }
        AccountNumberKind::Field => {
            "full account numbers are never accepted; send only the last4 and the PSP's fingerprint"
        }
    };
    Err(ApiError::field(found.path, message))
}

fn check(facts: &SignupFacts) -> ApiResult<()> {
    let mut c = Checks::default();
    c.take(validate::text("external_id", &facts.external_id, 128));
    c.take(validate::text("company.name", &facts.company.name, 200));
    c.take(validate::text("company.domain", &facts.company.domain, 253));
    c.take(validate::text("contact.name", &facts.contact.name, 200));
    c.take(validate::text("contact.email", &facts.contact.email, 254));
    c.take(validate::text("contact.phone", &facts.contact.phone, 32));
    c.take(validate::text(
        "billing_address.line1",
        &facts.billing_address.line1,
        200,
    ));
    c.take(validate::text(
        "billing_address.city",
        &facts.billing_address.city,
        100,
    ));
    c.take(validate::text(
        "billing_address.postal_code",
        &facts.billing_address.postal_code,
        20,
    ));
    if facts.user_agent.len() > 1024 {
        c.fail("user_agent", "must be at most 1024 characters");
    }
    if let Some(device) = &facts.device_id {
        c.take(validate::text("device_id", device, 200));
    }
    if facts.session.submitted_at < facts.session.form_started_at {
        c.fail(
            "session.submitted_at",
            "must not be before session.form_started_at",
        );
    }
    c.finish()
}

/// Runs the sign-up policy over `facts`: for a new applicant (`existing` is `None`), or again for
/// a customer whose standing changed (a verification step passed), excluding its own links.
pub(crate) async fn decide_signup(
    state: &crate::AppState,
    tx: &mut tollgate_store::Tx,
    tenant: tollgate_core::TenantId,
    facts: &SignupFacts,
    customer_id: CustomerId,
    existing: Option<&tollgate_core::customers::Customer>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Recorded> {
    let data = state.reference_data()?;
    let link_keys = decide::signup_link_keys(facts);
    let email_domain = email::domain_of(&facts.contact.email);
    let network = tollgate_core::signals::geo::network_key(facts.ip);
    let ip = facts.ip.to_string();
    let mut keys = vec![
        ("signup_ip", ip.as_str()),
        ("signup_email_domain", email_domain.as_str()),
        ("signup_network", network.as_str()),
    ];
    if let Some(device) = &facts.device_id {
        keys.push(("signup_device", device.as_str()));
    }
    let ask = decide::Ask {
        link_keys: &link_keys,
        velocity: &keys,
        list_candidates: &decide::signup_candidates(facts, data),
        customer: existing,
    };
    let found = decide::surroundings(tx, tenant, ask, now).await?;
    let counts = found.velocity;
    let (by_ip, by_domain, by_network) = (counts[0], counts[1], counts[2]);
    let by_device = counts.get(3).copied().unwrap_or_default();
    let mut context = Context::at(now);
    context.links = found.links;
    context.lists = found.lists;
    context.customer = found.customer;
    context.velocity = VelocityCounts {
        signups_ip_1h: by_ip.last_1h,
        signups_ip_24h: by_ip.last_24h,
        signups_ip_7d: by_ip.last_7d,
        signups_device_1h: by_device.last_1h,
        signups_device_24h: by_device.last_24h,
        signups_device_7d: by_device.last_7d,
        signups_email_domain_1h: by_domain.last_1h,
        signups_email_domain_24h: by_domain.last_24h,
        signups_email_domain_7d: by_domain.last_7d,
        ..VelocityCounts::default()
    };
    context.network_signups_1h = by_network.last_1h;
    let current = match existing {
        Some(customer) => DecisionTerms::new(customer.trust_tier, &customer.terms),
        None => DecisionTerms::new(TrustTier::New, &Terms::default()),
    };
    let features = serde_json::to_value(Features::for_signup(
        facts,
        &context,
        data,
        &SignalConfig::default(),
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let policies = state.policies().live(tx, tenant).await?;
    let (evaluation, shadows) = policies.evaluate(DecisionKind::Signup, &features);
    let facts_json = serde_json::to_value(facts).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Recorded::new(
        evaluation,
        shadows,
        customer_id,
        current,
        facts_json,
        features,
        now,
    ))
}

pub(crate) fn customer_status(verdict: Verdict) -> CustomerStatus {
    match verdict {
        Verdict::Approve | Verdict::Allow => CustomerStatus::Active,
        Verdict::Decline => CustomerStatus::Closed,
        _ => CustomerStatus::Review,
    }
}

/// Decide on a sign-up and open the customer under the terms the decision grants.
#[utoipa::path(post, path = "/v1/signups", tag = "decisions", request_body = SignupFacts,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = DecisionOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(ctx: Ctx<WriteFacts>, JsonBody(body): JsonBody<Value>) -> ApiResult<Response> {
    refuse_account_numbers(&body, &["contact.phone"])?;
    let facts: SignupFacts = from_value(body)?;
    check(&facts)?;
    let tenant = ctx.tenant();
    let now = ctx.now();
    let customer_id = CustomerId::generate();
    // Decided on committed data before the write transaction starts, so the writer (SQLite's
    // one connection, PostgreSQL's audit head) is held for the writes alone. Sign-ups in flight
    // at the same moment do not see each other (docs/architecture.md).
    let recorded = decide_signup(
        &ctx.state,
        &mut ctx.read_latest().await?,
        tenant,
        &facts,
        customer_id,
        None,
        now,
    )
    .await?;
    let facts_json = recorded.facts.to_string();
    let link_keys = decide::signup_link_keys(&facts);
    let email_domain = email::domain_of(&facts.contact.email);
    let network = tollgate_core::signals::geo::network_key(facts.ip);
    let ip = facts.ip.to_string();
    let mut velocity = vec![
        ("signup_ip", ip.as_str(), 0),
        ("signup_email_domain", email_domain.as_str(), 0),
        ("signup_network", network.as_str(), 0),
    ];
    if let Some(device) = &facts.device_id {
        velocity.push(("signup_device", device.as_str(), 0));
    }
    let terms = recorded
        .decision
        .terms
        .clone()
        .unwrap_or_else(|| DecisionTerms::new(TrustTier::New, &Terms::default()));
    let new_customer = NewCustomer {
        id: customer_id,
        external_id: facts.external_id.trim().to_owned(),
        legal_name: facts.company.name.trim().to_owned(),
        company_domain: validate::domain_name(
            "company.domain",
            &email::company_domain(&facts.company.domain),
        )
        .ok(),
        country: facts.company.country,
        email: Some(facts.contact.email.trim().to_owned()),
        phone: Some(facts.contact.phone.clone()),
        billing_address: Some(facts.billing_address.clone()),
        status: customer_status(recorded.decision.verdict),
        trust_tier: terms.trust_tier,
        terms: terms.commercial(),
    };
    let out = DecisionOut::from(&recorded);

    let mut tx = ctx.begin().await?;
    let customer = tx.insert_customer(tenant, new_customer, now).await?;
    tx.insert_signup(tenant, customer_id, &facts_json, now)
        .await?;
    tx.add_link_keys(tenant, customer_id, &link_keys, now)
        .await?;
    tx.record_velocity(tenant, &velocity, now).await?;
    ctx.audit(&mut tx, "customer.created", customer.id, &customer)
        .await?;
    recorded
        .save(&mut tx, tenant, &customer_id.to_string())
        .await?;
    ctx.commit(tx, StatusCode::CREATED, &out).await
}
