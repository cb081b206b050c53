//! The aging report: open amounts by how long they are past due, per customer and in total,
//! per currency. Amounts in different currencies are never added together.
//!
//! Days past due are calendar days between the due date and the report date, both read in the
//! tenant's time zone: an invoice due at 23:30 UTC on 31 March is due on 1 April in Berlin, and
//! is not yet past due there on 1 April.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
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

/// The first instant of `day` in `tz`. Usually local midnight; where a daylight-saving change
/// skips midnight (some zones move clocks at 00:00), the first local time that exists.
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    (0..=2)
        .find_map(|hours| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(hours)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |at| at.with_timezone(&Utc))
}

/// The instants that separate the buckets as of `as_of` in `tz`, newest first: an amount due
/// at or after `edges[0]` is current, one due before `edges[0]` but at or after `edges[1]` is
/// 1–30 days past due, and so on; anything due before `edges[3]` is over 90. Lets a database
/// sum the buckets by comparing due instants, with the same answer as [`days_past_due`].
pub fn bucket_edges(as_of: NaiveDate, tz: Tz) -> [DateTime<Utc>; 4] {
    [0, 30, 60, 90].map(|days| start_of_day(as_of - chrono::Duration::days(days), tz))
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
    /// Buckets from their amounts, oldest last: current, 1–30, 31–60, 61–90, over 90.
    pub fn from_amounts(amounts: [Decimal; 5]) -> Self {
        let [current, days_1_30, days_31_60, days_61_90, days_over_90] = amounts;
        Buckets {
            current,
            days_1_30,
            days_31_60,
            days_61_90,
            days_over_90,
            total: amounts.iter().sum(),
        }
    }

    fn merge(&mut self, other: &Buckets) {
        self.current += other.current;
        self.days_1_30 += other.days_1_30;
        self.days_31_60 += other.days_31_60;
        self.days_61_90 += other.days_61_90;
        self.days_over_90 += other.days_over_90;
        self.total += other.total;
    }

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

impl AgingReport {
    /// The report from per-customer rows (any order, one per customer and currency), adding
    /// up the per-currency totals. The store sums the buckets in SQL and hands them here.
    pub fn from_customers(as_of: NaiveDate, mut customers: Vec<CustomerAging>) -> Self {
        customers.retain(|c| c.buckets.total > Decimal::ZERO);
        customers.sort_by_key(|c| (c.customer_id, c.currency));
        let mut totals: BTreeMap<Currency, Buckets> = BTreeMap::new();
        for c in &customers {
            totals.entry(c.currency).or_default().merge(&c.buckets);
        }
        AgingReport {
            as_of,
            customers,
            totals: totals
                .into_iter()
                .map(|(currency, buckets)| CurrencyAging { currency, buckets })
                .collect(),
        }
    }
}

/// Buckets `open_items` (any customers, any currencies) as of `as_of` in `tz`. Items with
/// nothing open are skipped.
pub fn aging(open_items: &[OpenInvoice], as_of: NaiveDate, tz: Tz) -> AgingReport {
    let mut customers: BTreeMap<(CustomerId, Currency), Buckets> = BTreeMap::new();
    for item in open_items.iter().filter(|i| i.open.amount > Decimal::ZERO) {
        let bucket = AgingBucket::for_days_past_due(days_past_due(item.due_at, as_of, tz));
        customers
            .entry((item.customer_id, item.open.currency))
            .or_default()
            .add(bucket, item.open.amount);
    }
    let customers = customers
        .into_iter()
        .map(|((customer_id, currency), buckets)| CustomerAging {
            customer_id,
            currency,
            buckets,
        })
        .collect();
    AgingReport::from_customers(as_of, customers)
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
    fn buckets_by_days_past_due() {
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

    /// Bucketing by comparing due instants with `bucket_edges` (what the store does in SQL)
    /// gives the same bucket as counting calendar days, hour by hour over a year, in zones
    /// east and west of UTC and in one whose clocks skip midnight.
    #[test]
    fn bucket_edges_agree_with_days_past_due() {
        let zones: [Tz; 4] = [
            chrono_tz::UTC,
            "Europe/Berlin".parse().unwrap(),
            "America/Los_Angeles".parse().unwrap(),
            // Clocks went from 00:00 to 01:00 on 2022-09-11 in Santiago.
            "America/Santiago".parse().unwrap(),
        ];
        for tz in zones {
            for as_of in [date("2022-09-12"), date("2022-12-10"), date("2026-03-30")] {
                let edges = bucket_edges(as_of, tz);
                let start = start_of_day(as_of - chrono::Duration::days(120), tz);
                for hour in 0..24 * 130 {
                    let due = start + chrono::Duration::hours(hour);
                    let by_days = AgingBucket::for_days_past_due(days_past_due(due, as_of, tz));
                    let by_edges = match edges.iter().position(|edge| due >= *edge) {
                        Some(0) => AgingBucket::Current,
                        Some(1) => AgingBucket::Days1To30,
                        Some(2) => AgingBucket::Days31To60,
                        Some(3) => AgingBucket::Days61To90,
                        _ => AgingBucket::Over90,
                    };
                    assert_eq!(by_edges, by_days, "{tz} as of {as_of}, due {due}");
                }
            }
        }
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let day = start_of_day(date("2022-09-11"), santiago);
        assert_eq!(
            day.with_timezone(&santiago).date_naive(),
            date("2022-09-11")
        );
        assert_eq!(day.to_rfc3339(), "2022-09-11T04:00:00+00:00");
    }

    #[test]
    fn report_from_summed_rows_matches_the_item_by_item_report() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let items = [
            item(2, "2026-04-30T10:00:00Z", 10000, "EUR"),
            item(1, "2026-03-31T10:00:00Z", 2000, "EUR"),
            item(1, "2026-01-01T10:00:00Z", 3000, "USD"),
            item(1, "2026-03-01T10:00:00Z", 500, "EUR"),
        ];
        let as_of = date("2026-04-30");
        let expected = aging(&items, as_of, berlin);
        let rows = expected.customers.iter().rev().cloned().collect();
        assert_eq!(AgingReport::from_customers(as_of, rows), expected);
        assert_eq!(
            Buckets::from_amounts([1, 2, 3, 4, 5].map(Decimal::from)).total,
            Decimal::from(15)
        );
    }
}
