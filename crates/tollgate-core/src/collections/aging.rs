//! The aging report: open amounts by how long they are past due, per customer and in total,
//! per currency. Amounts in different currencies are never added together.
//!
//! Days past due are calendar days between the due date and the report date, both read in the
//! tenant's time zone: an invoice due at 23:30 UTC on 31 March is due on 1 April in Berlin, and
//! is not yet past due there on 1 April.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::allocation::OpenInvoice;
use crate::{Currency, CustomerId};

str_enum!(
    /// How far past due an amount is.
    AgingBucket {
        /// Not yet past due, or due today.
        Current = "current",
        Days1To30 = "days_1_30",
        Days31To60 = "days_31_60",
        Days61To90 = "days_61_90",
        Over90 = "days_over_90",
    }
);

impl AgingBucket {
    pub fn for_days_past_due(days: i64) -> Self {
        match days {
            ..=0 => AgingBucket::Current,
            1..=30 => AgingBucket::Days1To30,
            31..=60 => AgingBucket::Days31To60,
            61..=90 => AgingBucket::Days61To90,
            _ => AgingBucket::Over90,
        }
    }
}

/// Calendar days from the due date to `today`, both in `tz`; zero or less means not past due.
pub fn days_past_due(due_at: DateTime<Utc>, today: NaiveDate, tz: Tz) -> i64 {
    (today - due_at.with_timezone(&tz).date_naive()).num_days()
}

/// Open amounts of one currency by bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Buckets {
    #[schema(value_type = String)]
    pub current: Decimal,
    #[schema(value_type = String)]
    pub days_1_30: Decimal,
    #[schema(value_type = String)]
    pub days_31_60: Decimal,
    #[schema(value_type = String)]
    pub days_61_90: Decimal,
    #[schema(value_type = String)]
    pub days_over_90: Decimal,
    #[schema(value_type = String)]
    pub total: Decimal,
}

impl Buckets {
    fn add(&mut self, bucket: AgingBucket, amount: Decimal) {
        let slot = match bucket {
            AgingBucket::Current => &mut self.current,
            AgingBucket::Days1To30 => &mut self.days_1_30,
            AgingBucket::Days31To60 => &mut self.days_31_60,
            AgingBucket::Days61To90 => &mut self.days_61_90,
            AgingBucket::Over90 => &mut self.days_over_90,
        };
        *slot += amount;
        self.total += amount;
    }

    /// The amount in one bucket.
    pub fn get(&self, bucket: AgingBucket) -> Decimal {
        match bucket {
            AgingBucket::Current => self.current,
            AgingBucket::Days1To30 => self.days_1_30,
            AgingBucket::Days31To60 => self.days_31_60,
            AgingBucket::Days61To90 => self.days_61_90,
            AgingBucket::Over90 => self.days_over_90,
        }
    }
}

/// One customer's open amounts in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CustomerAging {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub buckets: Buckets,
}

/// All customers' open amounts in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CurrencyAging {
    pub currency: Currency,
    pub buckets: Buckets,
}

/// The aging report as of a date in the tenant's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgingReport {
    pub as_of: NaiveDate,
    /// Sorted by customer, then currency.
    pub customers: Vec<CustomerAging>,
    /// One row per currency, sorted by currency code.
    pub totals: Vec<CurrencyAging>,
}

