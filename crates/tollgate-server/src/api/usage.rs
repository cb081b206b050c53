//! `POST /v1/usage`: a batch of rated usage records. The batch is validated whole before anything
//! is written; new records update the aggregates, every touched hourly series is scored by the
//! anomaly detector, and the budgets watching the touched customers and subscriptions are
//! checked — all in one transaction, so the answer lists every alert the batch raised.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tollgate_core::{
    CustomerId, SubscriptionId, TenantId,
    customers::Customer,
    usage::{
        ColdStartPrior, Detector, DetectorConfig, DetectorError, Meter, MeterClass, Observation,
        SeriesState, Signal, SubscriptionHistory, SubscriptionRef, UsageRecord, UsageRecordInput,
        assess, classify, parse_batch, signals,
    },
    validate::FieldError,
};
use tollgate_store::{HourlyUsage, PeriodUsage, Tx, UsageRow};
use utoipa::ToSchema;

use super::{
    alerts::{self, AlertOut, NewAlert},
    budgets,
};
use crate::{
    ctx::{Acting, Ctx, WriteFacts, audit_as},
    error::{ApiError, ApiResult},
    json::Batch,
};

/// How far back a new series looks for other subscriptions' use of the same meter.
const POPULATION_DAYS: i64 = 7;
const POPULATION_SAMPLE: u32 = 1_000;
const CLASS: &str = "class";
const REGION: &str = "region";

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestOut {
    /// Records written by this batch.
    pub accepted: u32,
    /// Records whose `record_id` was already stored: ignored.
    pub duplicates: u32,
    /// Alerts the batch raised (budget thresholds and usage anomalies).
    pub alerts: Vec<AlertOut>,
}

/// A subscription × meter hourly series in one currency, and the regions each touched hour saw.
type Series<'a> =
    BTreeMap<(SubscriptionId, &'a str, &'a str), BTreeMap<DateTime<Utc>, BTreeSet<&'a str>>>;

/// An hourly bucket: subscription, meter, hour, currency.
type HourKey = (SubscriptionId, String, DateTime<Utc>, String);

/// A day or month bucket: scope (customer or subscription id), local period, currency.
type PeriodKey = (String, String, String);

/// What one record adds to: an hour of a series, split by the record's local day (an hour
/// straddles two local days in a time zone with a half-hour offset).
type Bucket<'a> = (SubscriptionId, &'a str, DateTime<Utc>, &'a str, NaiveDate);

/// Ingest usage records.
#[utoipa::path(post, path = "/v1/usage", tag = "spend watch",
    request_body(content(
        (Vec<UsageRecordInput> = "application/json"),
        (UsageRecordInput = "application/x-ndjson"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = IngestOut), (status = 422, body = crate::error::Problem)))]
pub async fn ingest(
    ctx: Ctx<WriteFacts>,
    Batch(inputs): Batch<UsageRecordInput>,
) -> ApiResult<Response> {
    let records = parse_batch(inputs).map_err(ApiError::Invalid)?;
    let batch = Resolved::read(&mut ctx.read().await?, ctx.tenant(), &records).await?;
    let mut tx = ctx.begin().await?;
    let out = ingest_records(&ctx, &mut tx, &batch).await?;
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// A batch checked against the store: every record's subscription and owner, its cost in minor
/// units, the owners themselves and the tenant's time zone. Only reads, so it runs on a read
/// connection before the write transaction; on SQLite that keeps it out of the one writer's
/// queue (a batch of a whole export spans hundreds of customers). Subscriptions are never
/// deleted, and the insert's foreign key stands guard all the same. An owner's terms changed
/// by a request racing the batch apply from the next batch on, as a decision is made on
/// committed state (docs/architecture.md).
pub struct Resolved<'a> {
    rows: Vec<UsageRow<'a>>,
    owners: Vec<CustomerId>,
    customers: HashMap<CustomerId, Customer>,
    tz: Tz,
}

