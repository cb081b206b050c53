//! Order signals: the order's size, GPU capacity, the customer's credit limit, and service
//! requested before the first payment cleared.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    facts::{CustomerState, OrderItem},
    velocity::decimal_as_f64,
};
use crate::{
    Money,
    customers::{ProductKind, Terms},
    money::MoneyError,
};

/// The `order` section of the features.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderFeatures {
    /// A number because CEL has no decimal; the decision keeps the exact [`Money`].
    pub total: f64,
    pub currency: String,
    pub max_quantity: u32,
    pub gpu_quantity: u32,
    pub has_gpu: bool,
    pub above_credit_limit: bool,
    pub awaiting_first_payment: bool,
}

/// Why an order's total cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("items: an order needs at least one item")]
    NoItems,
    #[error("items[{index}]: {error}")]
    Amount { index: usize, error: MoneyError },
}

/// The sum of quantity × unit price; every item must be in the first item's currency.
pub fn order_total(items: &[OrderItem]) -> Result<Money, OrderError> {
    let first = items.first().ok_or(OrderError::NoItems)?;
    items.iter().enumerate().try_fold(
        Money::zero(first.unit_price.currency),
        |total, (index, item)| {
            let at = |error| OrderError::Amount { index, error };
            let amount = item
                .unit_price
                .amount
                .checked_mul(Decimal::from(item.quantity))
                .ok_or(at(MoneyError::Overflow))?;
            let line = Money {
                amount,
                currency: item.unit_price.currency,
            };
            total.checked_add(line).map_err(at)
        },
    )
}

/// Units of GPU capacity ordered.
pub fn gpu_quantity(items: &[OrderItem]) -> u32 {
    items
        .iter()
        .filter(|item| item.product_kind == ProductKind::GpuCapacity)
        .fold(0u32, |sum, item| sum.saturating_add(item.quantity))
}

/// Whether the order plus what is already owed exceeds the customer's credit limit. No limit
/// means no credit: prepayment (see [`awaiting_first_payment`]) governs, not this signal. When
/// currencies differ the order cannot be shown to fit, so it counts as above.
pub fn above_credit_limit(total: Money, outstanding: Option<Money>, terms: &Terms) -> bool {
    let Some(limit) = terms.credit_limit else {
        return false;
    };
    let exposure = match outstanding {
        Some(owed) => total.checked_add(owed),
        None => Ok(total),
    };
    match exposure {
        Ok(exposure) if exposure.currency == limit.currency => exposure.amount > limit.amount,
        _ => true,
    }
}

/// The customer's terms require paying first and no payment has cleared yet.
pub fn awaiting_first_payment(terms: &Terms, has_cleared_payment: bool) -> bool {
    terms.prepayment_required && !has_cleared_payment
}

impl OrderFeatures {
    /// Without a known customer the credit and prepayment signals keep neutral defaults.
    pub fn compute(
        items: &[OrderItem],
        customer: Option<&CustomerState>,
    ) -> Result<Self, OrderError> {
        let total = order_total(items)?;
        let gpu_quantity = gpu_quantity(items);
        Ok(Self {
            total: decimal_as_f64(total.amount),
            currency: total.currency.to_string(),
            max_quantity: items
                .iter()
                .map(|item| item.quantity)
                .max()
                .unwrap_or_default(),
            gpu_quantity,
            has_gpu: gpu_quantity > 0,
            above_credit_limit: customer
                .is_some_and(|c| above_credit_limit(total, c.outstanding_balance, &c.terms)),
            awaiting_first_payment: customer
                .is_some_and(|c| awaiting_first_payment(&c.terms, c.has_cleared_payment)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: ProductKind, quantity: u32, price: &str, currency: &str) -> OrderItem {
        OrderItem {
            sku: "sku".into(),
            product_kind: kind,
            quantity,
            unit_price: Money::new(price.parse().unwrap(), currency.parse().unwrap()).unwrap(),
        }
    }

    fn eur(amount: &str) -> Money {
        Money::new(amount.parse().unwrap(), "EUR".parse().unwrap()).unwrap()
    }

    #[test]
    fn total_multiplies_and_sums_in_one_currency() {
        let items = [
            item(ProductKind::M365, 10, "12.50", "EUR"),
            item(ProductKind::GpuCapacity, 2, "100", "EUR"),
        ];
        assert_eq!(order_total(&items).unwrap(), eur("325.00"));
        assert_eq!(order_total(&[]), Err(OrderError::NoItems));
        let mixed = [items[0].clone(), item(ProductKind::M365, 1, "1", "USD")];
        assert!(matches!(
            order_total(&mixed),
            Err(OrderError::Amount {
                index: 1,
                error: MoneyError::CurrencyMismatch(..)
            })
        ));
    }

    #[test]
    fn gpu_quantity_counts_only_gpu_items() {
        let items = [
            item(ProductKind::GpuCapacity, 3, "1", "EUR"),
            item(ProductKind::AzurePlan, 50, "1", "EUR"),
            item(ProductKind::GpuCapacity, 4, "1", "EUR"),
        ];
        assert_eq!(gpu_quantity(&items), 7);
        assert_eq!(gpu_quantity(&items[1..2]), 0);
    }

    #[test]
    fn credit_limit_counts_what_is_owed() {
        let terms = Terms {
            credit_limit: Some(eur("1000")),
            ..Terms::default()
        };
        assert!(!above_credit_limit(eur("600"), Some(eur("400")), &terms));
        assert!(above_credit_limit(eur("600"), Some(eur("400.01")), &terms));
        assert!(above_credit_limit(eur("1000.01"), None, &terms));
        let dollars = Money::new("1".parse().unwrap(), "USD".parse().unwrap()).unwrap();
        assert!(
            above_credit_limit(dollars, None, &terms),
            "other currencies cannot be shown to fit"
        );
        assert!(!above_credit_limit(eur("1000000"), None, &Terms::default()));
    }

    #[test]
    fn prepaying_customers_wait_for_a_cleared_payment() {
        let prepay = Terms::default();
        assert!(awaiting_first_payment(&prepay, false));
        assert!(!awaiting_first_payment(&prepay, true));
        let credit = Terms {
            prepayment_required: false,
            ..Terms::default()
        };
        assert!(!awaiting_first_payment(&credit, false));
    }

    #[test]
    fn features_summarize_the_order() {
        let items = [
            item(ProductKind::GpuCapacity, 8, "2.5", "EUR"),
            item(ProductKind::M365, 20, "1", "EUR"),
        ];
        let features = OrderFeatures::compute(&items, None).unwrap();
        assert_eq!(
            features,
            OrderFeatures {
                total: 40.0,
                currency: "EUR".into(),
                max_quantity: 20,
                gpu_quantity: 8,
                has_gpu: true,
                above_credit_limit: false,
                awaiting_first_payment: false,
            }
        );
    }
}
