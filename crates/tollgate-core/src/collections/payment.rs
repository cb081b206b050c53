//! Payments, refunds and chargebacks as they arrive from the reseller's billing system.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::amounts::{self, Zero};
use crate::{
    CustomerId, DisputeId, InvoiceId, Money, PaymentId,
    validate::{self, FieldError},
};

const CODE_MAX: usize = 64;
/// A processor id is short; the limit keeps a pasted document out of the unique index.
const EXTERNAL_REF_MAX: usize = 200;
const TEXT_MAX: usize = 500;

str_enum!(
    /// How the customer paid.
    PaymentMethod {
        Card = "card",
        BankTransfer = "bank_transfer",
        DirectDebit = "direct_debit",
        Wallet = "wallet",
        /// Drawn from the customer's prepaid balance.
        PrepaidBalance = "prepaid_balance",
        Other = "other",
    }
);

str_enum!(
    /// What became of a payment.
    PaymentStatus {
        Succeeded = "succeeded",
        /// An attempt that moved no money; counts towards failed-attempt dunning steps.
        Failed = "failed",
        /// Money that came in and went back out before Tollgate saw the payment.
        Refunded = "refunded",
    }
);

str_enum!(
    /// Where a chargeback stands.
    ChargebackStatus {
        /// The money is held back from the reseller: the invoices it paid are open again.
        Opened = "opened",
        /// The reseller won the dispute: the money counts as paid again.
        Won = "won",
        Lost = "lost",
    }
);

/// Part of a payment the payer said is for a given invoice, in the payment's currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    pub invoice_id: InvoiceId,
    #[schema(value_type = String, example = "50.00")]
    pub amount: Decimal,
}

/// A payment or payment attempt.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: PaymentId,
    pub customer_id: CustomerId,
    pub amount: Money,
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// The processor's reason for a failed attempt (`insufficient_funds`, `do_not_honor`…).
    pub failure_code: Option<String>,
    /// The processor's or bank's own id for it (a PSP charge id, a bank transfer reference),
    /// unique per tenant: the same payment reported twice, by webhook and by import, is
    /// refused the second time instead of counted twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Explicit allocations; empty means oldest-due invoices first.
    pub allocations: Vec<AllocationRequest>,
}

/// A payment as submitted, before validation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIn {
    pub customer_id: CustomerId,
    #[schema(value_type = String, example = "120.00")]
    pub amount: Decimal,
    #[schema(example = "EUR")]
    pub currency: String,
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    #[serde(default)]
    pub failure_code: Option<String>,
    /// The processor's or bank's id for the payment, unique per tenant.
    #[serde(default)]
    #[schema(example = "ch_3PqR8sLkdIwHu7ix0t5bM9Kd")]
    pub external_ref: Option<String>,
    pub received_at: DateTime<Utc>,
    #[serde(default)]
    pub allocations: Vec<AllocationRequest>,
}

impl PaymentIn {
    /// Checks the payment on its own: a positive amount, a failure code exactly when the attempt
    /// failed, and explicit allocations that are positive, name each invoice once and do not add
    /// up to more than the payment. Whether the invoices are open is the account's call.
    pub fn validate(self, id: PaymentId) -> Result<Payment, FieldError> {
        let currency = amounts::currency("currency", &self.currency)?;
        let amount = amounts::money("amount", self.amount, currency, Zero::Refused)?;
        let failure_code = match (self.status, self.failure_code) {
            (PaymentStatus::Failed, Some(code)) => {
                Some(validate::text("failure_code", &code, CODE_MAX)?)
            }
            (PaymentStatus::Failed, None) => {
                return Err(FieldError::new(
                    "failure_code",
                    "is required when status is failed",
                ));
            }
            (_, Some(_)) => {
                return Err(FieldError::new(
                    "failure_code",
                    "is only given for failed payments",
                ));
            }
            (_, None) => None,
        };
        let external_ref = self
            .external_ref
            .map(|r| validate::text("external_ref", &r, EXTERNAL_REF_MAX))
            .transpose()?;
        if self.status != PaymentStatus::Succeeded && !self.allocations.is_empty() {
            return Err(FieldError::new(
                "allocations",
                "only a succeeded payment can be allocated to invoices",
            ));
        }
        let mut seen = HashSet::new();
        let mut allocated = Decimal::ZERO;
        for (i, request) in self.allocations.iter().enumerate() {
            amounts::money(
                &format!("allocations[{i}].amount"),
                request.amount,
                currency,
                Zero::Refused,
            )?;
            if !seen.insert(request.invoice_id) {
                return Err(FieldError::new(
                    format!("allocations[{i}].invoice_id"),
                    "names an invoice already allocated to earlier in the list",
                ));
            }
            allocated += request.amount;
        }
        if allocated > amount.amount {
            return Err(FieldError::new(
                "allocations",
                format_args!(
                    "allocate {} in total, more than the payment's {}",
                    amounts::display(allocated, currency),
                    amounts::display(amount.amount, currency)
                ),
            ));
        }
        Ok(Payment {
            id,
            customer_id: self.customer_id,
            amount,
            method: self.method,
            status: self.status,
            failure_code,
            external_ref,
            received_at: self.received_at,
            allocations: self.allocations,
        })
    }
}

