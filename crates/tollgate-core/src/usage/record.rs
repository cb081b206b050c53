//! Usage records: one rated line of cloud consumption (a meter, a resource, a region, an hour or
//! a day, a cost), parsed once at the edge from whatever the vendor or the partner sent.

use std::{collections::HashMap, fmt};

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::{Currency, Money, SubscriptionId, validate, validate::FieldError};

const MAX_ID_LEN: usize = 200;
const MAX_RESOURCE_LEN: usize = 1_000;
const MAX_SHORT_LEN: usize = 100;

/// A meter as the vendor names it, `category/name`: `Virtual Machines/NC24ads A100 v4`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct Meter {
    /// The meter category (`Virtual Machines`, `Storage`, `Bandwidth`…).
    pub category: String,
    /// The meter within its category (`NC24ads A100 v4`).
    pub name: String,
}

impl Meter {
    /// Parses `category/name`; the name may itself contain `/` (`Data Transfer In/Out`), so only
    /// the first one separates.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let (category, name) = text
            .split_once('/')
            .ok_or_else(|| FieldError::new(field, "must be `category/name`"))?;
        Ok(Self {
            category: validate::text(field, category, MAX_SHORT_LEN)?,
            name: validate::text(field, name, MAX_SHORT_LEN)?,
        })
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.category, self.name)
    }
}

/// How a record names its subscription: by Tollgate id or by the vendor's subscription id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionRef {
    Id(SubscriptionId),
    /// The vendor's id (an Azure subscription GUID); the store resolves it.
    Vendor(String),
}

impl SubscriptionRef {
    /// `sub_…` must be a well-formed Tollgate id; anything else is taken as the vendor's id.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let text = validate::text(field, text, MAX_ID_LEN)?;
        if text.starts_with(SubscriptionId::PREFIX)
            && text[SubscriptionId::PREFIX.len()..].starts_with('_')
        {
            text.parse()
                .map(Self::Id)
                .map_err(|e| FieldError::new(field, e))
        } else {
            Ok(Self::Vendor(text))
        }
    }
}

/// A usage record as received (JSON, NDJSON or a mapped vendor CSV row), before validation.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecordInput {
    /// Tollgate subscription id (`sub_…`) or the vendor's subscription id.
    pub subscription: String,
    /// Unique per tenant: re-sending a record with the same id is a no-op.
    pub record_id: String,
    /// `category/name`, e.g. `Virtual Machines/NC24ads A100 v4`.
    pub meter: String,
    pub resource_id: String,
    /// Vendor region name; `West Europe` and `westeurope` are the same region.
    pub region: String,
    #[schema(value_type = String, example = "1.5")]
    pub quantity: Decimal,
    pub unit: String,
    /// Rated cost of the line; sub-minor-unit precision is rounded half-even.
    #[schema(value_type = String, example = "3.67")]
    pub cost: Decimal,
    pub currency: String,
    pub usage_start: DateTime<Utc>,
    pub usage_end: DateTime<Utc>,
}

/// A validated usage record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UsageRecord {
    pub subscription: SubscriptionRef,
    pub record_id: String,
    pub meter: Meter,
    pub resource_id: String,
    /// Normalised: lower case without spaces (`westeurope`).
    pub region: String,
    #[schema(value_type = String)]
    pub quantity: Decimal,
    pub unit: String,
    pub cost: Money,
    pub usage_start: DateTime<Utc>,
    pub usage_end: DateTime<Utc>,
}

impl UsageRecordInput {
    /// Validates every field, reporting all faults at once (field names as in the input).
    pub fn parse(self) -> Result<UsageRecord, Vec<FieldError>> {
        let mut errors = Vec::new();

        let subscription = keep(
            &mut errors,
            SubscriptionRef::parse("subscription", &self.subscription),
        );
        let record_id = keep(
            &mut errors,
            validate::text("record_id", &self.record_id, MAX_ID_LEN),
        );
        let meter = keep(&mut errors, Meter::parse("meter", &self.meter));
        let resource_id = keep(
            &mut errors,
            validate::text("resource_id", &self.resource_id, MAX_RESOURCE_LEN),
        );
        let region = keep(&mut errors, parse_region(&self.region));
        let unit = keep(
            &mut errors,
            validate::text("unit", &self.unit, MAX_SHORT_LEN),
        );
        let quantity = keep(
            &mut errors,
            if self.quantity.is_sign_negative() && !self.quantity.is_zero() {
                Err(FieldError::new("quantity", "must not be negative"))
            } else {
                Ok(self.quantity)
            },
        );
        let cost = keep(&mut errors, parse_cost(self.cost, &self.currency));
        let period = keep(
            &mut errors,
            if self.usage_start < self.usage_end {
                Ok((self.usage_start, self.usage_end))
            } else {
                Err(FieldError::new("usage_end", "must be after usage_start"))
            },
        );

        match (
            subscription,
            record_id,
            meter,
            resource_id,
            region,
            unit,
            quantity,
            cost,
            period,
        ) {
            (
                Some(subscription),
                Some(record_id),
                Some(meter),
                Some(resource_id),
                Some(region),
                Some(unit),
                Some(quantity),
                Some(cost),
                Some((usage_start, usage_end)),
            ) => Ok(UsageRecord {
                subscription,
                record_id,
                meter,
                resource_id,
                region,
                quantity,
                unit,
                cost,
                usage_start,
                usage_end,
            }),
            _ => Err(errors),
        }
    }
}

