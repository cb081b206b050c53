//! Period-end spend forecast: what has been spent, plus the rest of the period at the recent run
//! rate shaped by the day-of-week profile learned from the trailing weeks. The method is
//! described, with its reasons, in `docs/spend-watch.md`.

use std::fmt;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::{Money, money::MoneyError};

/// How many trailing complete days feed the profile (four of each weekday).
const PROFILE_WINDOW_DAYS: u64 = 28;
/// Below two of each weekday a profile is mostly noise: use the flat run rate instead.
const MIN_PROFILE_DAYS: u64 = 14;
/// The run-rate level: the last week, so a customer who doubled last week projects doubled.
const LEVEL_DAYS: u64 = 7;

/// Spend on one calendar day in the tenant's time zone (the per-customer × day aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySpend {
    pub date: NaiveDate,
    pub amount: Decimal,
}

/// Which rule produced the forecast; it is named in the alert text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForecastMethod {
    /// Last week's daily mean shaped by a weekday profile learned over `days` complete days.
    WeekdayProfile { days: u32 },
    /// Mean of the last `days` complete days (under two weeks of history).
    FlatRunRate { days: u32 },
    /// No complete day yet: spend so far divided by the time elapsed in the period.
    ElapsedPace,
}

/// A projection of spend at the end of a period, and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Forecast {
    pub projected: Money,
    pub spent: Money,
    /// Days (fractional) still to come in the period.
    #[schema(value_type = String)]
    pub remaining_days: Decimal,
    /// Mean projected spend per remaining day.
    pub daily_rate: Money,
    pub method: ForecastMethod,
    /// One sentence: what was projected and from what.
    pub explanation: String,
}

/// What a forecast is made from.
#[derive(Debug, Clone, Copy)]
pub struct ForecastInput<'a> {
    /// Spend so far in the period.
    pub spent: Money,
    pub as_of: DateTime<Utc>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Calendar days are the tenant's.
    pub tz: Tz,
    /// Daily spend, any order, may reach before the period; days missing between the first
    /// entry and today count as zero spend, days before the first entry as unknown.
    pub history: &'a [DailySpend],
}

/// Projects spend at `period_end`.
pub fn project(input: &ForecastInput<'_>) -> Result<Forecast, MoneyError> {
    let currency = input.spent.currency;
    let today = input.as_of.with_timezone(&input.tz).date_naive();
    let rate = RunRate::learn(input, today);

    let mut remaining_days = Decimal::ZERO;
    let mut to_come = Decimal::ZERO;
    let mut date = today;
    loop {
        let (day_start, day_end) = local_day(input.tz, date);
        if day_start >= input.period_end {
            break;
        }
        let from = day_start.max(input.as_of);
        let to = day_end.min(input.period_end);
        if to > from {
            // Fractions of the day's true length, so DST days of 23 or 25 hours weigh right.
            let fraction = Decimal::from((to - from).num_seconds())
                / Decimal::from((day_end - day_start).num_seconds().max(1));
            remaining_days += fraction;
            to_come += fraction * rate.on(date);
        }
        date = match date.checked_add_days(Days::new(1)) {
            Some(next) => next,
            None => break,
        };
    }

    let digits = currency.minor_digits();
    let projected = input
        .spent
        .amount
        .checked_add(to_come)
        .ok_or(MoneyError::Overflow)?
        .round_dp(digits);
    let daily_rate = if remaining_days.is_zero() {
        Decimal::ZERO
    } else {
        (to_come / remaining_days).round_dp(digits)
    };
    let projected = Money::new(with_minor_digits(projected, digits), currency)?;
    let daily_rate = Money::new(with_minor_digits(daily_rate, digits), currency)?;
    let explanation = format!(
        "projected {projected} at period end: {spent} spent so far plus {days} remaining days at {how} of {daily_rate}/day",
        spent = input.spent,
        days = remaining_days.round_dp(1),
        how = rate.method,
    );
    Ok(Forecast {
        projected,
        spent: input.spent,
        remaining_days: remaining_days.round_dp(4),
        daily_rate,
        method: rate.method,
        explanation,
    })
}

