//! A prepaid balance (deposit) for customers whose terms require paying before service: top-ups
//! add to it, draws take from it, and it never goes below zero unless the terms grant credit.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::amounts::{self, Zero};
use crate::{
    Currency, Money,
    customers::Terms,
    validate::{self, FieldError},
};

str_enum!(
    /// Which way a prepaid entry moves money.
    PrepaidEntryKind {
        TopUp = "top_up",
        Draw = "draw",
    }
);

/// One movement on a prepaid balance; `amount` is always positive.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PrepaidEntry {
    pub kind: PrepaidEntryKind,
    pub amount: Money,
    pub at: DateTime<Utc>,
    /// What the draw paid for (an invoice number, an order) or where the top-up came from.
    pub reference: Option<String>,
}

/// A top-up or draw as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrepaidEntryIn {
    #[schema(value_type = String, example = "500.00")]
    pub amount: Decimal,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Defaults to now.
    pub at: Option<DateTime<Utc>>,
    /// What the draw paid for (an invoice number, an order) or where the top-up came from.
    pub reference: Option<String>,
}

impl PrepaidEntryIn {
    pub fn validate(
        self,
        kind: PrepaidEntryKind,
        now: DateTime<Utc>,
    ) -> Result<PrepaidEntry, FieldError> {
        let currency = amounts::currency("currency", &self.currency)?;
        Ok(PrepaidEntry {
            kind,
            amount: amounts::money("amount", self.amount, currency, Zero::Refused)?,
            at: self.at.unwrap_or(now),
            reference: self
                .reference
                .map(|r| validate::text("reference", &r, 200))
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepaidError {
    #[error("the balance is kept in {balance}, the entry is in {entry}")]
    CurrencyMismatch { balance: Currency, entry: Currency },
    #[error("prepaid entries move a positive amount")]
    NotPositive,
    #[error("drawing {requested} would take the balance below the allowed {floor}")]
    Insufficient { requested: String, floor: String },
}

/// The running prepaid balance of one customer in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PrepaidBalance {
    pub currency: Currency,
    #[schema(value_type = String)]
    pub balance: Decimal,
}

impl PrepaidError {
    /// The input field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::CurrencyMismatch { .. } => "currency",
            Self::NotPositive | Self::Insufficient { .. } => "amount",
        }
    }
}

impl From<PrepaidError> for FieldError {
    fn from(error: PrepaidError) -> Self {
        FieldError::new(error.field(), &error)
    }
}

impl PrepaidBalance {
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            balance: Decimal::ZERO,
        }
    }

    /// How far below zero the terms let this balance go: customers who must prepay never go
    /// negative; others may draw up to their credit limit when it is set in this currency.
    pub fn overdraft_allowed(terms: &Terms, currency: Currency) -> Decimal {
        match terms.credit_limit {
            Some(limit) if !terms.prepayment_required && limit.currency == currency => {
                limit.amount.max(Decimal::ZERO)
            }
            _ => Decimal::ZERO,
        }
    }

    /// Applies one entry, refusing a draw that would go below `-overdraft`. On error the balance
    /// is unchanged.
    pub fn apply(
        &mut self,
        entry: &PrepaidEntry,
        overdraft: Decimal,
    ) -> Result<Money, PrepaidError> {
        if entry.amount.currency != self.currency {
            return Err(PrepaidError::CurrencyMismatch {
                balance: self.currency,
                entry: entry.amount.currency,
            });
        }
        if entry.amount.amount <= Decimal::ZERO {
            return Err(PrepaidError::NotPositive);
        }
        let next = match entry.kind {
            PrepaidEntryKind::TopUp => self.balance.checked_add(entry.amount.amount),
            PrepaidEntryKind::Draw => self.balance.checked_sub(entry.amount.amount),
        };
        let floor = -overdraft;
        match next {
            Some(next) if next >= floor => {
                self.balance = next;
                Ok(Money {
                    amount: next,
                    currency: self.currency,
                })
            }
            _ => Err(PrepaidError::Insufficient {
                requested: amounts::display(entry.amount.amount, self.currency),
                floor: amounts::display(floor, self.currency),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    fn entry(kind: PrepaidEntryKind, amount: i64) -> PrepaidEntry {
        PrepaidEntry {
            kind,
            amount: Money::from_minor(amount * 100, eur()),
            at: "2026-03-01T00:00:00Z".parse().unwrap(),
            reference: None,
        }
    }

    #[test]
    fn draws_stop_at_zero_for_prepaying_customers() {
        let mut balance = PrepaidBalance::new(eur());
        let floor = PrepaidBalance::overdraft_allowed(&Terms::default(), eur());
        balance
            .apply(&entry(PrepaidEntryKind::TopUp, 100), floor)
            .unwrap();
        balance
            .apply(&entry(PrepaidEntryKind::Draw, 60), floor)
            .unwrap();
        let refused = balance.apply(&entry(PrepaidEntryKind::Draw, 41), floor);
        assert!(matches!(refused, Err(PrepaidError::Insufficient { .. })));
        assert_eq!(balance.balance, Decimal::from(40));
        let drained = balance
            .apply(&entry(PrepaidEntryKind::Draw, 40), floor)
            .unwrap();
        assert!(drained.amount.is_zero());
    }

    #[test]
    fn terms_with_credit_allow_an_overdraft_up_to_the_limit() {
        let terms = Terms {
            prepayment_required: false,
            credit_limit: Some(Money::from_minor(5000, eur())),
            ..Terms::default()
        };
        let floor = PrepaidBalance::overdraft_allowed(&terms, eur());
        assert_eq!(floor, Decimal::from(50));
        assert!(PrepaidBalance::overdraft_allowed(&terms, "USD".parse().unwrap()).is_zero());
        let mut balance = PrepaidBalance::new(eur());
        balance
            .apply(&entry(PrepaidEntryKind::Draw, 50), floor)
            .unwrap();
        assert_eq!(balance.balance, Decimal::from(-50));
        assert!(
            balance
                .apply(&entry(PrepaidEntryKind::Draw, 1), floor)
                .is_err()
        );
    }

    #[test]
    fn input_is_checked_field_by_field() {
        let now: DateTime<Utc> = "2026-03-01T00:00:00Z".parse().unwrap();
        let input = |amount: &str, currency: &str| PrepaidEntryIn {
            amount: amount.parse().unwrap(),
            currency: currency.into(),
            at: None,
            reference: Some("INV-7".into()),
        };
        let entry = input("25.50", "EUR")
            .validate(PrepaidEntryKind::Draw, now)
            .unwrap();
        assert_eq!(entry.amount, Money::from_minor(2550, eur()));
        assert_eq!((entry.at, entry.reference.as_deref()), (now, Some("INV-7")));
        for (amount, currency, field) in [
            ("-1", "EUR", "amount"),
            ("0", "EUR", "amount"),
            ("1.001", "EUR", "amount"),
            ("1", "EURO", "currency"),
        ] {
            let error = input(amount, currency)
                .validate(PrepaidEntryKind::TopUp, now)
                .unwrap_err();
            assert_eq!(error.field, field, "{amount} {currency}");
        }
        let blank = PrepaidEntryIn {
            reference: Some(" ".into()),
            ..input("1", "EUR")
        };
        assert_eq!(
            blank
                .validate(PrepaidEntryKind::TopUp, now)
                .unwrap_err()
                .field,
            "reference"
        );
    }

    #[test]
    fn refuses_other_currencies_and_non_positive_entries() {
        let mut balance = PrepaidBalance::new("USD".parse().unwrap());
        assert!(matches!(
            balance.apply(&entry(PrepaidEntryKind::TopUp, 1), Decimal::ZERO),
            Err(PrepaidError::CurrencyMismatch { .. })
        ));
        let mut balance = PrepaidBalance::new(eur());
        assert_eq!(
            balance.apply(&entry(PrepaidEntryKind::TopUp, 0), Decimal::ZERO),
            Err(PrepaidError::NotPositive)
        );
    }
}
