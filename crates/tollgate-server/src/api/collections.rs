//! Collections facts — `/v1/invoices`, `/v1/credit_notes`, `/v1/payments` (and their refunds),
//! `/v1/chargebacks` —
//! and what they add up to: a customer's account and the aging report. Every write folds the
//! customer's stored facts through the core engine, applies the new fact (refused with the field
//! at fault if it does not fit), stores it and caches what is left open on each invoice.

use std::collections::{BTreeMap, HashMap};

use axum::{
    Json,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tollgate_core::{
    CreditNoteId, Currency, CustomerId, DisputeId, InvoiceId, Money, PaymentId, RefundId,
    SubscriptionId, TenantId,
    collections::{
        Account, AccountFact, AgingReport, Chargeback, ChargebackIn, CreditNote, CreditNoteIn,
        FundsSource, Invoice, InvoiceIn, InvoiceVoid, Movement, OpenInvoice, Payment, PaymentIn,
        PaymentStatus, Refund, RefundIn,
    },
    validate::{self, FieldError},
};
use tollgate_store::{InvoiceFilter, InvoiceRow, InvoiceStatus, StoreError, Tx};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Acting, Ctx, Read, WriteFacts, audit_as},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

/// An invoice with what is left to pay on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceOut {
    #[serde(flatten)]
    pub invoice: Invoice,
    /// What is still to be paid; zero once paid or void.
    pub open: Money,
    /// `open`, `paid` or `void`.
    pub status: &'static str,
    pub void: Option<InvoiceVoid>,
}

