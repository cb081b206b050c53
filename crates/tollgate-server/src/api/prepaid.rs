//! `/v1/customers/{id}/prepaid`: a customer's prepaid balance (deposit) per currency, and the
//! top-ups and draws that move it. A draw never takes the balance below zero unless the
//! customer's terms grant credit in that currency, and then not below minus the credit limit.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_core::{
    Currency, CustomerId, Money, PrepaidEntryId,
    collections::{PrepaidBalance, PrepaidEntry, PrepaidEntryIn, PrepaidEntryKind},
};
use tollgate_store::PrepaidEntryRow;
use utoipa::ToSchema;

use super::{Id, Paging, Q};
use crate::{
    ctx::{Ctx, Read, WriteFacts},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

/// A top-up or draw and the balance it left.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrepaidEntryOut {
    /// `ppe_…`
    pub id: PrepaidEntryId,
    pub customer_id: CustomerId,
    #[serde(flatten)]
    pub entry: PrepaidEntry,
    /// The balance in the entry's currency right after it.
    pub balance: Money,
    pub created_at: DateTime<Utc>,
}

impl From<PrepaidEntryRow> for PrepaidEntryOut {
    fn from(row: PrepaidEntryRow) -> Self {
        let mut entry = row.entry;
        entry.amount = scaled(entry.amount);
        Self {
            id: row.id,
            customer_id: row.customer_id,
            entry,
            balance: scaled(row.balance),
            created_at: row.created_at,
        }
    }
}

/// The balance in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrepaidBalanceOut {
    pub currency: Currency,
    /// Negative only when the terms grant credit.
    pub balance: Money,
    /// How far below zero draws may take the balance under the customer's current terms.
    pub overdraft_allowed: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrepaidOut {
    pub customer_id: CustomerId,
    /// One per currency the customer has entries in; currencies are never added together.
    pub balances: Vec<PrepaidBalanceOut>,
    /// Top-ups and draws in every currency, oldest first.
    pub entries: Vec<PrepaidEntryOut>,
    /// Pass as `cursor` for the next page of `entries`; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PrepaidQuery {
    /// Pages `entries`.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Shows every minor digit (`0.00`, not `0`), as stored amounts are shown.
fn scaled(mut money: Money) -> Money {
    money.amount.rescale(money.currency.minor_digits());
    money
}

fn money(amount: rust_decimal::Decimal, currency: Currency) -> Money {
    scaled(Money { amount, currency })
}

/// Locks the customer, applies the entry to its balance under its terms and stores it.
async fn record(
    ctx: Ctx<WriteFacts>,
    customer: CustomerId,
    input: PrepaidEntryIn,
    kind: PrepaidEntryKind,
) -> ApiResult<Response> {
    let entry = input
        .validate(kind, ctx.now())
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let terms = tx.customer_for_update(tenant, customer).await?.terms;
    let currency = entry.amount.currency;
    let mut balance = tx.prepaid_balance(tenant, customer, currency).await?;
    let overdraft = PrepaidBalance::overdraft_allowed(&terms, currency);
    let after = balance
        .apply(&entry, overdraft)
        .map_err(|e| ApiError::Invalid(vec![e.into()]))?;
    let id = PrepaidEntryId::generate();
    let now = ctx.now();
    tx.insert_prepaid_entry(tenant, customer, id, &entry, after, now)
        .await?;
    let out = PrepaidEntryOut::from(PrepaidEntryRow {
        id,
        customer_id: customer,
        entry,
        balance: after,
        created_at: now,
    });
    ctx.audit(&mut tx, &format!("prepaid.{kind}"), id, &out)
        .await?;
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// Add money to the customer's prepaid balance (a deposit arrived).
#[utoipa::path(post, path = "/v1/customers/{id}/prepaid/top_ups", tag = "collections",
    request_body = PrepaidEntryIn,
    params(("id" = CustomerId, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = PrepaidEntryOut), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn top_up(
    ctx: Ctx<WriteFacts>,
    Id(customer): Id<CustomerId>,
    JsonBody(input): JsonBody<PrepaidEntryIn>,
) -> ApiResult<Response> {
    record(ctx, customer, input, PrepaidEntryKind::TopUp).await
}

/// Take money from the customer's prepaid balance (to pay for an order or an invoice). Refused
/// with a 422 naming `amount` when the balance would go below what the terms allow.
#[utoipa::path(post, path = "/v1/customers/{id}/prepaid/draws", tag = "collections",
    request_body = PrepaidEntryIn,
    params(("id" = CustomerId, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = PrepaidEntryOut), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn draw(
    ctx: Ctx<WriteFacts>,
    Id(customer): Id<CustomerId>,
    JsonBody(input): JsonBody<PrepaidEntryIn>,
) -> ApiResult<Response> {
    record(ctx, customer, input, PrepaidEntryKind::Draw).await
}

/// The customer's prepaid balance per currency and its entries.
#[utoipa::path(get, path = "/v1/customers/{id}/prepaid", tag = "collections",
    params(("id" = CustomerId, Path), PrepaidQuery),
    responses((status = 200, body = PrepaidOut), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn get(
    ctx: Ctx<Read>,
    Id(customer): Id<CustomerId>,
    Q(query): Q<PrepaidQuery>,
) -> ApiResult<Json<PrepaidOut>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    let terms = tx.customer(tenant, customer).await?.terms;
    let balances = tx
        .prepaid_balances(tenant, customer)
        .await?
        .into_iter()
        .map(|b| PrepaidBalanceOut {
            currency: b.currency,
            balance: money(b.balance, b.currency),
            overdraft_allowed: money(
                PrepaidBalance::overdraft_allowed(&terms, b.currency),
                b.currency,
            ),
        })
        .collect();
    let entries = tx.prepaid_entries(tenant, customer, &page).await?;
    Ok(Json(PrepaidOut {
        customer_id: customer,
        balances,
        entries: entries
            .data
            .into_iter()
            .map(PrepaidEntryOut::from)
            .collect(),
        next_cursor: entries.next_cursor,
    }))
}
