//! Splitting a payment over a customer's open invoices.
//!
//! The rule: explicit allocations first, exactly as requested; whatever is left goes to the open
//! invoices oldest due date first (ties: older issue date, then older id), each paid in full
//! before the next is touched; what is still left after every invoice is paid becomes customer
//! credit. An invoice paid only in part keeps the rest open.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{amounts, payment::AllocationRequest};
use crate::{Currency, CustomerId, InvoiceId, Money, SubscriptionId, validate::FieldError};

/// An invoice with something left to pay: what allocation, aging and dunning look at. The
/// store can build these from its tables as well as from an [`super::Account`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OpenInvoice {
    pub invoice_id: InvoiceId,
    pub number: String,
    pub customer_id: CustomerId,
    pub issued_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// What is still to pay.
    pub open: Money,
    /// The subscriptions billed on the invoice.
    pub subscription_ids: Vec<SubscriptionId>,
}

/// Part of a payment applied to one invoice, in the payment's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Allocation {
    pub invoice_id: InvoiceId,
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// How a payment splits: the allocations in the order made, and what is left over as credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AllocationPlan {
    pub allocations: Vec<Allocation>,
    #[schema(value_type = String)]
    pub unapplied: Decimal,
}

/// Why a payment cannot be allocated as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("the payment is in {payment}, invoice {number} is in {invoice}")]
    CurrencyMismatch {
        number: String,
        invoice: Currency,
        payment: Currency,
    },
    #[error("invoice {invoice_id} is not open for this customer")]
    NotOpen { index: usize, invoice_id: InvoiceId },
    #[error("allocation of {requested} is more than the {open} open on the invoice")]
    ExceedsOpen {
        index: usize,
        requested: String,
        open: String,
    },
    #[error("allocations add up to more than the payment")]
    ExceedsPayment { index: usize },
    #[error("an allocation must be greater than zero")]
    NotPositive { index: usize },
}

impl AllocationError {
    /// The input field at fault, in the form the API reports.
    pub fn field(&self) -> String {
        match self {
            AllocationError::CurrencyMismatch { .. } => "currency".to_owned(),
            AllocationError::NotOpen { index, .. } => format!("allocations[{index}].invoice_id"),
            AllocationError::ExceedsOpen { index, .. }
            | AllocationError::ExceedsPayment { index }
            | AllocationError::NotPositive { index } => format!("allocations[{index}].amount"),
        }
    }
}

impl From<AllocationError> for FieldError {
    fn from(error: AllocationError) -> Self {
        FieldError::new(error.field(), &error)
    }
}

/// Allocates `amount` over `open` (one customer's open invoices, any order) following the module
/// rule. Pure: the caller applies the plan.
pub fn allocate(
    open: &[OpenInvoice],
    amount: Money,
    requests: &[AllocationRequest],
) -> Result<AllocationPlan, AllocationError> {
    if let Some(other) = open.iter().find(|i| i.open.currency != amount.currency) {
        return Err(AllocationError::CurrencyMismatch {
            number: other.number.clone(),
            invoice: other.open.currency,
            payment: amount.currency,
        });
    }
    let mut order: Vec<&OpenInvoice> = open.iter().collect();
    order.sort_by_key(|i| (i.due_at, i.issued_at, i.invoice_id));
    let mut left: Vec<Decimal> = order.iter().map(|i| i.open.amount).collect();
    let mut plan = AllocationPlan {
        allocations: Vec::new(),
        unapplied: amount.amount,
    };

    for (index, request) in requests.iter().enumerate() {
        if request.amount <= Decimal::ZERO {
            return Err(AllocationError::NotPositive { index });
        }
        let position = order
            .iter()
            .position(|i| i.invoice_id == request.invoice_id)
            .filter(|&p| left[p] > Decimal::ZERO)
            .ok_or(AllocationError::NotOpen {
                index,
                invoice_id: request.invoice_id,
            })?;
        if request.amount > left[position] {
            return Err(AllocationError::ExceedsOpen {
                index,
                requested: amounts::display(request.amount, amount.currency),
                open: amounts::display(left[position], amount.currency),
            });
        }
        if request.amount > plan.unapplied {
            return Err(AllocationError::ExceedsPayment { index });
        }
        left[position] -= request.amount;
        plan.apply(request.invoice_id, request.amount);
    }

    for (invoice, left) in order.iter().zip(left) {
        if plan.unapplied.is_zero() {
            break;
        }
        let take = left.min(plan.unapplied);
        if take > Decimal::ZERO {
            plan.apply(invoice.invoice_id, take);
        }
    }
    Ok(plan)
}

