//! Budgets: an amount per period for a customer or a subscription, with thresholds on actual or
//! forecast spend. Deciding which thresholds a new spend total crosses is a pure function of the
//! budget, the spend, and what was already alerted this period — so a threshold alerts exactly
//! once per period even when one batch jumps over several.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    forecast::{self, DailySpend, Forecast, ForecastInput},
    record::Meter,
};
use crate::{CustomerId, Money, SubscriptionId, money::MoneyError, validate::FieldError};

/// Highest threshold percent accepted: alerting at 10× the budget is still meaningful.
const MAX_PERCENT: u16 = 1_000;
const MAX_THRESHOLDS: usize = 20;

/// Whose spend a budget watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BudgetScope {
    Customer { customer_id: CustomerId },
    Subscription { subscription_id: SubscriptionId },
}

/// Restricts a budget to one meter category, optionally to one meter in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterFilter {
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl MeterFilter {
    /// Case-insensitive, since exports differ in capitalisation of the same meter.
    pub fn matches(&self, meter: &Meter) -> bool {
        self.category.eq_ignore_ascii_case(&meter.category)
            && self
                .name
                .as_ref()
                .is_none_or(|n| n.eq_ignore_ascii_case(&meter.name))
    }
}

/// The period a budget's amount applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BudgetPeriod {
    /// The calendar month in the tenant's time zone.
    Monthly,
    /// One fixed window, `start` inclusive, `end` exclusive.
    Custom {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

str_enum!(
    /// What a threshold compares: spend so far, or the period-end forecast.
    ThresholdBasis {
        Actual = "actual",
        Forecast = "forecast",
    }
);

str_enum!(
    /// What crossing a threshold asks for.
    ThresholdAction {
        Notify = "notify",
        /// Notify and open a review for an analyst.
        NotifyAndReview = "notify_and_review",
        /// Suspend the scope's subscriptions (through the action outbox).
        Suspend = "suspend",
    }
);

/// One threshold of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Percent of the budget amount, 1–1000.
    pub percent: u16,
    pub basis: ThresholdBasis,
    pub action: ThresholdAction,
}

/// A budget as submitted, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    pub scope: BudgetScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_filter: Option<MeterFilter>,
    pub amount: Money,
    pub period: BudgetPeriod,
    pub thresholds: Vec<Threshold>,
}

/// A validated budget: positive amount, a sane period, distinct thresholds sorted by percent.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Budget(BudgetSpec);

/// The window a budget's spend is summed over, and the key alerts are deduplicated under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub struct PeriodWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `2026-03` for a month; the start date for a custom period.
    pub key: String,
}

/// A threshold already alerted in a period: what the store remembers to avoid repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AlertedThreshold {
    pub period_key: String,
    pub percent: u16,
    pub basis: ThresholdBasis,
}

/// A threshold newly crossed, with what was compared and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ThresholdCrossing {
    pub period: PeriodWindow,
    pub threshold: Threshold,
    /// The budget amount × percent.
    pub threshold_amount: Money,
    /// Spend so far, or the forecast, whichever the basis names.
    pub observed: Money,
    pub spent: Money,
    /// Present for forecast thresholds: what was projected and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// One sentence for the alert.
    pub reason: String,
}