/// Money the reseller sent back to the customer out of an earlier payment.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Refund {
    pub payment_id: PaymentId,
    pub amount: Money,
    pub refunded_at: DateTime<Utc>,
}

/// A refund as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundIn {
    pub payment_id: PaymentId,
    #[schema(value_type = String, example = "20.00")]
    pub amount: Decimal,
    #[schema(example = "EUR")]
    pub currency: String,
    pub refunded_at: DateTime<Utc>,
}

impl RefundIn {
    pub fn validate(self) -> Result<Refund, FieldError> {
        let currency = amounts::currency("currency", &self.currency)?;
        Ok(Refund {
            payment_id: self.payment_id,
            amount: amounts::money("amount", self.amount, currency, Zero::Refused)?,
            refunded_at: self.refunded_at,
        })
    }
}

/// A chargeback (card dispute) against a payment. Each status change is submitted as the same
/// `id` with the new status; the account reacts to the change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Chargeback {
    pub id: DisputeId,
    pub payment_id: PaymentId,
    pub amount: Money,
    /// The network's reason (`fraudulent`, `product_not_received`…).
    pub reason: String,
    pub status: ChargebackStatus,
    pub updated_at: DateTime<Utc>,
}

/// A chargeback as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargebackIn {
    pub payment_id: PaymentId,
    #[schema(value_type = String, example = "120.00")]
    pub amount: Decimal,
    #[schema(example = "EUR")]
    pub currency: String,
    pub reason: String,
    pub status: ChargebackStatus,
    pub updated_at: DateTime<Utc>,
}

impl ChargebackIn {
    pub fn validate(self, id: DisputeId) -> Result<Chargeback, FieldError> {
        let currency = amounts::currency("currency", &self.currency)?;
        Ok(Chargeback {
            id,
            payment_id: self.payment_id,
            amount: amounts::money("amount", self.amount, currency, Zero::Refused)?,
            reason: validate::text("reason", &self.reason, TEXT_MAX)?,
            status: self.status,
            updated_at: self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn submission() -> serde_json::Value {
        json!({
            "customer_id": CustomerId::generate(),
            "amount": "120.00",
            "currency": "EUR",
            "method": "bank_transfer",
            "status": "succeeded",
            "received_at": "2026-03-10T12:00:00Z",
            "allocations": [
                {"invoice_id": InvoiceId::generate(), "amount": "100.00"},
                {"invoice_id": InvoiceId::generate(), "amount": "20.00"}
            ]
        })
    }

    fn error_field(mutate: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = submission();
        mutate(&mut value);
        serde_json::from_value::<PaymentIn>(value)
            .unwrap()
            .validate(PaymentId::generate())
            .unwrap_err()
            .field
    }

    #[test]
    fn a_consistent_payment_validates() {
        let payment = serde_json::from_value::<PaymentIn>(submission())
            .unwrap()
            .validate(PaymentId::generate())
            .unwrap();
        assert_eq!(payment.allocations.len(), 2);
        assert_eq!(payment.method, PaymentMethod::BankTransfer);
    }

    #[test]
    fn each_inconsistency_names_its_field() {
        assert_eq!(error_field(|v| v["amount"] = json!("-1")), "amount");
        assert_eq!(error_field(|v| v["currency"] = json!("XXY")), "currency");
        assert_eq!(
            error_field(|v| v["allocations"][1]["amount"] = json!("0")),
            "allocations[1].amount"
        );
        assert_eq!(
            error_field(|v| v["allocations"][1]["amount"] = json!("20.01")),
            "allocations"
        );
        assert_eq!(
            error_field(
                |v| v["allocations"][1]["invoice_id"] = v["allocations"][0]["invoice_id"].clone()
            ),
            "allocations[1].invoice_id"
        );
        assert_eq!(
            error_field(|v| v["failure_code"] = json!("do_not_honor")),
            "failure_code"
        );
        assert_eq!(
            error_field(|v| v["status"] = json!("failed")),
            "failure_code"
        );
        assert_eq!(
            error_field(|v| {
                v["status"] = json!("failed");
                v["failure_code"] = json!("insufficient_funds");
            }),
            "allocations"
        );
    }

    #[test]
    fn chargebacks_and_refunds_need_positive_amounts() {
        let chargeback = ChargebackIn {
            payment_id: PaymentId::generate(),
            amount: Decimal::ZERO,
            currency: "EUR".into(),
            reason: "fraudulent".into(),
            status: ChargebackStatus::Opened,
            updated_at: "2026-03-20T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            chargeback
                .validate(DisputeId::generate())
                .unwrap_err()
                .field,
            "amount"
        );
        let refund = RefundIn {
            payment_id: PaymentId::generate(),
            amount: "-5".parse().unwrap(),
            currency: "EUR".into(),
            refunded_at: "2026-03-20T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(refund.validate().unwrap_err().field, "amount");
    }
}
