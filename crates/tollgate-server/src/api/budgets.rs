//! `/v1/budgets`: an amount per period for a customer or a subscription, with thresholds on
//! actual or forecast spend. The customer's `monthly_spend_limit` is a budget too, implicitly;
//! [`check`] runs both kinds after each usage batch.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use tollgate_core::{
    AlertId, BudgetId, CustomerId, Money, SubscriptionId, TenantId,
    customers::Customer,
    usage::{
        AlertedThreshold, Budget, BudgetPeriod, BudgetScope, BudgetSpec, DailySpend, Forecast,
        Meter, PeriodWindow, SpendSnapshot, ThresholdAction, ThresholdBasis, forecast,
    },
};
use tollgate_store::{BudgetRow, StoreError, Tx};
use utoipa::ToSchema;

use super::{
    Id, ListOf, Paging, Q,
    alerts::{self, AlertOut, NewAlert},
};
use crate::{
    ctx::{Acting, Ctx, Operate, Read, audit_as},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

/// Days of daily spend a forecast learns from: four whole weeks and the current one.
const HISTORY_DAYS: i64 = 35;

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetOut {
    /// `bud_…`
    pub id: BudgetId,
    /// The customer watched, or the customer owning the subscription watched.
    pub customer_id: CustomerId,
    #[serde(flatten)]
    pub budget: Budget,
    pub created_at: DateTime<Utc>,
}

/// Where a budget stands in its current period.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetStatus {
    pub period: PeriodWindow,
    pub spent: Money,
    /// The projected spend at period end, and how it was projected.
    pub forecast: Forecast,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetDetail {
    #[serde(flatten)]
    pub budget: BudgetOut,
    /// Absent when a custom period does not contain today.
    pub current: Option<BudgetStatus>,
}

fn out(row: BudgetRow) -> ApiResult<BudgetOut> {
    let spec: BudgetSpec = serde_json::from_str(&row.spec)
        .map_err(|e| ApiError::Internal(format!("stored budget: {e}")))?;
    let budget = spec
        .parse()
        .map_err(|_| ApiError::Internal(format!("stored budget {} is invalid", row.id)))?;
    Ok(BudgetOut {
        id: row.id,
        customer_id: row.customer_id,
        budget,
        created_at: row.created_at,
    })
}

pub fn scope_id(budget: &Budget) -> String {
    match &budget.spec().scope {
        BudgetScope::Customer { customer_id } => customer_id.to_string(),
        BudgetScope::Subscription { subscription_id } => subscription_id.to_string(),
    }
}

/// The tenant's time zone, which monthly periods and local days follow.
pub async fn tenant_tz(tx: &mut Tx, tenant: TenantId) -> ApiResult<Tz> {
    let zone = tx.tenant(tenant).await?.time_zone;
    zone.parse()
        .map_err(|_| ApiError::Internal(format!("tenant time zone `{zone}` is not IANA")))
}

/// Create a budget.
#[utoipa::path(post, path = "/v1/budgets", tag = "spend watch", request_body = BudgetSpec,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = BudgetOut), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<Operate>,
    JsonBody(spec): JsonBody<BudgetSpec>,
) -> ApiResult<Response> {
    let budget = spec.parse().map_err(ApiError::Invalid)?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let customer_id = match &budget.spec().scope {
        BudgetScope::Customer { customer_id } => match tx.customer(tenant, *customer_id).await {
            Err(StoreError::NotFound) => {
                return Err(ApiError::field("scope.customer_id", "no such customer"));
            }
            other => other?.id,
        },
        BudgetScope::Subscription { subscription_id } => {
            match tx.subscription(tenant, *subscription_id).await {
                Err(StoreError::NotFound) => {
                    return Err(ApiError::field(
                        "scope.subscription_id",
                        "no such subscription",
                    ));
                }
                other => other?.customer_id,
            }
        }
    };
    let row = BudgetRow {
        id: BudgetId::generate(),
        scope_id: scope_id(&budget),
        customer_id,
        spec: serde_json::to_string(budget.spec())
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        created_at: ctx.now(),
    };
    tx.insert_budget(tenant, &row).await?;
    ctx.audit(&mut tx, "budget.created", row.id, budget.spec())
        .await?;
    let out = out(row)?;
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BudgetQuery {
    pub customer_id: Option<CustomerId>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// List budgets (explicit ones; a customer's `monthly_spend_limit` is in its terms).
#[utoipa::path(get, path = "/v1/budgets", tag = "spend watch", params(BudgetQuery),
    responses((status = 200, body = ListOf<BudgetOut>)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<BudgetQuery>) -> ApiResult<Json<ListOf<BudgetOut>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let page = ctx
        .read()
        .await?
        .list_budgets(ctx.tenant(), query.customer_id, &page)
        .await?;
    Ok(Json(ListOf {
        data: page.data.into_iter().map(out).collect::<ApiResult<_>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Get a budget with its spend so far and forecast for the current period.
#[utoipa::path(get, path = "/v1/budgets/{id}", tag = "spend watch",
    params(("id" = String, Path, description = "`bud_…`")),
    responses((status = 200, body = BudgetDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<BudgetId>) -> ApiResult<Json<BudgetDetail>> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let mut tx = ctx.read().await?;
    let budget = out(tx.budget(tenant, id).await?)?;
    let tz = tenant_tz(&mut tx, tenant).await?;
    let current = match budget.budget.period_at(now, tz) {
        Some(period) => {
            let (spent, daily) = spend(&mut tx, tenant, &budget.budget, &period, now, tz).await?;
            let forecast = forecast::project(&forecast::ForecastInput {
                spent,
                as_of: now,
                period_start: period.start,
                period_end: period.end,
                tz,
                history: &daily,
            })
            .map_err(|e| ApiError::Internal(e.to_string()))?;
            Some(BudgetStatus {
                period,
                spent,
                forecast,
            })
        }
        None => None,
    };
    Ok(Json(BudgetDetail { budget, current }))
}

fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Spend of the budget's scope in `period`, and the daily history its forecast learns from.
/// A plain monthly budget reads the monthly and daily aggregates; one restricted to a meter or
/// to a custom window sums the hourly aggregate, the only one that keeps meters apart.
async fn spend(
    tx: &mut Tx,
    tenant: TenantId,
    budget: &Budget,
    period: &PeriodWindow,
    now: DateTime<Utc>,
    tz: Tz,
) -> ApiResult<(Money, Vec<DailySpend>)> {
    let spec = budget.spec();
    let currency = spec.amount.currency;
    let scope = scope_id(budget);
    let history_from = now - Duration::days(HISTORY_DAYS);
    let money = |minor| Money::from_minor(minor, currency);
    if spec.meter_filter.is_none() && spec.period == BudgetPeriod::Monthly {
        let spent = tx
            .monthly_spend(tenant, &scope, &period.key, currency.code())
            .await?;
        let days = tx
            .daily_spend(
                tenant,
                &scope,
                currency.code(),
                &local_day(history_from, tz).to_string(),
                &local_day(now, tz).to_string(),
            )
            .await?;
        let daily = days
            .into_iter()
            .map(|(day, minor)| {
                let date = day
                    .parse()
                    .map_err(|e| ApiError::Internal(format!("stored day `{day}`: {e}")))?;
                Ok(DailySpend {
                    date,
                    amount: money(minor).amount,
                })
            })
            .collect::<ApiResult<_>>()?;
        return Ok((money(spent), daily));
    }
    let rows = tx
        .hourly_spend(
            tenant,
            &scope,
            currency.code(),
            history_from.min(period.start),
            period.end,
        )
        .await?;
    let mut spent = 0i64;
    let mut by_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for row in rows {
        let meter = Meter::parse("meter", &row.meter)
            .map_err(|e| ApiError::Internal(format!("stored meter: {}", e.message)))?;
        if spec
            .meter_filter
            .as_ref()
            .is_some_and(|f| !f.matches(&meter))
        {
            continue;
        }
        if row.hour >= period.start {
            spent = spent.saturating_add(row.cost_minor);
        }
        if row.hour >= history_from {
            *by_day.entry(local_day(row.hour, tz)).or_default() += row.cost_minor;
        }
    }
    let daily = by_day
        .into_iter()
        .map(|(date, minor)| DailySpend {
            date,
            amount: money(minor).amount,
        })
        .collect();
    Ok((money(spent), daily))
}

/// A budget a usage batch may have moved: an explicit one, or a customer's spend limit.
struct Watched {
    /// The dedupe key of its alerted thresholds.
    key: String,
    id: Option<BudgetId>,
    customer_id: CustomerId,
    budget: Budget,
}

/// Checks every budget watching the touched customers and subscriptions and raises one alert
/// per threshold newly crossed in the current period.
pub async fn check(
    ctx: &impl Acting,
    tx: &mut Tx,
    tz: Tz,
    customers: &[Customer],
    subscriptions: &[SubscriptionId],
) -> ApiResult<Vec<AlertOut>> {
    let tenant = ctx.tenant();
    let now = ctx.now();
    let mut watched = Vec::new();
    for customer in customers {
        if let Some(limit) = customer.terms.monthly_spend_limit {
            let budget = Budget::implicit_monthly(customer.id, limit).map_err(|_| {
                ApiError::Internal(format!("spend limit of {} is invalid", customer.id))
            })?;
            watched.push(Watched {
                key: format!("terms:{}", customer.id),
                id: None,
                customer_id: customer.id,
                budget,
            });
        }
    }
    let scopes: Vec<String> = customers
        .iter()
        .map(|c| c.id.to_string())
        .chain(subscriptions.iter().map(|s| s.to_string()))
        .collect();
    let mut by_scope: HashMap<String, Vec<BudgetRow>> = HashMap::new();
    for row in tx.budgets_watching(tenant, &scopes).await? {
        by_scope.entry(row.scope_id.clone()).or_default().push(row);
    }
    for scope in &scopes {
        for row in by_scope.remove(scope).into_iter().flatten() {
            let budget = out(row)?;
            watched.push(Watched {
                key: budget.id.to_string(),
                id: Some(budget.id),
                customer_id: budget.customer_id,
                budget: budget.budget,
            });
        }
    }

    let mut raised = Vec::new();
    for w in watched {
        let Some(period) = w.budget.period_at(now, tz) else {
            continue;
        };
        let (spent, daily) = spend(tx, tenant, &w.budget, &period, now, tz).await?;
        let alerted: HashSet<AlertedThreshold> = tx
            .alerted_thresholds(tenant, &w.key, &period.key)
            .await?
            .into_iter()
            .filter_map(|(percent, basis)| {
                Some(AlertedThreshold {
                    period_key: period.key.clone(),
                    percent: u16::try_from(percent).ok()?,
                    basis: basis.parse::<ThresholdBasis>().ok()?,
                })
            })
            .collect();
        let snapshot = SpendSnapshot {
            spent,
            as_of: now,
            tz,
            daily: &daily,
        };
        let crossings = w
            .budget
            .new_crossings(&period, &snapshot, &alerted)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        for crossing in crossings {
            let id = AlertId::generate();
            let fresh = tx
                .mark_alerted(
                    tenant,
                    &w.key,
                    &period.key,
                    crossing.threshold.percent,
                    crossing.threshold.basis.as_str(),
                    id,
                )
                .await?;
            if !fresh {
                continue;
            }
            let subscription_id = match &w.budget.spec().scope {
                BudgetScope::Subscription { subscription_id } => Some(*subscription_id),
                BudgetScope::Customer { .. } => None,
            };
            let action = crossing.threshold.action;
            let details = serde_json::json!({
                "budget_id": w.id,
                "implicit": w.id.is_none(),
                "action": action,
                "crossing": crossing,
            });
            let alert = alerts::raise(
                ctx,
                tx,
                id,
                NewAlert {
                    kind: alerts::BUDGET_THRESHOLD,
                    customer_id: w.customer_id,
                    subscription_id,
                    sentence: crossing.reason.clone(),
                    details,
                },
            )
            .await?;
            if action == ThresholdAction::Suspend {
                // Enforcement goes through the action outbox of a later issue; until then the
                // request itself is what the audit chain must show.
                audit_as(
                    ctx,
                    tx,
                    "budget.suspend_requested",
                    w.key.as_str(),
                    serde_json::json!({ "alert_id": id, "scope": w.budget.spec().scope }),
                )
                .await?;
            }
            raised.push(alert);
        }
    }
    Ok(raised)
}