impl ThresholdCrossing {
    /// The key under which the store records this crossing.
    pub fn alerted(&self) -> AlertedThreshold {
        AlertedThreshold {
            period_key: self.period.key.clone(),
            percent: self.threshold.percent,
            basis: self.threshold.basis,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("the budget is in {budget} but the spend is in {spend}")]
    CurrencyMismatch {
        budget: crate::Currency,
        spend: crate::Currency,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl BudgetSpec {
    /// Checks the spec, reporting every fault with its field.
    pub fn parse(mut self) -> Result<Budget, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.amount.amount <= Decimal::ZERO {
            errors.push(FieldError::new("amount", "must be positive"));
        }
        if let BudgetPeriod::Custom { start, end } = self.period
            && start >= end
        {
            errors.push(FieldError::new("period.end", "must be after period.start"));
        }
        if let Some(filter) = &self.meter_filter
            && filter.category.trim().is_empty()
        {
            errors.push(FieldError::new(
                "meter_filter.category",
                "must not be empty",
            ));
        }
        if self.thresholds.is_empty() || self.thresholds.len() > MAX_THRESHOLDS {
            errors.push(FieldError::new(
                "thresholds",
                format_args!("must hold 1 to {MAX_THRESHOLDS} thresholds"),
            ));
        }
        let mut seen = HashSet::new();
        for (i, t) in self.thresholds.iter().enumerate() {
            if t.percent == 0 || t.percent > MAX_PERCENT {
                errors.push(FieldError::new(
                    format!("thresholds[{i}].percent"),
                    format_args!("must be 1 to {MAX_PERCENT}"),
                ));
            }
            if !seen.insert((t.percent, t.basis)) {
                errors.push(FieldError::new(
                    format!("thresholds[{i}]"),
                    "repeats the percent and basis of an earlier threshold",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.thresholds
            .sort_by_key(|t| (t.percent, t.basis.as_str()));
        Ok(Budget(self))
    }
}

impl Budget {
    /// The customer's `monthly_spend_limit` from its terms, read as a budget: a heads-up when
    /// the month is forecast to pass it, a notice at 80 %, a review once it is reached.
    pub fn implicit_monthly(
        customer_id: CustomerId,
        limit: Money,
    ) -> Result<Budget, Vec<FieldError>> {
        use {ThresholdAction::*, ThresholdBasis::*};
        let t = |percent, basis, action| Threshold {
            percent,
            basis,
            action,
        };
        BudgetSpec {
            scope: BudgetScope::Customer { customer_id },
            meter_filter: None,
            amount: limit,
            period: BudgetPeriod::Monthly,
            thresholds: vec![
                t(80, Actual, Notify),
                t(100, Actual, NotifyAndReview),
                t(100, Forecast, Notify),
            ],
        }
        .parse()
    }

    pub fn spec(&self) -> &BudgetSpec {
        &self.0
    }

    /// The period containing `at`; `None` when a custom period does not contain it.
    pub fn period_at(&self, at: DateTime<Utc>, tz: Tz) -> Option<PeriodWindow> {
        match self.0.period {
            BudgetPeriod::Custom { start, end } => {
                (start <= at && at < end).then(|| PeriodWindow {
                    start,
                    end,
                    key: start.format("%Y-%m-%d").to_string(),
                })
            }
            BudgetPeriod::Monthly => {
                let local = at.with_timezone(&tz).date_naive();
                let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)?;
                let next = first.checked_add_months(Months::new(1))?;
                Some(PeriodWindow {
                    start: forecast::local_midnight(tz, first),
                    end: forecast::local_midnight(tz, next),
                    key: first.format("%Y-%m").to_string(),
                })
            }
        }
    }

    /// The thresholds that `spent` (and its forecast) cross in `period` and that are not in
    /// `alerted` yet, lowest first. Entries of `alerted` from other periods are ignored, which
    /// is what makes a new period start afresh.
    pub fn new_crossings(
        &self,
        period: &PeriodWindow,
        spend: &SpendSnapshot<'_>,
        alerted: &HashSet<AlertedThreshold>,
    ) -> Result<Vec<ThresholdCrossing>, BudgetError> {
        let amount = self.0.amount;
        if spend.spent.currency != amount.currency {
            return Err(BudgetError::CurrencyMismatch {
                budget: amount.currency,
                spend: spend.spent.currency,
            });
        }
        let pending: Vec<Threshold> = self
            .0
            .thresholds
            .iter()
            .copied()
            .filter(|t| {
                !alerted.contains(&AlertedThreshold {
                    period_key: period.key.clone(),
                    percent: t.percent,
                    basis: t.basis,
                })
            })
            .collect();
        let forecast = if pending.iter().any(|t| t.basis == ThresholdBasis::Forecast) {
            Some(forecast::project(&ForecastInput {
                spent: spend.spent,
                as_of: spend.as_of,
                period_start: period.start,
                period_end: period.end,
                tz: spend.tz,
                history: spend.daily,
            })?)
        } else {
            None
        };

        let mut crossings = Vec::new();
        for threshold in pending {
            let limit = amount
                .amount
                .checked_mul(Decimal::from(threshold.percent))
                .ok_or(MoneyError::Overflow)?
                / Decimal::ONE_HUNDRED;
            let threshold_amount = Money::new(
                limit.round_dp(amount.currency.minor_digits()),
                amount.currency,
            )?;
            let (observed, used) = match (threshold.basis, &forecast) {
                (ThresholdBasis::Forecast, Some(f)) => (f.projected, Some(f.clone())),
                _ => (spend.spent, None),
            };
            if observed.amount < threshold_amount.amount {
                continue;
            }
            let reason = match &used {
                Some(f) => format!(
                    "Forecast spend for {key} reaches {pct}% of the {amount} budget ({threshold_amount}): {why}.",
                    key = period.key,
                    pct = threshold.percent,
                    why = f.explanation,
                ),
                None => format!(
                    "Spend of {observed} for {key} reached {pct}% of the {amount} budget ({threshold_amount}).",
                    key = period.key,
                    pct = threshold.percent,
                ),
            };
            crossings.push(ThresholdCrossing {
                period: period.clone(),
                threshold,
                threshold_amount,
                observed,
                spent: spend.spent,
                forecast: used,
                reason,
            });
        }
        Ok(crossings)
    }
}

/// The spend a budget is checked against.
#[derive(Debug, Clone, Copy)]
pub struct SpendSnapshot<'a> {
    /// Spend in the period so far (after the batch just ingested).
    pub spent: Money,
    pub as_of: DateTime<Utc>,
    /// The tenant's time zone: calendar days of the forecast.
    pub tz: Tz,
    /// Daily spend in scope for the forecast (the trailing weeks, may reach before the period).
    pub daily: &'a [DailySpend],
}

#[cfg(test)]
mod tests {
    use super::*;
    use ThresholdAction::*;
    use ThresholdBasis::*;

    fn eur(amount: i64) -> Money {
        Money::new(Decimal::from(amount), "EUR".parse().unwrap()).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn budget(thresholds: Vec<Threshold>) -> Budget {
        BudgetSpec {
            scope: BudgetScope::Customer {
                customer_id: CustomerId::generate(),
            },
            meter_filter: None,
            amount: eur(1000),
            period: BudgetPeriod::Monthly,
            thresholds,
        }
        .parse()
        .unwrap()
    }

    fn t(percent: u16, basis: ThresholdBasis, action: ThresholdAction) -> Threshold {
        Threshold {
            percent,
            basis,
            action,
        }
    }

    fn check(
        b: &Budget,
        spent: i64,
        as_of: &str,
        daily: &[DailySpend],
        alerted: &mut HashSet<AlertedThreshold>,
    ) -> Vec<ThresholdCrossing> {
        let as_of = at(as_of);
        let period = b.period_at(as_of, Tz::UTC).unwrap();
        let snapshot = SpendSnapshot {
            spent: eur(spent),
            as_of,
            tz: Tz::UTC,
            daily,
        };
        let crossings = b.new_crossings(&period, &snapshot, alerted).unwrap();
        alerted.extend(crossings.iter().map(ThresholdCrossing::alerted));
        crossings
    }

    #[test]
    fn monthly_period_is_the_tenant_calendar_month() {
        let b = budget(vec![t(100, Actual, Notify)]);
        // 23:30 UTC on 31 March is already April in Berlin (UTC+2 in summer time)…
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let p = b.period_at(at("2026-03-31T23:30:00Z"), berlin).unwrap();
        assert_eq!(p.key, "2026-04");
        assert_eq!(p.start, at("2026-03-31T22:00:00Z"));
        assert_eq!(p.end, at("2026-04-30T22:00:00Z"));
        // …and 03:00 UTC on 1 March is still February in New York.
        let ny: Tz = "America/New_York".parse().unwrap();
        let p = b.period_at(at("2026-03-01T03:00:00Z"), ny).unwrap();
        assert_eq!(p.key, "2026-02");
        assert_eq!(p.end, at("2026-03-01T05:00:00Z"));
        // December rolls into the next year; February of a leap year has 29 days.
        let p = b.period_at(at("2028-12-31T12:00:00Z"), Tz::UTC).unwrap();
        assert_eq!(p.end, at("2029-01-01T00:00:00Z"));
        let p = b.period_at(at("2028-02-10T00:00:00Z"), Tz::UTC).unwrap();
        assert_eq!(p.end, at("2028-03-01T00:00:00Z"));
    }

    #[test]
    fn custom_period_contains_only_its_window() {
        let mut spec = budget(vec![t(50, Actual, Notify)]).spec().clone();
        spec.period = BudgetPeriod::Custom {
            start: at("2026-03-10T00:00:00Z"),
            end: at("2026-03-20T00:00:00Z"),
        };
        let b = spec.parse().unwrap();
        assert_eq!(
            b.period_at(at("2026-03-15T00:00:00Z"), Tz::UTC)
                .unwrap()
                .key,
            "2026-03-10"
        );
        assert!(b.period_at(at("2026-03-20T00:00:00Z"), Tz::UTC).is_none());
    }

    #[test]
    fn one_batch_crossing_three_thresholds_alerts_each_once() {
        let b = budget(vec![
            t(100, Actual, Suspend),
            t(50, Actual, Notify),
            t(80, Actual, NotifyAndReview),
        ]);
        let mut alerted = HashSet::new();
        assert!(check(&b, 400, "2026-03-10T00:00:00Z", &[], &mut alerted).is_empty());
        let crossed = check(&b, 1_050, "2026-03-10T01:00:00Z", &[], &mut alerted);
        let percents: Vec<_> = crossed.iter().map(|c| c.threshold.percent).collect();
        assert_eq!(percents, [50, 80, 100]);
        assert_eq!(crossed[2].threshold.action, Suspend);
        assert_eq!(crossed[2].threshold_amount, eur(1000));
        assert!(
            crossed[2].reason.contains("reached 100%"),
            "{}",
            crossed[2].reason
        );
        // More spend in the same month repeats nothing.
        assert!(check(&b, 2_000, "2026-03-20T00:00:00Z", &[], &mut alerted).is_empty());
        // A new month starts afresh.
        let april = check(&b, 600, "2026-04-02T00:00:00Z", &[], &mut alerted);
        assert_eq!(april.len(), 1);
        assert_eq!(april[0].period.key, "2026-04");
    }

    #[test]
    fn forecast_threshold_fires_before_actual() {
        let b = budget(vec![t(100, Forecast, Notify), t(100, Actual, Suspend)]);
        let daily: Vec<DailySpend> = "2026-03-01"
            .parse::<NaiveDate>()
            .unwrap()
            .iter_days()
            .take(9)
            .map(|date| DailySpend {
                date,
                amount: Decimal::from(50),
            })
            .collect();
        let mut alerted = HashSet::new();
        // 450 spent by 10 March at 50/day projects 1,550 for the month.
        let crossed = check(&b, 450, "2026-03-10T00:00:00Z", &daily, &mut alerted);
        assert_eq!(crossed.len(), 1);
        let c = &crossed[0];
        assert_eq!(c.threshold.basis, Forecast);
        assert_eq!(c.observed, eur(1550));
        assert!(c.reason.contains("projected 1550"), "{}", c.reason);
        assert!(c.reason.contains("50.00 EUR/day"), "{}", c.reason);
        let later = check(&b, 1_000, "2026-03-20T00:00:00Z", &daily, &mut alerted);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].threshold.basis, Actual);
    }

    #[test]
    fn refuses_bad_specs_and_other_currencies() {
        let mut spec = budget(vec![t(50, Actual, Notify)]).spec().clone();
        spec.amount = eur(0);
        spec.thresholds = vec![
            t(0, Actual, Notify),
            t(80, Forecast, Notify),
            t(80, Forecast, Suspend),
        ];
        let fields: Vec<_> = spec
            .parse()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["amount", "thresholds[0].percent", "thresholds[2]"]);

        let b = budget(vec![t(50, Actual, Notify)]);
        let period = b.period_at(at("2026-03-10T00:00:00Z"), Tz::UTC).unwrap();
        let usd = Money::zero("USD".parse().unwrap());
        let snapshot = SpendSnapshot {
            spent: usd,
            as_of: period.start,
            tz: Tz::UTC,
            daily: &[],
        };
        assert!(matches!(
            b.new_crossings(&period, &snapshot, &HashSet::new()),
            Err(BudgetError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn implicit_budget_from_terms() {
        let b = Budget::implicit_monthly(CustomerId::generate(), eur(500)).unwrap();
        assert_eq!(b.spec().thresholds.len(), 3);
        assert_eq!(b.spec().period, BudgetPeriod::Monthly);
        let filter = MeterFilter {
            category: "virtual machines".into(),
            name: None,
        };
        assert!(filter.matches(&Meter::parse("m", "Virtual Machines/D2s v5").unwrap()));
        assert!(!filter.matches(&Meter::parse("m", "Storage/LRS").unwrap()));
    }
}