impl fmt::Display for ForecastMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForecastMethod::WeekdayProfile { days } => write!(
                f,
                "last week's run rate shaped by a weekday profile from the past {days} days"
            ),
            ForecastMethod::FlatRunRate { days } => {
                write!(f, "the flat run rate of the past {days} days")
            }
            ForecastMethod::ElapsedPace => f.write_str("the pace so far this period"),
        }
    }
}

/// The learned spend per day: a level and, with enough history, a factor per weekday.
struct RunRate {
    level: Decimal,
    /// Monday first; all ones without a profile.
    weekday: [Decimal; 7],
    method: ForecastMethod,
}

impl RunRate {
    fn learn(input: &ForecastInput<'_>, today: NaiveDate) -> Self {
        let first_known = input.history.iter().map(|d| d.date).min();
        let window_start = today
            .checked_sub_days(Days::new(PROFILE_WINDOW_DAYS))
            .unwrap_or(today);
        let start = first_known.map_or(today, |first| first.max(window_start));
        let known_days = u64::try_from((today - start).num_days()).unwrap_or(0);

        if known_days == 0 {
            let elapsed = Decimal::from((input.as_of - input.period_start).num_seconds().max(0));
            // An hour's floor keeps a first record at 00:01 from projecting a day's spend ×1440.
            let elapsed_days = elapsed.max(Decimal::from(3600)) / Decimal::from(86_400);
            return Self::flat(
                input.spent.amount / elapsed_days,
                ForecastMethod::ElapsedPace,
            );
        }

        let daily = |from: NaiveDate| -> Vec<(NaiveDate, Decimal)> {
            from.iter_days()
                .take_while(|d| *d < today)
                .map(|d| {
                    let amount = input
                        .history
                        .iter()
                        .filter(|s| s.date == d)
                        .map(|s| s.amount)
                        .sum();
                    (d, amount)
                })
                .collect()
        };
        let level_days = known_days.min(LEVEL_DAYS);
        let recent = daily(today - Days::new(level_days));
        let level = mean(recent.iter().map(|(_, a)| *a));

        if known_days < MIN_PROFILE_DAYS {
            return Self::flat(
                level,
                ForecastMethod::FlatRunRate {
                    days: u32::try_from(level_days).unwrap_or(u32::MAX),
                },
            );
        }
        // Whole weeks only, so every weekday is counted equally often.
        let profile_days = known_days / 7 * 7;
        let window = daily(today - Days::new(profile_days));
        let overall = mean(window.iter().map(|(_, a)| *a));
        let mut weekday = [Decimal::ONE; 7];
        if !overall.is_zero() {
            for (slot, factor) in weekday.iter_mut().enumerate() {
                let same_day = window
                    .iter()
                    .filter(|(d, _)| d.weekday().num_days_from_monday() as usize == slot)
                    .map(|(_, a)| *a);
                *factor = mean(same_day) / overall;
            }
        }
        Self {
            level,
            weekday,
            method: ForecastMethod::WeekdayProfile {
                days: u32::try_from(profile_days).unwrap_or(u32::MAX),
            },
        }
    }

    fn flat(level: Decimal, method: ForecastMethod) -> Self {
        Self {
            level,
            weekday: [Decimal::ONE; 7],
            method,
        }
    }

    fn on(&self, date: NaiveDate) -> Decimal {
        self.level * self.weekday[date.weekday().num_days_from_monday() as usize]
    }
}

/// `50` → `50.00`, so amounts in sentences read as money.
fn with_minor_digits(mut amount: Decimal, digits: u32) -> Decimal {
    amount.rescale(digits);
    amount
}

fn mean(values: impl Iterator<Item = Decimal>) -> Decimal {
    let (sum, n) = values.fold((Decimal::ZERO, 0u32), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        Decimal::ZERO
    } else {
        sum / Decimal::from(n)
    }
}

/// The UTC instants a local calendar day starts and ends. A midnight that a DST jump skips
/// starts the day at the first instant that exists.
pub(crate) fn local_day(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = local_midnight(tz, date);
    let end = date
        .checked_add_days(Days::new(1))
        .map_or(DateTime::<Utc>::MAX_UTC, |next| local_midnight(tz, next));
    (start, end)
}