impl From<InvoiceRow> for InvoiceOut {
    fn from(row: InvoiceRow) -> Self {
        Self {
            status: row.status().as_str(),
            invoice: row.invoice,
            open: row.open,
            void: row.void,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    pub customer_id: Option<CustomerId>,
    /// `open`, `paid` or `void`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Why an invoice is cancelled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidIn {
    pub reason: String,
    /// Defaults to now.
    pub voided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditNoteOut {
    #[serde(flatten)]
    pub credit_note: CreditNote,
    /// The credited invoice after the note.
    pub invoice: InvoiceOut,
}

/// Money from a payment applied to an invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedOut {
    pub invoice_id: InvoiceId,
    pub amount: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentOut {
    #[serde(flatten)]
    pub payment: Payment,
    /// What the payment pays now, per invoice (after refunds, chargebacks and voids).
    pub applied: Vec<AppliedOut>,
    /// The part of the payment held as customer credit.
    pub credit: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChargebackOut {
    #[serde(flatten)]
    pub chargeback: Chargeback,
    pub customer_id: CustomerId,
}

/// A customer's receivables in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyAccountOut {
    pub currency: Currency,
    pub open_total: Money,
    pub credit: Money,
    /// Failed payment attempts since the last succeeded payment.
    pub failed_attempts: u32,
    /// Oldest due first.
    pub open_invoices: Vec<OpenInvoice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountOut {
    pub customer_id: CustomerId,
    /// One entry per currency the customer has facts in; currencies are never added together.
    pub currencies: Vec<CurrencyAccountOut>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgingQuery {
    /// The report date in the tenant's time zone (`YYYY-MM-DD`); defaults to today there.
    #[param(value_type = Option<String>, example = "2026-03-31")]
    pub as_of: Option<NaiveDate>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    pub format: Option<String>,
    /// Only this customer's rows, and totals of them.
    pub customer_id: Option<CustomerId>,
    /// Only the per-currency totals, without a row per customer (what a dashboard shows).
    pub totals_only: Option<bool>,
    /// At most this many customer rows (1–1000), those with the most past due first; the totals
    /// still cover every customer.
    pub most_past_due: Option<u32>,
}

/// The most customer rows `most_past_due` may ask for.
const MOST_PAST_DUE_MAX: u32 = 1_000;

/// Shows every minor digit (`0.00`, not `0`), as stored amounts are shown.
fn scaled(mut money: Money) -> Money {
    money.amount.rescale(money.currency.minor_digits());
    money
}

fn invalid(error: FieldError) -> ApiError {
    ApiError::Invalid(vec![error])
}

/// Turns "not found" into a 422 naming the field that referred to it.
fn unknown(field: &str, what: &str) -> impl FnOnce(StoreError) -> ApiError {
    move |err| match err {
        StoreError::NotFound => ApiError::field(field, format_args!("no such {what}")),
        other => other.into(),
    }
}

/// Rebuilds the customer's account in `currency` from the stored facts, with every movement
/// the facts made.
pub(crate) async fn fold(
    tx: &mut Tx,
    tenant: TenantId,
    customer: CustomerId,
    currency: Currency,
) -> ApiResult<(Account, Vec<Movement>)> {
    let facts = tx.account_facts(tenant, customer, currency).await?;
    fold_facts(customer, currency, &facts)
}

/// The customer's account in `currency` made of `facts` (its stored facts, in order), with
/// every movement they made.
fn fold_facts(
    customer: CustomerId,
    currency: Currency,
    facts: &[AccountFact],
) -> ApiResult<(Account, Vec<Movement>)> {
    let mut account = Account::new(customer, currency);
    let mut moved = Vec::new();
    for (index, fact) in facts.iter().enumerate() {
        let movements = account.apply(fact).map_err(|e| {
            ApiError::Internal(format!(
                "stored fact {index} of {customer} in {currency} does not fold: {e}"
            ))
        })?;
        moved.extend(movements);
    }
    Ok((account, moved))
}

/// Locks the customer, folds its account and applies `fact`, refusing it with the field at
/// fault. The caller stores the fact and then the returned account's open amounts.
async fn apply(
    tx: &mut Tx,
    tenant: TenantId,
    customer: CustomerId,
    currency: Currency,
    fact: &AccountFact,
) -> ApiResult<Account> {
    tx.customer_for_update(tenant, customer)
        .await
        .map_err(unknown("customer_id", "customer"))?;
    let (mut account, _) = fold(tx, tenant, customer, currency).await?;
    account
        .apply(fact)
        .map_err(|e| invalid(FieldError::from(e)))?;
    Ok(account)
}

/// Record an invoice.
#[utoipa::path(post, path = "/v1/invoices", tag = "collections", request_body = InvoiceIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = InvoiceOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_invoice(
    ctx: Ctx<WriteFacts>,
    JsonBody(input): JsonBody<InvoiceIn>,
) -> ApiResult<Response> {
    let invoice = input.validate(InvoiceId::generate()).map_err(invalid)?;
    let mut tx = ctx.begin().await?;
    if let Some((_, refused)) = record_invoices(&ctx, &mut tx, std::slice::from_ref(&invoice))
        .await?
        .pop()
    {
        return Err(refused);
    }
    let out = InvoiceOut::from(tx.invoice(ctx.tenant(), invoice.id).await?);
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// Stores validated invoices inside `tx` as `POST /v1/invoices` does (shared with
/// `tollgate import invoices`): each one's subscriptions must be its customer's and the account
/// must take it. Each customer is locked and each account folded once for all its invoices, in
/// customer order. Returns the invoices refused, by index, each with the field at fault; the
/// others are stored.
///
/// The reads and writes are made for all the invoices at once, a few statements each: on
/// PostgreSQL every statement is a network round trip, and a dozen per invoice made an import
/// of many invoices wait on the network rather than on the database.
pub async fn record_invoices(
    who: &impl Acting,
    tx: &mut Tx,
    invoices: &[Invoice],
) -> ApiResult<Vec<(usize, ApiError)>> {
    let tenant = who.tenant();
    let mut accounts: BTreeMap<(CustomerId, Currency), Vec<usize>> = BTreeMap::new();
    for (index, invoice) in invoices.iter().enumerate() {
        accounts
            .entry((invoice.customer_id, invoice.currency))
            .or_default()
            .push(index);
    }
    let customers: Vec<CustomerId> = accounts.keys().map(|(customer, _)| *customer).collect();
    let known = tx.lock_customers(tenant, &customers).await?;
    let keys: Vec<(CustomerId, Currency)> = accounts
        .keys()
        .filter(|(customer, _)| known.contains(customer))
        .copied()
        .collect();
    let mut facts = tx.accounts_facts(tenant, &keys).await?;
    let subscriptions: Vec<SubscriptionId> = invoices
        .iter()
        .flat_map(|i| i.lines.iter().filter_map(|l| l.subscription_id))
        .collect();
    let owners = tx.subscription_customers(tenant, &subscriptions).await?;

    let mut refused = Vec::new();
    let mut taken = Vec::new();
    let mut changed = Vec::new();
    for ((customer, currency), indexes) in accounts {
        if !known.contains(&customer) {
            for index in indexes {
                refused.push((index, ApiError::field("customer_id", "no such customer")));
            }
            continue;
        }
        let history = facts.remove(&(customer, currency)).unwrap_or_default();
        let (mut account, _) = fold_facts(customer, currency, &history)?;
        let before = taken.len();
        for index in indexes {
            let invoice = &invoices[index];
            let fits = lines_belong(&owners, invoice).and_then(|()| {
                account
                    .apply(&AccountFact::InvoiceIssued(invoice.clone()))
                    .map(drop)
                    .map_err(|e| invalid(FieldError::from(e)))
            });
            match fits {
                Ok(()) => {
                    audit_as(who, tx, "invoice.created", invoice.id, invoice).await?;
                    taken.push(invoice.clone());
                }
                Err(error) => refused.push((index, error)),
            }
        }
        if taken.len() > before {
            changed.push(account);
        }
    }
    tx.insert_invoices(tenant, &taken, who.now()).await?;
    tx.save_all_open_amounts(tenant, &changed).await?;
    refused.sort_by_key(|(index, _)| *index);
    Ok(refused)
}

/// Every subscription an invoice line names must be the invoice's customer's; `owners` has
/// the customer of each of the tenant's subscriptions the lines name.
fn lines_belong(owners: &HashMap<SubscriptionId, CustomerId>, invoice: &Invoice) -> ApiResult<()> {
    for (i, id) in invoice
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.subscription_id.map(|id| (i, id)))
    {
        let field = format!("lines[{i}].subscription_id");
        match owners.get(&id) {
            None => return Err(ApiError::field(field, "no such subscription")),
            Some(owner) if *owner != invoice.customer_id => {
                return Err(ApiError::field(field, "belongs to another customer"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// List invoices, oldest first.
#[utoipa::path(get, path = "/v1/invoices", tag = "collections", params(InvoiceQuery),
    responses((status = 200, body = ListOf<InvoiceOut>)))]
pub async fn list_invoices(
    ctx: Ctx<Read>,
    Q(query): Q<InvoiceQuery>,
) -> ApiResult<Json<ListOf<InvoiceOut>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let status = match query.status.as_deref() {
        None => None,
        Some("open") => Some(InvoiceStatus::Open),
        Some("paid") => Some(InvoiceStatus::Paid),
        Some("void") => Some(InvoiceStatus::Void),
        Some(_) => return Err(ApiError::field("status", "must be open, paid or void")),
    };
    let filter = InvoiceFilter {
        customer_id: query.customer_id,
        status,
    };
    let found = ctx
        .read()
        .await?
        .list_invoices(ctx.tenant(), &filter, &page)
        .await?;
    Ok(Json(ListOf {
        data: found.data.into_iter().map(InvoiceOut::from).collect(),
        next_cursor: found.next_cursor,
    }))
}

/// One invoice with what is open on it.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "collections",
    params(("id" = InvoiceId, Path)),
    responses((status = 200, body = InvoiceOut), (status = 404, body = crate::error::Problem)))]
pub async fn get_invoice(ctx: Ctx<Read>, Id(id): Id<InvoiceId>) -> ApiResult<Json<InvoiceOut>> {
    let row = ctx.read().await?.invoice(ctx.tenant(), id).await?;
    Ok(Json(row.into()))
}

/// Void an invoice: it no longer asks for anything, and what it was paid becomes credit.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "collections", request_body = VoidIn,
    params(("id" = InvoiceId, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = InvoiceOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn void_invoice(
    ctx: Ctx<WriteFacts>,
    Id(id): Id<InvoiceId>,
    JsonBody(input): JsonBody<VoidIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let row = tx.invoice(tenant, id).await?;
    if row.void.is_some() {
        return Err(ApiError::Conflict {
            detail: "the invoice is already void".into(),
            field: None,
        });
    }
    let void = InvoiceVoid {
        invoice_id: id,
        voided_at: input.voided_at.unwrap_or_else(|| ctx.now()),
        reason: input.reason,
    }
    .validate()
    .map_err(invalid)?;
    let invoice = row.invoice;
    let fact = AccountFact::InvoiceVoided(void.clone());
    let account = apply(
        &mut tx,
        tenant,
        invoice.customer_id,
        invoice.currency,
        &fact,
    )
    .await?;
    tx.insert_invoice_void(tenant, &invoice, &void, ctx.now())
        .await?;
    tx.save_open_amounts(tenant, &account).await?;
    crate::jobs::dunning::settle(&ctx, &mut tx, &account).await?;
    ctx.audit(&mut tx, "invoice.voided", id, &void).await?;
    let out = InvoiceOut::from(tx.invoice(tenant, id).await?);
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// Record a credit note reducing an invoice.
#[utoipa::path(post, path = "/v1/credit_notes", tag = "collections", request_body = CreditNoteIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = CreditNoteOut), (status = 422, body = crate::error::Problem)))]
pub async fn create_credit_note(
    ctx: Ctx<WriteFacts>,
    JsonBody(input): JsonBody<CreditNoteIn>,
) -> ApiResult<Response> {
    let note = input.validate(CreditNoteId::generate()).map_err(invalid)?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let invoice = tx
        .invoice(tenant, note.invoice_id)
        .await
        .map_err(unknown("invoice_id", "invoice"))?
        .invoice;
    if note.amount.currency != invoice.currency {
        return Err(ApiError::field(
            "currency",
            format_args!(
                "is {}, but the invoice is in {}",
                note.amount.currency, invoice.currency
            ),
        ));
    }
    let fact = AccountFact::CreditNoteIssued(note.clone());
    let account = apply(
        &mut tx,
        tenant,
        invoice.customer_id,
        invoice.currency,
        &fact,
    )
    .await?;
    tx.insert_credit_note(tenant, &invoice, &note, ctx.now())
        .await?;
    tx.save_open_amounts(tenant, &account).await?;
    crate::jobs::dunning::settle(&ctx, &mut tx, &account).await?;
    ctx.audit(&mut tx, "credit_note.created", note.id, &note)
        .await?;
    let out = CreditNoteOut {
        invoice: tx.invoice(tenant, invoice.id).await?.into(),
        credit_note: note,
    };
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// What a payment pays now, folded from every fact of its account.
async fn payment_out(tx: &mut Tx, tenant: TenantId, payment: Payment) -> ApiResult<PaymentOut> {
    let currency = payment.amount.currency;
    let (_, moved) = fold(tx, tenant, payment.customer_id, currency).await?;
    let source = FundsSource::Payment(payment.id);
    let mut applied: Vec<AppliedOut> = Vec::new();
    let mut credit = Money::zero(currency);
    for movement in moved.iter().filter(|m| m.source == source) {
        let amount = Money {
            amount: movement.amount,
            currency,
        };
        let slot = match movement.invoice_id {
            None => &mut credit,
            Some(invoice_id) => match applied.iter().position(|a| a.invoice_id == invoice_id) {
                Some(i) => &mut applied[i].amount,
                None => {
                    applied.push(AppliedOut {
                        invoice_id,
                        amount: Money::zero(currency),
                    });
                    let last = applied.len() - 1;
                    &mut applied[last].amount
                }
            },
        };
        slot.amount += amount.amount;
    }
    applied.retain(|a| !a.amount.amount.is_zero());
    for a in &mut applied {
        a.amount = scaled(a.amount);
    }
    Ok(PaymentOut {
        payment,
        applied,
        credit: scaled(credit),
    })
}

/// Record a payment or a failed payment attempt. A succeeded payment pays the invoices it names,
/// then the oldest due; what is left becomes customer credit.
#[utoipa::path(post, path = "/v1/payments", tag = "collections", request_body = PaymentIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = PaymentOut), (status = 422, body = crate::error::Problem)))]
pub async fn create_payment(
    ctx: Ctx<WriteFacts>,
    JsonBody(input): JsonBody<PaymentIn>,
) -> ApiResult<Response> {
    let payment = input.validate(PaymentId::generate()).map_err(invalid)?;
    let mut tx = ctx.begin().await?;
    record_payment(&ctx, &mut tx, &payment).await?;
    let cleared = payment.status == PaymentStatus::Succeeded;
    let customer = payment.customer_id;
    let out = payment_out(&mut tx, ctx.tenant(), payment).await?;
    let response = ctx.commit(tx, StatusCode::CREATED, &out).await?;
    // Orders held for this first payment go through now rather than at the next minute's
    // run; the payment stands whatever happens here, and that run retries a failure.
    if cleared
        && let Err(error) =
            crate::jobs::held_orders::decide_paid(&ctx.state, Some((ctx.tenant(), customer))).await
    {
        tracing::warn!(job = "held_orders", %error, "deciding held orders again failed");
    }
    Ok(response)
}

/// Stores a validated payment inside `tx` as `POST /v1/payments` does (shared with
/// `tollgate import payments`): the invoices it names must be the customer's and in its
/// currency, and the account must take it; faults name the field.
pub async fn record_payment(who: &impl Acting, tx: &mut Tx, payment: &Payment) -> ApiResult<()> {
    let tenant = who.tenant();
    let currency = payment.amount.currency;
    // The account of the payment's currency knows nothing of invoices in another currency or of
    // another customer; name the actual problem rather than "not open".
    for (i, request) in payment.allocations.iter().enumerate() {
        let field = format!("allocations[{i}].invoice_id");
        let invoice = tx
            .invoice(tenant, request.invoice_id)
            .await
            .map_err(unknown(&field, "invoice"))?
            .invoice;
        if invoice.customer_id != payment.customer_id {
            return Err(ApiError::field(field, "belongs to another customer"));
        }
        if invoice.currency != currency {
            return Err(ApiError::field(
                "currency",
                format_args!(
                    "is {currency}, but invoice {} is in {}",
                    invoice.number, invoice.currency
                ),
            ));
        }
    }
    let fact = AccountFact::PaymentReceived(payment.clone());
    let account = apply(tx, tenant, payment.customer_id, currency, &fact).await?;
    tx.insert_payment(tenant, payment, who.now()).await?;
    tx.save_open_amounts(tenant, &account).await?;
    crate::jobs::dunning::settle(who, tx, &account).await?;
    audit_as(who, tx, "payment.created", payment.id, payment).await
}

/// One payment and what it pays now.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "collections",
    params(("id" = PaymentId, Path)),
    responses((status = 200, body = PaymentOut), (status = 404, body = crate::error::Problem)))]
pub async fn get_payment(ctx: Ctx<Read>, Id(id): Id<PaymentId>) -> ApiResult<Json<PaymentOut>> {
    let mut tx = ctx.read().await?;
    let payment = tx.payment(ctx.tenant(), id).await?;
    Ok(Json(payment_out(&mut tx, ctx.tenant(), payment).await?))
}

/// Money sent back to the customer out of the payment in the path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    #[schema(value_type = String, example = "20.00")]
    pub amount: rust_decimal::Decimal,
    /// The payment's currency.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Defaults to now.
    pub refunded_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundOut {
    /// `rfd_…`
    pub id: RefundId,
    #[serde(flatten)]
    pub refund: Refund,
    pub reason: Option<String>,
    /// The refunded payment and what it pays after the refund.
    pub payment: PaymentOut,
}

/// Record a refund out of a payment. The amount comes first out of the payment's unused credit,
/// then out of the invoices it paid, most recently paid first: those are open again. A refund
/// larger than what is left of the payment is refused, naming `amount`.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", tag = "collections", request_body = RefundBody,
    params(("id" = PaymentId, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = RefundOut), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn create_refund(
    ctx: Ctx<WriteFacts>,
    Id(payment_id): Id<PaymentId>,
    JsonBody(input): JsonBody<RefundBody>,
) -> ApiResult<Response> {
    let reason = input
        .reason
        .map(|r| validate::text("reason", &r, 500))
        .transpose()
        .map_err(invalid)?;
    let refund = RefundIn {
        payment_id,
        amount: input.amount,
        currency: input.currency,
        refunded_at: input.refunded_at.unwrap_or_else(|| ctx.now()),
    }
    .validate()
    .map_err(invalid)?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let payment = tx.payment(tenant, payment_id).await?;
    if payment.status != PaymentStatus::Succeeded {
        return Err(ApiError::Conflict {
            detail: format!(
                "the payment is {}: only a succeeded payment moved money to refund",
                payment.status
            ),
            field: None,
        });
    }
    let currency = payment.amount.currency;
    if refund.amount.currency != currency {
        return Err(ApiError::field(
            "currency",
            format_args!(
                "is {}, but the payment is in {currency}",
                refund.amount.currency
            ),
        ));
    }
    let customer = payment.customer_id;
    let fact = AccountFact::PaymentRefunded(refund.clone());
    let account = apply(&mut tx, tenant, customer, currency, &fact).await?;
    let id = RefundId::generate();
    tx.insert_refund(tenant, customer, id, &refund, reason.as_deref(), ctx.now())
        .await?;
    tx.save_open_amounts(tenant, &account).await?;
    let mut refund = refund;
    refund.amount = scaled(refund.amount);
    ctx.audit(
        &mut tx,
        "refund.created",
        id,
        serde_json::json!({ "refund": &refund, "reason": &reason }),
    )
    .await?;
    let out = RefundOut {
        id,
        refund,
        reason,
        payment: payment_out(&mut tx, tenant, payment).await?,
    };
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// Record a chargeback against a payment. An opened (or lost) chargeback takes the money back:
/// the invoices the payment paid are open again, most recently paid first.
#[utoipa::path(post, path = "/v1/chargebacks", tag = "collections", request_body = ChargebackIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = ChargebackOut), (status = 422, body = crate::error::Problem)))]
pub async fn create_chargeback(
    ctx: Ctx<WriteFacts>,
    JsonBody(input): JsonBody<ChargebackIn>,
) -> ApiResult<Response> {
    let chargeback = input.validate(DisputeId::generate()).map_err(invalid)?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let payment = tx
        .payment(tenant, chargeback.payment_id)
        .await
        .map_err(unknown("payment_id", "payment"))?;
    let currency = payment.amount.currency;
    if chargeback.amount.currency != currency {
        return Err(ApiError::field(
            "currency",
            format_args!(
                "is {}, but the payment is in {currency}",
                chargeback.amount.currency
            ),
        ));
    }
    let customer = payment.customer_id;
    let fact = AccountFact::Chargeback(chargeback.clone());
    let account = apply(&mut tx, tenant, customer, currency, &fact).await?;
    tx.insert_chargeback(tenant, customer, &chargeback, ctx.now())
        .await?;
    tx.save_open_amounts(tenant, &account).await?;
    crate::jobs::dunning::settle(&ctx, &mut tx, &account).await?;
    ctx.audit(&mut tx, "chargeback.recorded", chargeback.id, &chargeback)
        .await?;
    let out = ChargebackOut {
        chargeback,
        customer_id: customer,
    };
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// A customer's receivables: open invoices and credit, per currency.
#[utoipa::path(get, path = "/v1/customers/{id}/account", tag = "collections",
    params(("id" = CustomerId, Path)),
    responses((status = 200, body = AccountOut), (status = 404, body = crate::error::Problem)))]
pub async fn account(ctx: Ctx<Read>, Id(id): Id<CustomerId>) -> ApiResult<Json<AccountOut>> {
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    tx.customer(tenant, id).await?;
    let mut currencies = Vec::new();
    for currency in tx.account_currencies(tenant, id).await? {
        let (account, _) = fold(&mut tx, tenant, id, currency).await?;
        currencies.push(CurrencyAccountOut {
            currency,
            open_total: scaled(account.open_total()),
            credit: scaled(account.credit()),
            failed_attempts: account.failed_attempts(),
            open_invoices: account.open_invoices(),
        });
    }
    Ok(Json(AccountOut {
        customer_id: id,
        currencies,
    }))
}

/// Open amounts by days past due (current, 1–30, 31–60, 61–90, over 90), per customer and in
/// total, per currency. Days are counted in the tenant's time zone.
#[utoipa::path(get, path = "/v1/receivables/aging", tag = "collections", params(AgingQuery),
    responses((status = 200, body = AgingReport, description = "JSON, or CSV with `format=csv`")))]
pub async fn receivables_aging(
    ctx: Ctx<Read>,
    headers: HeaderMap,
    Q(query): Q<AgingQuery>,
) -> ApiResult<Response> {
    let csv = match query.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::field("format", "must be json or csv")),
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    let time_zone = tx.tenant(tenant).await?.time_zone;
    let tz: chrono_tz::Tz = time_zone.parse().map_err(|_| {
        ApiError::Internal(format!(
            "tenant {tenant} has an unknown time zone `{time_zone}`"
        ))
    })?;
    let as_of = query
        .as_of
        .unwrap_or_else(|| ctx.now().with_timezone(&tz).date_naive());
    let whole_book = |field| {
        ApiError::field(
            field,
            "is for the whole book; with customer_id the report is that customer's already",
        )
    };
    let report = match (
        query.totals_only.unwrap_or(false),
        query.most_past_due,
        query.customer_id,
    ) {
        (true, Some(_), _) => {
            return Err(ApiError::field(
                "most_past_due",
                "lists customer rows, which totals_only leaves out",
            ));
        }
        (true, None, Some(_)) => return Err(whole_book("totals_only")),
        (false, Some(_), Some(_)) => return Err(whole_book("most_past_due")),
        (false, Some(limit), None) if !(1..=MOST_PAST_DUE_MAX).contains(&limit) => {
            return Err(ApiError::field(
                "most_past_due",
                format_args!("must be between 1 and {MOST_PAST_DUE_MAX}"),
            ));
        }
        (true, None, None) => tx.aging_totals(tenant, as_of, tz).await?,
        (false, Some(limit), None) => tx.aging_most_past_due(tenant, as_of, tz, limit).await?,
        (false, None, customer) => tx.aging(tenant, as_of, tz, customer).await?,
    };
    if csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            aging_csv(&report),
        )
            .into_response())
    } else {
        Ok(Json(report).into_response())
    }
}

/// One row per customer and currency, then one `total` row per currency. Every value is an id,
/// a currency code or a number, so nothing needs quoting.
fn aging_csv(report: &AgingReport) -> String {
    let mut out = String::from(
        "scope,customer_id,currency,current,days_1_30,days_31_60,days_61_90,days_over_90,total\n",
    );
    let rows = report
        .customers
        .iter()
        .map(|c| {
            (
                "customer",
                c.customer_id.to_string(),
                c.currency,
                &c.buckets,
            )
        })
        .chain(
            report
                .totals
                .iter()
                .map(|t| ("total", String::new(), t.currency, &t.buckets)),
        );
    for (scope, customer, currency, b) in rows {
        let amounts = [
            b.current,
            b.days_1_30,
            b.days_31_60,
            b.days_61_90,
            b.days_over_90,
            b.total,
        ]
        .map(|amount| {
            let shown = tollgate_core::collections::amounts::display(amount, currency);
            shown
                .split_once(' ')
                .map_or(shown.clone(), |(_, number)| number.to_owned())
        });
        out.push_str(&format!(
            "{scope},{customer},{currency},{}\n",
            amounts.join(",")
        ));
    }
    out
}
