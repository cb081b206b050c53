//! `POST /v1/usage`: a batch of rated usage records. The batch is validated whole before anything
//! is written; new records update the aggregates, every touched hourly series is scored by the
//! anomaly detector, and the budgets watching the touched customers and subscriptions are
//! checked — all in one transaction, so the answer lists every alert the batch raised.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use axum::{http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tollgate_core::{
    CustomerId, SubscriptionId, TenantId,
    customers::{Customer, Subscription},
    usage::{
        ColdStartPrior, Detector, DetectorConfig, DetectorError, Meter, MeterClass, Observation,
        SeriesState, Signal, SubscriptionHistory, SubscriptionRef, UsageRecord, UsageRecordInput,
        assess, classify, parse_batch, signals,
    },
    validate::FieldError,
};
use tollgate_store::{
    StoreError, SubscriptionFilter, Tx, UsageBuckets, UsageRow, page::PageRequest,
};
use utoipa::ToSchema;

use super::{
    alerts::{self, AlertOut, NewAlert},
    budgets,
};
use crate::{
    ctx::{Ctx, WriteFacts},
    error::{ApiError, ApiResult},
    json::{BatchBody, from_value},
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
type Series = BTreeMap<(SubscriptionId, String, String), BTreeMap<DateTime<Utc>, BTreeSet<String>>>;

/// Ingest usage records.
#[utoipa::path(post, path = "/v1/usage", tag = "spend watch",
    request_body(content(
        (Vec<UsageRecordInput> = "application/json"),
        (UsageRecordInput = "application/x-ndjson"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = IngestOut), (status = 422, body = crate::error::Problem)))]