pub(crate) fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // No zone skips more than a few hours; walk forward to the first local time that exists.
    (0..24)
        .find_map(|h| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: &str) -> Money {
        Money::new(amount.parse().unwrap(), "USD".parse().unwrap()).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn days(from: &str, amounts: &[i64]) -> Vec<DailySpend> {
        let first: NaiveDate = from.parse().unwrap();
        first
            .iter_days()
            .zip(amounts)
            .map(|(date, a)| DailySpend {
                date,
                amount: Decimal::from(*a),
            })
            .collect()
    }

    fn input<'a>(spent: &str, as_of: &str, history: &'a [DailySpend]) -> ForecastInput<'a> {
        ForecastInput {
            spent: usd(spent),
            as_of: at(as_of),
            period_start: at("2026-03-01T00:00:00Z"),
            period_end: at("2026-04-01T00:00:00Z"),
            tz: Tz::UTC,
            history,
        }
    }

    #[test]
    fn flat_run_rate_with_little_history() {
        // Five days of 10/day, at midnight of 6 March: 26 days to come at 10/day.
        let history = days("2026-03-01", &[10, 10, 10, 10, 10]);
        let f = project(&input("50", "2026-03-06T00:00:00Z", &history)).unwrap();
        assert_eq!(f.method, ForecastMethod::FlatRunRate { days: 5 });
        assert_eq!(f.projected, usd("310"));
        assert_eq!(f.remaining_days, Decimal::from(26));
        assert!(f.explanation.contains("310"), "{}", f.explanation);
    }

    #[test]
    fn weekday_profile_weighs_the_remaining_weekdays() {
        // Four weeks (from Monday 2 Feb) of 20 on weekdays and 0 at weekends; as of Monday 2 March
        // the rest of March holds 22 weekdays and 8 weekend days.
        let week = [20, 20, 20, 20, 20, 0, 0];
        let four_weeks: Vec<i64> = week.iter().copied().cycle().take(28).collect();
        let history = days("2026-02-02", &four_weeks);
        let f = project(&input("0", "2026-03-02T00:00:00Z", &history)).unwrap();
        assert_eq!(f.method, ForecastMethod::WeekdayProfile { days: 28 });
        assert_eq!(f.projected, usd("440"));

        // The flat rate would have said 30 days × 100/7.
        let flat = project(&input("0", "2026-03-02T00:00:00Z", &history[14..])).unwrap();
        assert_eq!(flat.method, ForecastMethod::WeekdayProfile { days: 14 });
        let short = project(&input("0", "2026-03-02T00:00:00Z", &history[20..])).unwrap();
        assert_eq!(short.method, ForecastMethod::FlatRunRate { days: 7 });
        assert_eq!(short.projected, usd("428.57"));
    }

    #[test]
    fn cold_start_uses_the_pace_so_far() {
        let f = project(&input("12", "2026-03-01T12:00:00Z", &[])).unwrap();
        assert_eq!(f.method, ForecastMethod::ElapsedPace);
        // 24/day over the remaining 30.5 days.
        assert_eq!(f.projected, usd("744"));
    }

    #[test]
    fn missing_days_after_the_first_count_as_zero() {
        let history = vec![DailySpend {
            date: "2026-03-01".parse().unwrap(),
            amount: Decimal::from(70),
        }];
        let f = project(&input("70", "2026-03-08T00:00:00Z", &history)).unwrap();
        assert_eq!(f.method, ForecastMethod::FlatRunRate { days: 7 });
        assert_eq!(f.daily_rate, usd("10"));
    }

    #[test]
    fn local_days_follow_the_tenant_zone_and_dst() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 29 March 2026: clocks jump 02:00 → 03:00 in Berlin, a 23-hour day.
        let (start, end) = local_day(berlin, "2026-03-29".parse().unwrap());
        assert_eq!(start, at("2026-03-28T23:00:00Z"));
        assert_eq!((end - start).num_hours(), 23);
    }
}
