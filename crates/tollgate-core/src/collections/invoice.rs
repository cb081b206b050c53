//! Invoices, and the explicit facts that change what an invoice asks for: a void cancels it, a
//! credit note reduces it. Neither edits the invoice; both are facts of their own.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::amounts::{self, Zero};
use crate::{
    CreditNoteId, Currency, CustomerId, InvoiceId, Money, SubscriptionId,
    validate::{self, FieldError},
};

const NUMBER_MAX: usize = 64;
const TEXT_MAX: usize = 500;
const LINES_MAX: usize = 1000;

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InvoiceLine {
    pub description: String,
    /// The subscription billed, so that dunning can suspend only what is overdue.
    pub subscription_id: Option<SubscriptionId>,
    #[schema(value_type = String, example = "3")]
    pub quantity: Decimal,
    /// The line's amount (not the unit price), in the invoice currency.
    pub amount: Money,
}

/// An invoice the reseller issued. Its `total` equals the sum of its lines.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: InvoiceId,
    /// The reseller's invoice number, unique per tenant (the store enforces uniqueness).
    pub number: String,
    pub customer_id: CustomerId,
    pub issued_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub currency: Currency,
    pub lines: Vec<InvoiceLine>,
    pub total: Money,
}

impl Invoice {
    /// The subscriptions billed on this invoice, in line order, each once.
    pub fn subscription_ids(&self) -> Vec<SubscriptionId> {
        let mut ids: Vec<SubscriptionId> = Vec::new();
        for id in self.lines.iter().filter_map(|l| l.subscription_id) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

/// An invoice line as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLineIn {
    pub description: String,
    #[serde(default)]
    pub subscription_id: Option<SubscriptionId>,
    /// Defaults to 1.
    #[serde(default = "one")]
    #[schema(value_type = String, example = "1")]
    pub quantity: Decimal,
    #[schema(value_type = String, example = "40.00")]
    pub amount: Decimal,
}

fn one() -> Decimal {
    Decimal::ONE
}

/// An invoice as submitted through the API or a bulk import, before validation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceIn {
    pub number: String,
    pub customer_id: CustomerId,
    pub issued_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    #[schema(example = "EUR")]
    pub currency: String,
    pub lines: Vec<InvoiceLineIn>,
    #[schema(value_type = String, example = "120.00")]
    pub total: Decimal,
}

impl InvoiceIn {
    /// Turns the submission into an [`Invoice`] with the given id, or names the first field at
    /// fault: amounts that are negative or finer than the currency allows, a due date before the
    /// issue date, no lines, or lines that do not add up to the total.
    pub fn validate(self, id: InvoiceId) -> Result<Invoice, FieldError> {
        let number = validate::text("number", &self.number, NUMBER_MAX)?;
        let currency = amounts::currency("currency", &self.currency)?;
        if self.due_at < self.issued_at {
            return Err(FieldError::new("due_at", "must not be before issued_at"));
        }
        if self.lines.is_empty() {
            return Err(FieldError::new("lines", "must list at least one line"));
        }
        if self.lines.len() > LINES_MAX {
            return Err(FieldError::new(
                "lines",
                format_args!("must list at most {LINES_MAX} lines"),
            ));
        }
        let lines = self
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| line.validate(i, currency))
            .collect::<Result<Vec<_>, _>>()?;
        let total = amounts::money("total", self.total, currency, Zero::Allowed)?;
        // Bounded amounts times a bounded line count cannot overflow.
        let sum: Decimal = lines.iter().map(|l| l.amount.amount).sum();
        if sum != total.amount {
            return Err(FieldError::new(
                "total",
                format_args!(
                    "is {} but the lines add up to {}",
                    amounts::display(total.amount, currency),
                    amounts::display(sum, currency)
                ),
            ));
        }
        Ok(Invoice {
            id,
            number,
            customer_id: self.customer_id,
            issued_at: self.issued_at,
            due_at: self.due_at,
            currency,
            lines,
            total,
        })
    }
}

impl InvoiceLineIn {
    fn validate(self, index: usize, currency: Currency) -> Result<InvoiceLine, FieldError> {
        let field = |name: &str| format!("lines[{index}].{name}");
        let description = validate::text(&field("description"), &self.description, TEXT_MAX)?;
        if self.quantity <= Decimal::ZERO {
            return Err(FieldError::new(
                field("quantity"),
                "must be greater than zero",
            ));
        }
        let amount = amounts::money(&field("amount"), self.amount, currency, Zero::Allowed)?;
        Ok(InvoiceLine {
            description,
            subscription_id: self.subscription_id,
            quantity: self.quantity,
            amount,
        })
    }
}

/// Cancels an invoice as a whole. Payments it had received return to the customer's credit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceVoid {
    pub invoice_id: InvoiceId,
    pub voided_at: DateTime<Utc>,
    pub reason: String,
}