impl<'a> Resolved<'a> {
    /// Faults are `[i].field`, reported before anything is written.
    pub async fn read(
        tx: &mut Tx,
        tenant: TenantId,
        records: &'a [UsageRecord],
    ) -> ApiResult<Resolved<'a>> {
        let (rows, owners): (Vec<_>, Vec<CustomerId>) =
            resolve(tx, tenant, records).await?.into_iter().unzip();
        let distinct: Vec<CustomerId> = owners
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let customers = tx
            .customers_among(tenant, &distinct)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let tz = budgets::tenant_tz(tx, tenant).await?;
        Ok(Self {
            rows,
            owners,
            customers,
            tz,
        })
    }
}

/// The write half of `POST /v1/usage`, shared with `tollgate import usage`: stores the new
/// records and their aggregates, runs the anomaly detector and the budgets and audits the
/// batch, all inside `tx`; the caller commits.
pub async fn ingest_records(
    ctx: &impl Acting,
    tx: &mut Tx,
    batch: &Resolved<'_>,
) -> ApiResult<IngestOut> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let Resolved {
        rows,
        owners,
        customers: known,
        tz,
    } = batch;
    let tz = *tz;
    let fresh = tx.insert_usage_records(tenant, rows, now).await?;

    // Records are summed per bucket first, so the work per record is one map update; the
    // aggregates' keys are made once per bucket.
    let mut buckets: HashMap<Bucket, (CustomerId, i64)> = HashMap::new();
    let mut series = Series::new();
    let (mut accepted, mut duplicates) = (0u32, 0u32);
    for ((row, owner), fresh) in rows.iter().zip(owners).zip(fresh) {
        if !fresh {
            duplicates += 1;
            continue;
        }
        accepted += 1;
        let hour = hour_of(row.usage_start);
        let day = row.usage_start.with_timezone(&tz).date_naive();
        let bucket = buckets
            .entry((row.subscription_id, &row.meter, hour, row.currency, day))
            .or_insert((*owner, 0));
        bucket.1 = add(bucket.1, row.cost_minor)?;
        series
            .entry((row.subscription_id, &row.meter, row.currency))
            .or_default()
            .entry(hour)
            .or_default()
            .insert(row.region);
    }

    // Each aggregate row is written once, in key order, so concurrent batches lock shared rows
    // (a customer's day and month) in the same order and cannot deadlock on PostgreSQL.
    let mut owned: HashMap<SubscriptionId, CustomerId> = HashMap::new();
    let mut hourly: BTreeMap<HourKey, (CustomerId, i64)> = BTreeMap::new();
    let mut days: HashMap<(SubscriptionId, NaiveDate, &str), i64> = HashMap::new();
    for ((subscription, meter, hour, currency, day), (customer, cost_minor)) in buckets {
        owned.insert(subscription, customer);
        let sum = hourly
            .entry((subscription, meter.to_owned(), hour, currency.to_owned()))
            .or_insert((customer, 0));
        sum.1 = add(sum.1, cost_minor)?;
        let sum = days.entry((subscription, day, currency)).or_default();
        *sum = add(*sum, cost_minor)?;
    }
    let mut daily: BTreeMap<PeriodKey, i64> = BTreeMap::new();
    let mut monthly: BTreeMap<PeriodKey, i64> = BTreeMap::new();
    for ((subscription, day, currency), cost_minor) in days {
        let customer = *owned
            .get(&subscription)
            .ok_or_else(|| ApiError::Internal("summed subscription without customer".into()))?;
        let (day, month) = (
            day.format("%Y-%m-%d").to_string(),
            day.format("%Y-%m").to_string(),
        );
        for scope in [subscription.to_string(), customer.to_string()] {
            let sum = daily
                .entry((scope.clone(), day.clone(), currency.to_owned()))
                .or_default();
            *sum = add(*sum, cost_minor)?;
            let sum = monthly
                .entry((scope, month.clone(), currency.to_owned()))
                .or_default();
            *sum = add(*sum, cost_minor)?;
        }
    }
    let customers: HashMap<CustomerId, Customer> = owned
        .values()
        .map(|id| {
            known
                .get(id)
                .map(|c| (*id, c.clone()))
                .ok_or_else(|| ApiError::Internal(format!("owner {id} was not resolved")))
        })
        .collect::<ApiResult<_>>()?;
    let hourly: Vec<HourlyUsage> = hourly
        .into_iter()
        .map(
            |((subscription_id, meter, hour, currency), (customer_id, cost_minor))| HourlyUsage {
                subscription_id,
                customer_id,
                meter,
                hour,
                currency,
                cost_minor,
            },
        )
        .collect();
    let hourly_totals: HashMap<HourKey, i64> = tx
        .add_hourly_usage(tenant, &hourly)
        .await?
        .into_iter()
        .map(|t| {
            (
                (t.subscription_id, t.meter, t.hour, t.currency),
                t.cost_minor,
            )
        })
        .collect();
    tx.add_daily_usage(tenant, &periods(daily)).await?;
    tx.add_monthly_usage(tenant, &periods(monthly)).await?;

    let touched = Touched {
        series: &series,
        hourly: &hourly_totals,
        customers: &customers,
        owners: &owned,
    };
    let mut raised = detect(ctx, tx, tz, &touched).await?;
    if accepted > 0 {
        let customers: Vec<Customer> = customers.into_values().collect();
        let subscriptions: Vec<SubscriptionId> = owned.into_keys().collect();
        raised.extend(budgets::check(ctx, tx, tz, &customers, &subscriptions).await?);
    }
    audit_as(
        ctx,
        tx,
        "usage.ingested",
        "usage",
        serde_json::json!({ "accepted": accepted, "duplicates": duplicates, "alerts": raised.len() }),
    )
    .await?;
    Ok(IngestOut {
        accepted,
        duplicates,
        alerts: raised,
    })
}