impl AllocationPlan {
    fn apply(&mut self, invoice_id: InvoiceId, amount: Decimal) {
        self.unapplied -= amount;
        match self
            .allocations
            .iter_mut()
            .find(|a| a.invoice_id == invoice_id)
        {
            Some(existing) => existing.amount += amount,
            None => self.allocations.push(Allocation { invoice_id, amount }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(cents: i64) -> Money {
        Money::from_minor(cents, "EUR".parse().unwrap())
    }

    fn invoice(number: &str, due_day: u32, open_cents: i64) -> OpenInvoice {
        let due_at = format!("2026-03-{due_day:02}T12:00:00Z").parse().unwrap();
        OpenInvoice {
            invoice_id: InvoiceId::generate(),
            number: number.to_owned(),
            customer_id: CustomerId::from_uuid(uuid::Uuid::nil()),
            issued_at: "2026-02-01T00:00:00Z".parse().unwrap(),
            due_at,
            open: eur(open_cents),
            subscription_ids: Vec::new(),
        }
    }

    fn amounts_by_number(plan: &AllocationPlan, open: &[OpenInvoice]) -> Vec<(String, i64)> {
        plan.allocations
            .iter()
            .map(|a| {
                let number = open.iter().find(|i| i.invoice_id == a.invoice_id).unwrap();
                (number.number.clone(), eur_cents(a.amount))
            })
            .collect()
    }

    fn eur_cents(amount: Decimal) -> i64 {
        Money {
            amount,
            currency: "EUR".parse().unwrap(),
        }
        .to_minor()
        .unwrap()
    }

    #[test]
    fn pays_oldest_due_first_and_leaves_the_rest_open() {
        // Listed newest first on purpose: the order given must not matter.
        let open = [
            invoice("B", 20, 5000),
            invoice("A", 10, 10000),
            invoice("C", 30, 7000),
        ];
        let plan = allocate(&open, eur(12000), &[]).unwrap();
        assert_eq!(
            amounts_by_number(&plan, &open),
            [("A".to_owned(), 10000), ("B".to_owned(), 2000)]
        );
        assert!(plan.unapplied.is_zero());
    }

    #[test]
    fn over_payment_becomes_unapplied_credit() {
        let open = [invoice("A", 10, 10000)];
        let plan = allocate(&open, eur(15000), &[]).unwrap();
        assert_eq!(eur_cents(plan.unapplied), 5000);
        let plan = allocate(&[], eur(15000), &[]).unwrap();
        assert!(plan.allocations.is_empty());
        assert_eq!(eur_cents(plan.unapplied), 15000);
    }

    #[test]
    fn honours_explicit_allocations_then_goes_oldest_first() {
        let open = [invoice("A", 10, 10000), invoice("B", 20, 5000)];
        let requests = [AllocationRequest {
            invoice_id: open[1].invoice_id,
            amount: "30".parse().unwrap(),
        }];
        let plan = allocate(&open, eur(20000), &requests).unwrap();
        assert_eq!(
            amounts_by_number(&plan, &open),
            [("B".to_owned(), 5000), ("A".to_owned(), 10000)]
        );
        assert_eq!(eur_cents(plan.unapplied), 5000);
    }

    #[test]
    fn refuses_bad_explicit_allocations_naming_the_position() {
        let open = [invoice("A", 10, 10000)];
        let request = |invoice_id, amount: &str| AllocationRequest {
            invoice_id,
            amount: amount.parse().unwrap(),
        };
        let too_much = allocate(&open, eur(20000), &[request(open[0].invoice_id, "100.01")]);
        assert_eq!(too_much.unwrap_err().field(), "allocations[0].amount");
        let unknown = allocate(&open, eur(20000), &[request(InvoiceId::generate(), "1")]);
        assert!(matches!(
            unknown,
            Err(AllocationError::NotOpen { index: 0, .. })
        ));
        let beyond_payment = allocate(&open, eur(1000), &[request(open[0].invoice_id, "20")]);
        assert!(matches!(
            beyond_payment,
            Err(AllocationError::ExceedsPayment { index: 0 })
        ));
        let zero = allocate(&open, eur(1000), &[request(open[0].invoice_id, "0")]);
        assert!(matches!(
            zero,
            Err(AllocationError::NotPositive { index: 0 })
        ));
    }

    #[test]
    fn refuses_a_payment_in_another_currency() {
        let open = [invoice("A", 10, 10000)];
        let usd = Money::from_minor(100, "USD".parse().unwrap());
        let error = allocate(&open, usd, &[]).unwrap_err();
        assert_eq!(FieldError::from(error).field, "currency");
    }
}