/// Buckets `open_items` (any customers, any currencies) as of `as_of` in `tz`. Items with
/// nothing open are skipped.
pub fn aging(open_items: &[OpenInvoice], as_of: NaiveDate, tz: Tz) -> AgingReport {
    let mut customers: BTreeMap<(CustomerId, Currency), Buckets> = BTreeMap::new();
    let mut totals: BTreeMap<Currency, Buckets> = BTreeMap::new();
    for item in open_items.iter().filter(|i| i.open.amount > Decimal::ZERO) {
        let bucket = AgingBucket::for_days_past_due(days_past_due(item.due_at, as_of, tz));
        let currency = item.open.currency;
        customers
            .entry((item.customer_id, currency))
            .or_default()
            .add(bucket, item.open.amount);
        totals
            .entry(currency)
            .or_default()
            .add(bucket, item.open.amount);
    }
    AgingReport {
        as_of,
        customers: customers
            .into_iter()
            .map(|((customer_id, currency), buckets)| CustomerAging {
                customer_id,
                currency,
                buckets,
            })
            .collect(),
        totals: totals
            .into_iter()
            .map(|(currency, buckets)| CurrencyAging { currency, buckets })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InvoiceId, Money};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn item(customer: u128, due_at: &str, cents: i64, currency: &str) -> OpenInvoice {
        OpenInvoice {
            invoice_id: InvoiceId::generate(),
            number: "INV".into(),
            customer_id: CustomerId::from_uuid(uuid::Uuid::from_u128(customer)),
            issued_at: "2025-01-01T00:00:00Z".parse().unwrap(),
            due_at: due_at.parse().unwrap(),
            open: Money::from_minor(cents, currency.parse().unwrap()),
            subscription_ids: Vec::new(),
        }
    }

    #[test]
    fn bucket_edges() {
        use AgingBucket::*;
        let cases = [
            (-3, Current),
            (0, Current),
            (1, Days1To30),
            (30, Days1To30),
            (31, Days31To60),
        ];
        for (days, bucket) in cases.into_iter().chain([
            (60, Days31To60),
            (61, Days61To90),
            (90, Days61To90),
            (91, Over90),
        ]) {
            assert_eq!(AgingBucket::for_days_past_due(days), bucket, "{days}");
        }
    }

    #[test]
    fn counts_calendar_days_across_month_ends() {
        let utc = chrono_tz::UTC;
        // January has 31 days, February 2026 has 28.
        assert_eq!(
            days_past_due(
                "2026-01-31T10:00:00Z".parse().unwrap(),
                date("2026-03-02"),
                utc
            ),
            30
        );
        assert_eq!(
            days_past_due(
                "2026-01-31T10:00:00Z".parse().unwrap(),
                date("2026-03-03"),
                utc
            ),
            31
        );
        assert_eq!(
            days_past_due(
                "2026-02-28T10:00:00Z".parse().unwrap(),
                date("2026-03-01"),
                utc
            ),
            1
        );
        assert_eq!(
            days_past_due(
                "2025-12-31T10:00:00Z".parse().unwrap(),
                date("2026-01-01"),
                utc
            ),
            1
        );
    }

    #[test]
    fn reads_dates_in_the_tenant_time_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let due = "2026-03-31T23:30:00Z".parse().unwrap();
        // 1 April 01:30 in Berlin: due on 1 April there, on 31 March in UTC.
        assert_eq!(days_past_due(due, date("2026-04-01"), berlin), 0);
        assert_eq!(days_past_due(due, date("2026-04-01"), chrono_tz::UTC), 1);
        // West of UTC the local date can be the day before.
        let los_angeles: Tz = "America/Los_Angeles".parse().unwrap();
        let due = "2026-05-01T03:00:00Z".parse().unwrap();
        assert_eq!(days_past_due(due, date("2026-05-01"), los_angeles), 1);
    }

    #[test]
    fn daylight_saving_changes_do_not_shift_day_counts() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Clocks go forward on 29 March 2026 and back on 25 October 2026: a 23-hour and a
        // 25-hour day each still count as one day.
        let due = "2026-03-28T22:30:00Z".parse().unwrap(); // 23:30 on 28 March, CET
        assert_eq!(days_past_due(due, date("2026-03-30"), berlin), 2);
        let due = "2026-10-24T22:30:00Z".parse().unwrap(); // 00:30 on 25 October, CEST
        assert_eq!(days_past_due(due, date("2026-10-26"), berlin), 1);
        let new_york: Tz = "America/New_York".parse().unwrap();
        let due = "2026-03-08T04:30:00Z".parse().unwrap(); // 23:30 on 7 March, EST
        assert_eq!(days_past_due(due, date("2026-03-09"), new_york), 2);
    }

    #[test]
    fn groups_per_customer_and_currency_without_mixing_currencies() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let items = [
            item(1, "2026-04-30T10:00:00Z", 10000, "EUR"), // current
            item(1, "2026-03-31T10:00:00Z", 2000, "EUR"),  // 30 days
            item(1, "2026-03-01T10:00:00Z", 3000, "EUR"),  // 60 days
            item(1, "2026-01-30T10:00:00Z", 4000, "EUR"),  // 90 days
            item(2, "2026-01-29T10:00:00Z", 5000, "EUR"),  // 91 days
            item(2, "2026-04-29T10:00:00Z", 700, "USD"),   // 1 day
            item(2, "2026-04-01T22:30:00Z", 0, "USD"),     // nothing open
        ];
        let report = aging(&items, date("2026-04-30"), berlin);
        assert_eq!(report.customers.len(), 3);
        let first = &report.customers[0].buckets;
        assert_eq!(first.current, Decimal::from(100));
        assert_eq!(first.days_1_30, Decimal::from(20));
        assert_eq!(first.days_31_60, Decimal::from(30));
        assert_eq!(first.days_61_90, Decimal::from(40));
        assert_eq!(first.total, Decimal::from(190));
        let eur = &report.totals[0];
        assert_eq!(eur.currency.code(), "EUR");
        assert_eq!(eur.buckets.get(AgingBucket::Over90), Decimal::from(50));
        assert_eq!(eur.buckets.total, Decimal::from(240));
        let usd = &report.totals[1];
        assert_eq!(
            (usd.currency.code(), usd.buckets.days_1_30),
            ("USD", Decimal::from(7))
        );
        assert_eq!(usd.buckets.total, Decimal::from(7));
    }
}
