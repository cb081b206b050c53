//! Velocity: how often something happened recently, over sliding windows the store counts
//! (1 hour, 24 hours, 7 days before the fact being decided, excluding it). The counts are the
//! `velocity` section of the features as they are. The store counts a key's newest
//! [`super::COUNT_CAP`] events at most, so a count at the cap means "at least".

use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::{Deserialize, Serialize, Serializer};

/// Counts per key and window, filled by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VelocityCounts {
    pub signups_ip_1h: u32,
    pub signups_ip_24h: u32,
    pub signups_ip_7d: u32,
    pub signups_device_1h: u32,
    pub signups_device_24h: u32,
    pub signups_device_7d: u32,
    pub signups_email_domain_1h: u32,
    pub signups_email_domain_24h: u32,
    pub signups_email_domain_7d: u32,
    pub payment_methods_customer_24h: u32,
    pub payment_methods_customer_7d: u32,
    pub orders_customer_1h: u32,
    pub orders_customer_24h: u32,
    pub orders_customer_7d: u32,
    /// Value of the customer's orders in the last 24 hours, in the currency of the order being
    /// decided. A number in the features, because CEL has no decimal type.
    #[serde(serialize_with = "as_number")]
    pub order_value_customer_24h: Decimal,
}

/// Money as a CEL double. Rules compare amounts against thresholds; the decision itself keeps
/// the exact decimal.
pub(crate) fn decimal_as_f64(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or(f64::MAX)
}

fn as_number<S: Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(decimal_as_f64(*amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_value_is_a_number_for_cel_and_reads_back() {
        let counts = VelocityCounts {
            orders_customer_24h: 3,
            order_value_customer_24h: "1234.50".parse().unwrap(),
            ..VelocityCounts::default()
        };
        let json = serde_json::to_value(&counts).unwrap();
        assert_eq!(json["order_value_customer_24h"], 1234.5);
        assert_eq!(json["orders_customer_24h"], 3);
        let back: VelocityCounts = serde_json::from_value(json).unwrap();
        assert_eq!(back, counts);
    }
}