pub async fn ingest(ctx: Ctx<WriteFacts>, BatchBody(body): BatchBody) -> ApiResult<Response> {
    // Parsed as JSON first, so a syntax error is a 400 whatever the body's shape.
    let inputs: Vec<UsageRecordInput> = from_value(body)?;
    let records = parse_batch(inputs).map_err(ApiError::Invalid)?;
    let tenant = ctx.tenant();
    let now = ctx.now();
    let mut tx = ctx.begin().await?;
    let rows = resolve(&mut tx, tenant, &records).await?;
    let tz = budgets::tenant_tz(&mut tx, tenant).await?;

    let mut customers: HashMap<CustomerId, Customer> = HashMap::new();
    let mut owners: HashMap<SubscriptionId, CustomerId> = HashMap::new();
    let mut series = Series::new();
    let (mut accepted, mut duplicates) = (0u32, 0u32);
    for (record, (row, subscription)) in records.iter().zip(&rows) {
        if !tx.insert_usage_record(tenant, row, now).await? {
            duplicates += 1;
            continue;
        }
        accepted += 1;
        if !customers.contains_key(&subscription.customer_id) {
            let customer = tx.customer(tenant, subscription.customer_id).await?;
            customers.insert(customer.id, customer);
        }
        owners.insert(subscription.id, subscription.customer_id);
        let hour = hour_of(record.usage_start);
        let local = record.usage_start.with_timezone(&tz);
        let buckets = UsageBuckets {
            customer_id: subscription.customer_id,
            hour,
            day: &local.format("%Y-%m-%d").to_string(),
            month: &local.format("%Y-%m").to_string(),
        };
        tx.add_usage(tenant, row, &buckets).await?;
        series
            .entry((subscription.id, row.meter.clone(), row.currency.clone()))
            .or_default()
            .entry(hour)
            .or_default()
            .insert(row.region.clone());
    }

    let mut raised = detect(&ctx, &mut tx, tz, &series, &customers, &owners).await?;
    if accepted > 0 {
        let customers: Vec<Customer> = customers.into_values().collect();
        let subscriptions: Vec<SubscriptionId> = owners.into_keys().collect();
        raised.extend(budgets::check(&ctx, &mut tx, tz, &customers, &subscriptions).await?);
    }
    ctx.audit(
        &mut tx,
        "usage.ingested",
        "usage",
        serde_json::json!({ "accepted": accepted, "duplicates": duplicates, "alerts": raised.len() }),
    )
    .await?;
    let out = IngestOut {
        accepted,
        duplicates,
        alerts: raised,
    };
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// Finds every record's subscription and converts its cost to minor units; any record that
/// fails is reported by position and nothing is written.
async fn resolve(
    tx: &mut Tx,
    tenant: TenantId,
    records: &[UsageRecord],
) -> ApiResult<Vec<(UsageRow, Subscription)>> {
    let mut known: HashMap<SubscriptionRef, Option<Subscription>> = HashMap::new();
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        if !known.contains_key(&r.subscription) {
            let found = find_subscription(tx, tenant, &r.subscription).await?;
            known.insert(r.subscription.clone(), found);
        }
        let subscription = known.get(&r.subscription).cloned().flatten();
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
        if let (Some(subscription), Some(cost_minor)) = (subscription, cost_minor) {
            rows.push((
                UsageRow {
                    record_id: r.record_id.clone(),
                    subscription_id: subscription.id,
                    meter: r.meter.to_string(),
                    resource_id: r.resource_id.clone(),
                    region: r.region.clone(),
                    quantity: r.quantity.to_string(),
                    unit: r.unit.clone(),
                    cost_minor,
                    currency: r.cost.currency.code().to_owned(),
                    usage_start: r.usage_start,
                    usage_end: r.usage_end,
                },
                subscription,
            ));
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

async fn find_subscription(
    tx: &mut Tx,
    tenant: TenantId,
    reference: &SubscriptionRef,
) -> ApiResult<Option<Subscription>> {
    match reference {
        SubscriptionRef::Id(id) => match tx.subscription(tenant, *id).await {
            Err(StoreError::NotFound) => Ok(None),
            other => Ok(Some(other?)),
        },
        SubscriptionRef::Vendor(vendor) => {
            let filter = SubscriptionFilter {
                vendor_subscription_id: Some(vendor.clone()),
                ..SubscriptionFilter::default()
            };
            let page = PageRequest {
                after: None,
                limit: 1,
            };
            let page = tx.list_subscriptions(tenant, &filter, &page).await?;
            Ok(page.data.into_iter().next())
        }
    }
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

/// Scores each touched hour of each touched series, in time order, against the series' saved
/// state. An hour is scored once, when it is first touched; records arriving later for an hour
/// already scored still count in budgets but do not rewind the detector, which needs streaming
/// order.
async fn detect<P>(
    ctx: &Ctx<P>,
    tx: &mut Tx,
    tz: Tz,
    series: &Series,
    customers: &HashMap<CustomerId, Customer>,
    owners: &HashMap<SubscriptionId, CustomerId>,
) -> ApiResult<Vec<AlertOut>> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let detector = Detector::new(DetectorConfig::hourly());
    let mut footprints: HashMap<SubscriptionId, Footprint> = HashMap::new();
    let mut raised = Vec::new();
    for ((subscription, meter_text, currency_code), hours) in series {
        let customer = owners
            .get(subscription)
            .and_then(|c| customers.get(c))
            .ok_or_else(|| ApiError::Internal("touched subscription without customer".into()))?;
        let currency: tollgate_core::Currency = currency_code
            .parse()
            .map_err(|e| ApiError::Internal(format!("stored currency: {e}")))?;
        let digits = currency.minor_digits();
        let meter = Meter::parse("meter", meter_text)
            .map_err(|e| ApiError::Internal(format!("stored meter: {}", e.message)))?;
        let class = classify(&meter);
        if !footprints.contains_key(subscription) {
            let mut footprint = Footprint::default();
            for (dimension, value) in tx.usage_footprint(tenant, *subscription).await? {
                match dimension.as_str() {
                    CLASS => footprint.classes.extend(value.parse::<MeterClass>().ok()),
                    _ => {
                        footprint.regions.insert(value);
                    }
                }
            }
            footprints.insert(*subscription, footprint);
        }
        let mut state = match tx.series_state(tenant, *subscription, meter_text).await? {
            Some(json) => serde_json::from_str::<SeriesState>(&json)
                .map_err(|e| ApiError::Internal(format!("stored series state: {e}")))?,
            None => {
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
        let reference =
            reference(tx, tenant, *subscription, currency_code, digits, now, tz).await?;
        for (hour, regions) in hours {
            let minor = tx
                .hourly_cost(tenant, *subscription, meter_text, *hour, currency_code)
                .await?;
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
                .find(|r| !footprint.regions.contains(*r))
                .or_else(|| regions.iter().next())
                .cloned()
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
                if footprint.regions.insert(region.clone()) {
                    footprint.added.push((REGION, region.clone()));
                }
            }
        }
        let json = serde_json::to_string(&state).map_err(|e| ApiError::Internal(e.to_string()))?;
        tx.save_series_state(tenant, *subscription, meter_text, &json, now)
            .await?;
    }
    for (subscription, footprint) in footprints {
        for (dimension, value) in footprint.added {
            tx.add_usage_footprint(tenant, subscription, dimension, &value, now)
                .await?;
        }
    }
    Ok(raised)
}

/// The subscription's median daily spend over its last seven complete local days, per hour:
/// what an alert sentence compares a new series with ("73× its 7-day median").
async fn reference(
    tx: &mut Tx,
    tenant: TenantId,
    subscription: SubscriptionId,
    currency: &str,
    digits: u32,
    now: DateTime<Utc>,
    tz: Tz,
) -> ApiResult<Option<f64>> {
    let today = now.with_timezone(&tz).date_naive();
    let (Some(first), Some(last)) = (
        today.checked_sub_days(chrono::Days::new(7)),
        today.pred_opt(),
    ) else {
        return Ok(None);
    };
    let days = tx
        .daily_spend(
            tenant,
            &subscription.to_string(),
            currency,
            &first.to_string(),
            &last.to_string(),
        )
        .await?;
    let per_point = 24.0;
    Ok(median(
        days.into_iter()
            .map(|(_, minor)| major(minor, digits))
            .collect(),
    )
    .map(|day| day / per_point))
}