/// Finds every record's subscription (answered with its owner) and converts its cost to minor
/// units; any record that fails is reported by position and nothing is written.
async fn resolve<'a>(
    tx: &mut Tx,
    tenant: TenantId,
    records: &'a [UsageRecord],
) -> ApiResult<Vec<(UsageRow<'a>, CustomerId)>> {
    let (mut ids, mut vendor_ids) = (BTreeSet::new(), BTreeSet::new());
    for r in records {
        match &r.subscription {
            SubscriptionRef::Id(id) => ids.insert(*id),
            SubscriptionRef::Vendor(vendor) => vendor_ids.insert(vendor.as_str()),
        };
    }
    let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    let vendor_ids: Vec<String> = vendor_ids.into_iter().map(str::to_owned).collect();
    let mut known: HashMap<SubscriptionRef, (SubscriptionId, CustomerId)> = HashMap::new();
    for subscription in tx.subscriptions_among(tenant, &ids, &vendor_ids).await? {
        let found = (subscription.id, subscription.customer_id);
        known.insert(
            SubscriptionRef::Vendor(subscription.vendor_subscription_id),
            found,
        );
        known.insert(SubscriptionRef::Id(subscription.id), found);
    }
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let subscription = known.get(&r.subscription).copied();
        if subscription.is_none() {
            errors.push(FieldError::new(
                format!("[{i}].subscription"),
                "no such subscription",
            ));
        }
        let cost_minor = r
            .cost
            .to_minor()
            .map_err(|e| errors.push(FieldError::new(format!("[{i}].cost"), e)))
            .ok();
        if let (Some((subscription_id, customer_id)), Some(cost_minor)) = (subscription, cost_minor)
        {
            rows.push((
                UsageRow {
                    record_id: &r.record_id,
                    subscription_id,
                    meter: r.meter.to_string(),
                    resource_id: &r.resource_id,
                    region: &r.region,
                    quantity: r.quantity.to_string(),
                    unit: &r.unit,
                    cost_minor,
                    currency: r.cost.currency.code(),
                    usage_start: r.usage_start,
                    usage_end: r.usage_end,
                },
                customer_id,
            ));
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

fn add(sum: i64, cost_minor: i64) -> ApiResult<i64> {
    sum.checked_add(cost_minor)
        .ok_or_else(|| ApiError::Internal("usage aggregate overflows 64 bits".into()))
}

fn periods(sums: BTreeMap<PeriodKey, i64>) -> Vec<PeriodUsage> {
    sums.into_iter()
        .map(|((scope_id, period, currency), cost_minor)| PeriodUsage {
            scope_id,
            period,
            currency,
            cost_minor,
        })
        .collect()
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = at.timestamp();
    DateTime::from_timestamp(seconds - seconds.rem_euclid(3_600), 0).unwrap_or(at)
}

fn major(minor: i64, digits: u32) -> f64 {
    // Precision beyond f64's is irrelevant to a statistical score.
    minor as f64 / 10f64.powi(digits as i32)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// What a subscription had used before this batch: meter classes and regions.
#[derive(Default)]
struct Footprint {
    classes: HashSet<MeterClass>,
    regions: HashSet<String>,
    added: Vec<(&'static str, String)>,
}

/// What a batch touched, for the detector.
struct Touched<'a> {
    series: &'a Series<'a>,
    /// Each touched hourly bucket's total after the batch.
    hourly: &'a HashMap<HourKey, i64>,
    customers: &'a HashMap<CustomerId, Customer>,
    owners: &'a HashMap<SubscriptionId, CustomerId>,
}

/// Scores each touched hour of each touched series, in time order, against the series' saved
/// state. An hour is scored once, when it is first touched; records arriving later for an hour
/// already scored still count in budgets but do not rewind the detector, which needs streaming
/// order (*Late usage* in `docs/spend-watch.md`). States, footprints and reference spend are
/// read and written for the whole batch at once.
async fn detect(
    ctx: &impl Acting,
    tx: &mut Tx,
    tz: Tz,
    touched: &Touched<'_>,
) -> ApiResult<Vec<AlertOut>> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let detector = Detector::new(DetectorConfig::hourly());
    let keys: Vec<(SubscriptionId, String)> = touched
        .series
        .keys()
        .map(|(subscription, meter, _)| (*subscription, (*meter).to_owned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut stored = tx.series_states(tenant, &keys).await?;
    // One state per subscription × meter, whatever the currency: a series seen in two
    // currencies continues from the state the first one left.
    let mut states: BTreeMap<(SubscriptionId, String), SeriesState> = BTreeMap::new();
    let subscriptions: Vec<SubscriptionId> = keys
        .iter()
        .map(|(s, _)| *s)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut footprints: HashMap<SubscriptionId, Footprint> = subscriptions
        .iter()
        .map(|s| (*s, Footprint::default()))
        .collect();
    for (subscription, dimension, value) in tx.usage_footprints(tenant, &subscriptions).await? {
        let Some(footprint) = footprints.get_mut(&subscription) else {
            continue;
        };
        match dimension.as_str() {
            CLASS => footprint.classes.extend(value.parse::<MeterClass>().ok()),
            _ => {
                footprint.regions.insert(value);
            }
        }
    }
    let references = references(tx, tenant, &subscriptions, now, tz).await?;
    let mut raised = Vec::new();
    for ((subscription, meter_text, currency_code), hours) in touched.series {
        let customer = touched
            .owners
            .get(subscription)
            .and_then(|c| touched.customers.get(c))
            .ok_or_else(|| ApiError::Internal("touched subscription without customer".into()))?;
        let currency: tollgate_core::Currency = currency_code
            .parse()
            .map_err(|e| ApiError::Internal(format!("stored currency: {e}")))?;
        let digits = currency.minor_digits();
        let meter = Meter::parse("meter", meter_text)
            .map_err(|e| ApiError::Internal(format!("stored meter: {}", e.message)))?;
        let class = classify(&meter);
        let key = (*subscription, (*meter_text).to_owned());
        let mut state = match (states.remove(&key), stored.remove(&key)) {
            (Some(state), _) => state,
            (None, Some(json)) => serde_json::from_str::<SeriesState>(&json)
                .map_err(|e| ApiError::Internal(format!("stored series state: {e}")))?,
            (None, None) => {
                let population = tx
                    .meter_population(
                        tenant,
                        *subscription,
                        meter_text,
                        currency_code,
                        now - Duration::days(POPULATION_DAYS),
                        POPULATION_SAMPLE,
                    )
                    .await?;
                detector.start(ColdStartPrior {
                    population_median: median(
                        population.into_iter().map(|m| major(m, digits)).collect(),
                    ),
                    tier: customer.trust_tier,
                })
            }
        };
        let reference = median(
            references
                .get(&(subscription.to_string(), (*currency_code).to_owned()))
                .into_iter()
                .flatten()
                .map(|minor| major(*minor, digits))
                .collect(),
        )
        .map(|day| day / 24.0);
        for (hour, regions) in hours {
            let minor = touched
                .hourly
                .get(&(
                    *subscription,
                    (*meter_text).to_owned(),
                    *hour,
                    (*currency_code).to_owned(),
                ))
                .copied()
                .ok_or_else(|| ApiError::Internal("touched hour without aggregate".into()))?;
            let point = match detector.observe(&mut state, *hour, major(minor, digits)) {
                Ok(point) => point,
                Err(DetectorError::OutOfOrder { .. }) => continue,
                Err(e) => return Err(ApiError::Internal(e.to_string())),
            };
            let footprint = footprints
                .get_mut(subscription)
                .ok_or_else(|| ApiError::Internal("footprint not loaded".into()))?;
            let region = regions
                .iter()
                .find(|r| !footprint.regions.contains(**r))
                .or_else(|| regions.iter().next())
                .map(|r| (*r).to_owned())
                .unwrap_or_default();
            let history = SubscriptionHistory {
                known_classes: &footprint.classes,
                known_regions: &footprint.regions,
                signed_up_at: customer.created_at,
                first_payment_at: None,
            };
            let mut fired = signals::detect(
                class,
                &region,
                *hour,
                point.growth,
                f64::from(detector.config().growth_threshold),
                &history,
            );
            // Payments are not in the store yet, so "before the first payment" would fire on
            // every customer; it returns with the collections pillar.
            fired.retain(|s| *s != Signal::BeforeFirstPayment);
            let observation = Observation {
                subscription_id: *subscription,
                meter: &meter,
                class,
                region: &region,
                point: &point,
                reference,
            };
            if let Some(alert) = assess(&observation, fired) {
                let details =
                    serde_json::to_value(&alert).map_err(|e| ApiError::Internal(e.to_string()))?;
                raised.push(
                    alerts::raise(
                        ctx,
                        tx,
                        tollgate_core::AlertId::generate(),
                        NewAlert {
                            kind: alerts::USAGE_ANOMALY,
                            customer_id: customer.id,
                            subscription_id: Some(*subscription),
                            sentence: alert.sentence.clone(),
                            details,
                        },
                    )
                    .await?,
                );
            }
            if footprint.classes.insert(class) {
                footprint.added.push((CLASS, class.as_str().to_owned()));
            }
            for region in regions {
                if footprint.regions.insert((*region).to_owned()) {
                    footprint.added.push((REGION, (*region).to_owned()));
                }
            }
        }
        states.insert(key, state);
    }
    let states = states
        .iter()
        .map(|((subscription, meter), state)| {
            let json =
                serde_json::to_string(state).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((*subscription, meter.as_str(), json))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    tx.save_series_states(tenant, &states, now).await?;
    let mut added: Vec<(SubscriptionId, &str, String)> = footprints
        .into_iter()
        .flat_map(|(subscription, footprint)| {
            footprint
                .added
                .into_iter()
                .map(move |(dimension, value)| (subscription, dimension, value))
        })
        .collect();
    // In key order, like the aggregates, so concurrent batches cannot deadlock.
    added.sort();
    tx.add_usage_footprints(tenant, &added, now).await?;
    Ok(raised)
}

/// Each subscription's daily spend per currency over its last seven complete local days: an
/// alert sentence compares a new series with its median, per hour ("73× its 7-day median").
async fn references(
    tx: &mut Tx,
    tenant: TenantId,
    subscriptions: &[SubscriptionId],
    now: DateTime<Utc>,
    tz: Tz,
) -> ApiResult<HashMap<(String, String), Vec<i64>>> {
    let today = now.with_timezone(&tz).date_naive();
    let (Some(first), Some(last)) = (
        today.checked_sub_days(chrono::Days::new(7)),
        today.pred_opt(),
    ) else {
        return Ok(HashMap::new());
    };
    let scopes: Vec<String> = subscriptions.iter().map(|s| s.to_string()).collect();
    let mut days: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for (scope, currency, _, minor) in tx
        .daily_spend_of(tenant, &scopes, &first.to_string(), &last.to_string())
        .await?
    {
        days.entry((scope, currency)).or_default().push(minor);
    }
    Ok(days)
}