impl InvoiceVoid {
    /// Checks the free-text reason; whether the invoice may be voided is the account's call.
    pub fn validate(mut self) -> Result<Self, FieldError> {
        self.reason = validate::text("reason", &self.reason, TEXT_MAX)?;
        Ok(self)
    }
}

/// Reduces what an invoice asks for. A credit note larger than what is still open on the
/// invoice becomes customer credit.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CreditNote {
    pub id: CreditNoteId,
    pub invoice_id: InvoiceId,
    pub amount: Money,
    pub issued_at: DateTime<Utc>,
    pub reason: String,
}

/// A credit note as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteIn {
    pub invoice_id: InvoiceId,
    #[schema(value_type = String, example = "20.00")]
    pub amount: Decimal,
    #[schema(example = "EUR")]
    pub currency: String,
    pub issued_at: DateTime<Utc>,
    pub reason: String,
}

impl CreditNoteIn {
    /// Checks the note on its own; its fit with the invoice (currency, amount left to credit) is
    /// checked when it is applied to the customer's account.
    pub fn validate(self, id: CreditNoteId) -> Result<CreditNote, FieldError> {
        let currency = amounts::currency("currency", &self.currency)?;
        let amount = amounts::money("amount", self.amount, currency, Zero::Refused)?;
        let reason = validate::text("reason", &self.reason, TEXT_MAX)?;
        Ok(CreditNote {
            id,
            invoice_id: self.invoice_id,
            amount,
            issued_at: self.issued_at,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn submission() -> serde_json::Value {
        json!({
            "number": "INV-1001",
            "customer_id": CustomerId::generate(),
            "issued_at": "2026-03-01T09:00:00Z",
            "due_at": "2026-03-15T09:00:00Z",
            "currency": "EUR",
            "lines": [
                {"description": "Microsoft 365 E3", "subscription_id": SubscriptionId::generate(),
                 "quantity": "3", "amount": "90.00"},
                {"description": "Support", "amount": "30.00"}
            ],
            "total": "120.00"
        })
    }

    fn validate(value: serde_json::Value) -> Result<Invoice, FieldError> {
        serde_json::from_value::<InvoiceIn>(value)
            .unwrap()
            .validate(InvoiceId::generate())
    }

    fn error_field(mutate: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = submission();
        mutate(&mut value);
        validate(value).unwrap_err().field
    }

    #[test]
    fn a_consistent_invoice_validates() {
        let invoice = validate(submission()).unwrap();
        assert_eq!(invoice.number, "INV-1001");
        assert_eq!(invoice.total.to_minor().unwrap(), 12000);
        assert_eq!(invoice.lines[1].quantity, Decimal::ONE);
        assert_eq!(invoice.subscription_ids().len(), 1);
    }

    #[test]
    fn each_inconsistency_names_its_field() {
        assert_eq!(error_field(|v| v["total"] = json!("100.00")), "total");
        assert_eq!(
            error_field(|v| v["lines"][1]["amount"] = json!("-30.00")),
            "lines[1].amount"
        );
        assert_eq!(
            error_field(|v| v["lines"][0]["quantity"] = json!("0")),
            "lines[0].quantity"
        );
        assert_eq!(
            error_field(|v| v["lines"][0]["description"] = json!(" ")),
            "lines[0].description"
        );
        assert_eq!(
            error_field(|v| v["due_at"] = json!("2026-02-28T09:00:00Z")),
            "due_at"
        );
        assert_eq!(error_field(|v| v["currency"] = json!("EURO")), "currency");
        assert_eq!(error_field(|v| v["lines"] = json!([])), "lines");
        assert_eq!(error_field(|v| v["number"] = json!("")), "number");
        assert_eq!(
            error_field(|v| v["lines"][0]["amount"] = json!("90.001")),
            "lines[0].amount"
        );
    }

    #[test]
    fn subscription_ids_are_listed_once() {
        let mut invoice = validate(submission()).unwrap();
        let repeated = invoice.lines[0].clone();
        invoice.lines.push(repeated);
        assert_eq!(invoice.subscription_ids().len(), 1);
    }

    #[test]
    fn credit_notes_and_voids_check_their_own_fields() {
        let note = |amount: &str| CreditNoteIn {
            invoice_id: InvoiceId::generate(),
            amount: amount.parse().unwrap(),
            currency: "EUR".into(),
            issued_at: "2026-03-20T00:00:00Z".parse().unwrap(),
            reason: "goodwill".into(),
        };
        assert!(note("20.00").validate(CreditNoteId::generate()).is_ok());
        assert_eq!(
            note("0")
                .validate(CreditNoteId::generate())
                .unwrap_err()
                .field,
            "amount"
        );
        let void = InvoiceVoid {
            invoice_id: InvoiceId::generate(),
            voided_at: "2026-03-20T00:00:00Z".parse().unwrap(),
            reason: "  ".into(),
        };
        assert_eq!(void.validate().unwrap_err().field, "reason");
    }
}
