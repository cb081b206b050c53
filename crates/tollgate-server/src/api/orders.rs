//! `/v1/orders`: the customer buys; the order is allowed, held or declined before anything is
//! provisioned. A held order waits for an analyst's review, or for the customer's first payment
//! to clear, when it is decided again.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tollgate_core::{
    CustomerId, Money, OrderId, PaymentMethodId, TenantId,
    customers::Customer,
    decisions::{DecisionKind, DecisionTerms},
    signals::{
        Context, Features, OrderFacts, PaymentMethodFacts, SignalConfig, velocity::VelocityCounts,
    },
    validate,
    webhooks::EventType,
};
use tollgate_store::{OrderRow, Screened, ScreenedRow, Settlement, StoreError, Tx, WindowCounts};
use utoipa::ToSchema;

use super::{
    Checks, Id, ListOf, Q,
    decisions::{self, DecisionOut},
    payment_methods,
    review::{self, ReviewIn, ReviewOut, ScreenedQuery, ScreenedStatus},
    signups::refuse_account_numbers,
};
use crate::{
    AppState,
    ctx::{Acting, Ctx, Operate, Read, WriteFacts, audit_as},
    decide::{self, Recorded},
    error::{ApiError, ApiResult},
    json::{JsonBody, from_value},
};

const MAX_ITEMS: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderOut {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub payment_method_id: PaymentMethodId,
    /// `active` (allowed: provision it), `held` or `declined`.
    pub status: String,
    pub total: Money,
    /// The decision that stands: the screening's, or a later one made when the customer's
    /// first payment cleared.
    pub decision: DecisionOut,
    /// Who released or declined it after it was held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewOut>,
    pub created_at: DateTime<Utc>,
}

impl OrderOut {
    fn new(id: OrderId, row: OrderRow, total: Money, decision: DecisionOut) -> ApiResult<Self> {
        Ok(Self {
            id,
            customer_id: row.screened.customer_id,
            payment_method_id: row
                .payment_method_id
                .parse()
                .map_err(|e| ApiError::Internal(format!("stored payment method id: {e}")))?,
            status: row.screened.status,
            total,
            decision,
            review: row.screened.review.map(ReviewOut::from),
            created_at: row.screened.created_at,
        })
    }

    /// A stored order with the decision that stands.
    async fn stored(tx: &mut Tx, tenant: TenantId, row: OrderRow) -> ApiResult<Self> {
        let internal = |e: &dyn std::fmt::Display| ApiError::Internal(format!("stored order: {e}"));
        let id = row.screened.id.parse().map_err(|e| internal(&e))?;
        let currency = row.currency.parse().map_err(|e| internal(&e))?;
        let total = Money::from_minor(row.total_minor, currency);
        let decision = decisions::stored(tx, tenant, row.screened.decision_id).await?;
        Self::new(id, row, total, decision)
    }
}

/// Validates the items and returns the order's total.
fn check(order: &OrderFacts) -> ApiResult<Money> {
    let mut c = Checks::default();
    if order.items.is_empty() || order.items.len() > MAX_ITEMS {
        c.fail("items", format_args!("must hold 1 to {MAX_ITEMS} items"));
    }
    let currency = order.items.first().map(|i| i.unit_price.currency);
    let mut total = currency.map(Money::zero);
    for (i, item) in order.items.iter().enumerate() {
        c.take(validate::text(&format!("items[{i}].sku"), &item.sku, 128));
        if item.quantity == 0 {
            c.fail(&format!("items[{i}].quantity"), "must be at least 1");
        }
        let price = item.unit_price;
        if price.is_negative() {
            c.fail(&format!("items[{i}].unit_price"), "must not be negative");
        } else if let Err(e) = Money::new(price.amount, price.currency) {
            c.fail(&format!("items[{i}].unit_price"), e);
        } else if Some(price.currency) != currency {
            c.fail(
                &format!("items[{i}].unit_price.currency"),
                "all items of an order must be in one currency",
            );
        } else {
            let line = price
                .amount
                .checked_mul(item.quantity.into())
                .and_then(|amount| total.and_then(|t| t.amount.checked_add(amount)));
            match line {
                Some(amount) => total = total.map(|t| Money { amount, ..t }),
                None => c.fail(&format!("items[{i}]"), "the order total is too large"),
            }
        }
    }
    c.finish()?;
    total.ok_or_else(|| ApiError::field("items", "must not be empty"))
}