/// The value, or `None` with its fault recorded: lets a parse report every bad field at once.
fn keep<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

fn parse_region(text: &str) -> Result<String, FieldError> {
    let text = validate::text("region", text, MAX_SHORT_LEN)?;
    Ok(text
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect())
}

/// Credits and refunds are not consumption: accepting negative lines would let a correction
/// silently undo a budget crossing that was already alerted.
fn parse_cost(amount: Decimal, currency: &str) -> Result<Money, FieldError> {
    let currency: Currency = currency
        .parse()
        .map_err(|e| FieldError::new("currency", e))?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(FieldError::new("cost", "must not be negative"));
    }
    // Vendors rate to many decimal places; risk thresholds need no finer than the minor unit,
    // and half-even rounding keeps the sum of many lines unbiased.
    let rounded = amount.round_dp_with_strategy(
        currency.minor_digits(),
        RoundingStrategy::MidpointNearestEven,
    );
    Money::new(rounded, currency).map_err(|e| FieldError::new("cost", e))
}

/// Validates a batch all-or-nothing: either every record is good, or every fault is reported
/// with its position (`[3].cost`). A record id repeated inside the batch is a fault too, since
/// which of the two copies should win is not ours to guess.
pub fn parse_batch(inputs: Vec<UsageRecordInput>) -> Result<Vec<UsageRecord>, Vec<FieldError>> {
    validate::batch_size(inputs.len(), validate::MAX_BATCH, "records", "records")
        .map_err(|e| vec![e])?;
    // Ids are borrowed from the inputs, so finding repeats copies none of them.
    let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(inputs.len());
    let repeats: Vec<Option<usize>> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let first = *first_seen.entry(input.record_id.trim()).or_insert(index);
            (first != index).then_some(first)
        })
        .collect();
    drop(first_seen);
    let mut errors = Vec::new();
    let mut records = Vec::with_capacity(inputs.len());
    for (index, (input, repeat)) in inputs.into_iter().zip(repeats).enumerate() {
        if let Some(first) = repeat {
            errors.push(FieldError::new(
                format!("[{index}].record_id"),
                format_args!("repeats the record_id of record {first}"),
            ));
        }
        match input.parse() {
            Ok(record) => records.push(record),
            Err(faults) => errors.extend(faults.into_iter().map(|f| FieldError {
                field: format!("[{index}].{}", f.field),
                message: f.message,
            })),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(record_id: &str) -> UsageRecordInput {
        UsageRecordInput {
            subscription: "4f0c2a8e-1111-2222-3333-444455556666".into(),
            record_id: record_id.into(),
            meter: "Virtual Machines/NC24ads A100 v4".into(),
            resource_id: "/subscriptions/x/resourceGroups/rg/providers/vm1".into(),
            region: "South East Asia".into(),
            quantity: "1".parse().unwrap(),
            unit: "1 Hour".into(),
            cost: "3.6712".parse().unwrap(),
            currency: "USD".into(),
            usage_start: "2026-03-01T02:00:00Z".parse().unwrap(),
            usage_end: "2026-03-01T03:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn parses_and_normalises_a_good_record() {
        let record = input("r1").parse().unwrap();
        assert_eq!(record.meter.category, "Virtual Machines");
        assert_eq!(record.meter.name, "NC24ads A100 v4");
        assert_eq!(record.meter.to_string(), "Virtual Machines/NC24ads A100 v4");
        assert_eq!(record.region, "southeastasia");
        assert_eq!(record.cost.amount, "3.67".parse::<Decimal>().unwrap());
        assert!(matches!(record.subscription, SubscriptionRef::Vendor(_)));
    }

    #[test]
    fn tollgate_subscription_ids_must_be_well_formed() {
        let id = SubscriptionId::generate();
        let mut good = input("r1");
        good.subscription = id.to_string();
        assert_eq!(good.parse().unwrap().subscription, SubscriptionRef::Id(id));
        let mut bad = input("r1");
        bad.subscription = "sub_nothex".into();
        assert_eq!(bad.parse().unwrap_err()[0].field, "subscription");
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let mut bad = input("r1");
        bad.meter = "no-slash".into();
        bad.quantity = "-1".parse().unwrap();
        bad.cost = "-2".parse().unwrap();
        bad.usage_end = bad.usage_start;
        bad.region = " ".into();
        let fields: Vec<_> = bad
            .parse()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["meter", "region", "quantity", "cost", "usage_end"]);

        let mut bad = input("r1");
        bad.currency = "usd".into();
        assert_eq!(bad.parse().unwrap_err()[0].field, "currency");
    }

    #[test]
    fn zero_quantity_and_cost_are_usage() {
        let mut zero = input("r1");
        zero.quantity = Decimal::ZERO;
        zero.cost = Decimal::ZERO;
        assert!(zero.parse().is_ok());
    }

    #[test]
    fn batch_is_all_or_nothing_with_positions() {
        assert_eq!(parse_batch(vec![input("a"), input("b")]).unwrap().len(), 2);

        let mut bad = input("b");
        bad.unit = String::new();
        let errors = parse_batch(vec![input("a"), bad, input("a")]).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["[1].unit", "[2].record_id"]);
        assert!(errors[1].message.contains("record 0"));
    }

    #[test]
    fn batch_size_is_bounded() {
        assert!(parse_batch(Vec::new()).is_err());
        let many = (0..=validate::MAX_BATCH)
            .map(|i| input(&i.to_string()))
            .collect();
        let errors = parse_batch(many).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("10000"));
    }
}