/// An order's decision and what it was based on that another order of the same customer would
/// change.
struct Decided {
    recorded: Recorded,
    customer: Customer,
    orders: WindowCounts,
}

/// Decides on `order` by `customer` over what `tx` sees.
async fn decide_order(
    state: &AppState,
    tenant: TenantId,
    tx: &mut Tx,
    customer: Customer,
    order: &OrderFacts,
    total: Money,
    now: DateTime<Utc>,
) -> ApiResult<Decided> {
    let payment_method = match tx
        .payment_method(tenant, &order.payment_method_id.to_string())
        .await
    {
        Ok(pm) if pm.customer_id == customer.id => pm,
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(ApiError::field(
                "payment_method_id",
                "no such payment method for this customer",
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let method: PaymentMethodFacts = serde_json::from_str(&payment_method.facts)
        .map_err(|e| ApiError::Internal(format!("stored payment method: {e}")))?;

    let key = customer.id.to_string();
    let per_currency = format!("order_customer_{}", total.currency);
    // Customers who attached the same card or account after this one did show up here.
    let (link_keys, candidates) = payment_methods::keys(&method);
    let ask = decide::Ask {
        link_keys: &link_keys,
        velocity: &[
            ("order_customer", key.as_str()),
            (per_currency.as_str(), key.as_str()),
        ],
        list_candidates: &candidates,
        customer: Some(&customer),
    };
    let found = decide::surroundings(tx, tenant, ask, now).await?;
    let (orders, per_customer) = (found.velocity[0], found.velocity[1]);
    let mut context = Context::at(now);
    context.customer = found.customer;
    context.links = found.links;
    context.lists = found.lists;
    context.velocity = VelocityCounts {
        orders_customer_1h: orders.last_1h,
        orders_customer_24h: orders.last_24h,
        orders_customer_7d: orders.last_7d,
        order_value_customer_24h: Money::from_minor(per_customer.amount_24h, total.currency).amount,
        ..VelocityCounts::default()
    };

    let features = Features::for_order(
        order,
        Some(&method),
        &context,
        state.reference_data()?,
        &SignalConfig::default(),
    )
    .map_err(|e| ApiError::field("items", e))?;
    let features = serde_json::to_value(features).map_err(|e| ApiError::Internal(e.to_string()))?;
    let policies = state.policies().live(tx, tenant).await?;
    let (evaluation, shadows) = policies.evaluate(DecisionKind::Order, &features);
    let facts = serde_json::to_value(order).map_err(|e| ApiError::Internal(e.to_string()))?;
    let recorded = Recorded::new(
        evaluation,
        shadows,
        customer.id,
        DecisionTerms::new(customer.trust_tier, &customer.terms),
        facts,
        features,
        now,
    );
    Ok(Decided {
        recorded,
        customer,
        orders,
    })
}

fn no_such_customer(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::field("customer_id", "no such customer"),
        other => other.into(),
    }
}

/// Screen an order.
#[utoipa::path(post, path = "/v1/orders", tag = "decisions", request_body = OrderFacts,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = OrderOut), (status = 422, body = crate::error::Problem)))]
pub async fn create(ctx: Ctx<WriteFacts>, JsonBody(body): JsonBody<Value>) -> ApiResult<Response> {
    refuse_account_numbers(&body, &[])?;
    let order: OrderFacts = from_value(body)?;
    let total = check(&order)?;
    let total_minor = total.to_minor().map_err(|e| ApiError::field("items", e))?;
    let tenant = ctx.tenant();
    let now = ctx.now();
    let key = order.customer_id.to_string();

    // Decided on committed data first, so the writer is held for the writes alone. Under the
    // write transaction's lock on the customer, the decision stands only if no order of the
    // same customer, and no change to it, came in between; otherwise it is made again there.
    let mut committed = ctx.read_latest().await?;
    let customer = committed
        .customer(tenant, order.customer_id)
        .await
        .map_err(no_such_customer)?;
    let early = decide_order(
        &ctx.state,
        tenant,
        &mut committed,
        customer,
        &order,
        total,
        now,
    )
    .await?;
    drop(committed);

    let mut tx = ctx.begin().await?;
    let customer = tx
        .customer_for_update(tenant, order.customer_id)
        .await
        .map_err(no_such_customer)?;
    let orders = tx
        .velocity(tenant, &[("order_customer", key.as_str())], now)
        .await?;
    let Decided {
        recorded, customer, ..
    } = if customer.updated_at == early.customer.updated_at && orders.first() == Some(&early.orders)
    {
        early
    } else {
        decide_order(&ctx.state, tenant, &mut tx, customer, &order, total, now).await?
    };

    let id = OrderId::generate();
    let status = ScreenedStatus::of(recorded.decision.verdict).as_str();
    let row = OrderRow {
        screened: ScreenedRow {
            id: id.to_string(),
            customer_id: customer.id,
            facts: recorded.facts.to_string(),
            status: status.to_owned(),
            decision_id: recorded.decision.id,
            created_at: now,
            review: None,
        },
        payment_method_id: order.payment_method_id.to_string(),
        total_minor,
        currency: total.currency.code().to_owned(),
    };
    tx.insert_order(tenant, &row).await?;
    let per_currency = format!("order_customer_{}", total.currency);
    tx.record_velocity(
        tenant,
        &[
            ("order_customer", key.as_str(), 0),
            (per_currency.as_str(), key.as_str(), total_minor),
        ],
        now,
    )
    .await?;
    ctx.audit(
        &mut tx,
        "order.created",
        id,
        serde_json::json!({ "customer_id": customer.id, "status": status, "total": total }),
    )
    .await?;
    recorded.save(&mut tx, tenant, &id.to_string()).await?;
    let out = OrderOut::new(id, row, total, DecisionOut::from(&recorded))?;
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// List orders, oldest first; `status=held` is the review queue.
#[utoipa::path(get, path = "/v1/orders", tag = "decisions", params(ScreenedQuery),
    responses((status = 200, body = ListOf<OrderOut>), (status = 422, body = crate::error::Problem)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<ScreenedQuery>) -> ApiResult<Json<ListOf<OrderOut>>> {
    let (filter, page) = query.into_parts()?;
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    let page = tx.list_orders(tenant, &filter, &page).await?;
    let mut data = Vec::with_capacity(page.data.len());
    for row in page.data {
        data.push(OrderOut::stored(&mut tx, tenant, row).await?);
    }
    Ok(Json(ListOf {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// One order with the decision that stands and its review.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "decisions",
    params(("id" = String, Path, description = "`ord_…`")),
    responses((status = 200, body = OrderOut), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<OrderId>) -> ApiResult<Json<OrderOut>> {
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    let row = tx.order(tenant, &id.to_string()).await?;
    Ok(Json(OrderOut::stored(&mut tx, tenant, row).await?))
}

/// Tells webhooks where `id` stands now (`order.updated`) and returns it.
async fn announce(
    tx: &mut Tx,
    tenant: TenantId,
    id: &str,
    now: DateTime<Utc>,
) -> ApiResult<OrderOut> {
    let row = tx.order(tenant, id).await?;
    let out = OrderOut::stored(tx, tenant, row).await?;
    let data = serde_json::to_value(&out).map_err(|e| ApiError::Internal(e.to_string()))?;
    crate::webhooks::publish(tx, tenant, EventType::OrderUpdated, data, now).await?;
    Ok(out)
}

/// Release or decline a held order.
#[utoipa::path(post, path = "/v1/orders/{id}/review", tag = "decisions", request_body = ReviewIn,
    params(("id" = String, Path, description = "`ord_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = OrderOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn review(
    ctx: Ctx<Operate>,
    Id(id): Id<OrderId>,
    JsonBody(input): JsonBody<ReviewIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let id = id.to_string();
    let mut tx = ctx.begin().await?;
    let row = tx.order(tenant, &id).await?;
    review::settle(&ctx, &mut tx, Screened::Order, &row.screened, input).await?;
    let out = announce(&mut tx, tenant, &id, ctx.now()).await?;
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// Decides again on a held order whose reason to hold may have lifted (`because`: the first
/// payment cleared, the bank account was verified), under the policy live now, and moves the
/// order to the new verdict. False when the order is no longer held (a review or another run
/// came first).
pub async fn decide_again(
    who: &impl Acting,
    state: &AppState,
    id: &str,
    because: &str,
) -> ApiResult<bool> {
    let mut tx = state.store().begin().await?;
    let moved = decide_again_in(who, state, &mut tx, id, because).await?;
    if moved {
        tx.commit().await?;
    }
    Ok(moved)
}

/// [`decide_again`] inside the caller's transaction.
async fn decide_again_in(
    who: &impl Acting,
    state: &AppState,
    tx: &mut Tx,
    id: &str,
    because: &str,
) -> ApiResult<bool> {
    let tenant = who.tenant();
    let row = tx.order(tenant, id).await?;
    let customer = tx
        .customer_for_update(tenant, row.screened.customer_id)
        .await?;
    // Re-read under the customer's lock: a review may have settled it meanwhile.
    let row = tx.order(tenant, id).await?;
    if row.screened.status != ScreenedStatus::Held.as_str() {
        return Ok(false);
    }
    let facts: OrderFacts = serde_json::from_str(&row.screened.facts)
        .map_err(|e| ApiError::Internal(format!("stored order: {e}")))?;
    let currency = row
        .currency
        .parse()
        .map_err(|e| ApiError::Internal(format!("stored order currency: {e}")))?;
    let total = Money::from_minor(row.total_minor, currency);
    let Decided { recorded, .. } =
        decide_order(state, tenant, tx, customer, &facts, total, who.now()).await?;
    let status = ScreenedStatus::of(recorded.decision.verdict).as_str();
    let settled = tx
        .settle_screened(
            Screened::Order,
            tenant,
            id,
            &Settlement {
                from: ScreenedStatus::Held.as_str(),
                status,
                decision_id: recorded.decision.id,
                review: None,
            },
        )
        .await?;
    if !settled {
        return Ok(false);
    }
    recorded.save(tx, tenant, id).await?;
    audit_as(
        who,
        tx,
        "order.decided_again",
        id,
        serde_json::json!({
            "customer_id": row.screened.customer_id,
            "because": because,
            "previous_decision_id": row.screened.decision_id,
            "decision_id": recorded.decision.id,
            "status": status,
        }),
    )
    .await?;
    announce(tx, tenant, id, who.now()).await?;
    Ok(true)
}

/// Decides again, inside `tx`, the orders held because `payment_method_id` was not verified or
/// had no mandate, after its facts changed; returns how many moved.
pub async fn decide_again_on_payment_method(
    who: &Ctx<WriteFacts>,
    tx: &mut Tx,
    payment_method_id: &str,
) -> ApiResult<usize> {
    let held = tx
        .orders_held_on(
            who.tenant(),
            payment_method_id,
            &["bank_account_unverified", "no_mandate"],
        )
        .await?;
    let mut moved = 0;
    for id in held {
        if decide_again_in(who, &who.state, tx, &id, "payment_method_updated").await? {
            moved += 1;
        }
    }
    Ok(moved)
}
