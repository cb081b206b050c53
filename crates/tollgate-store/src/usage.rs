//! Spend watch: usage records and their incremental aggregates, budgets, the thresholds already
//! alerted, detector state and alerts. Aggregates are updated in the transaction that inserts
//! the record, so budgets and detectors never rescan raw records.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tollgate_core::{AlertId, BudgetId, CustomerId, SubscriptionId, TenantId};

use crate::{
    Dialect, Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    sql::{Params, rows_per_statement},
    statement::{Row, Statement},
};

/// A validated usage record, flattened to columns; its text borrows from the record, since a
/// batch's thousands of copies would only be made to be bound and dropped.
#[derive(Debug, Clone)]
pub struct UsageRow<'a> {
    pub record_id: &'a str,
    pub subscription_id: SubscriptionId,
    pub meter: String,
    pub resource_id: &'a str,
    pub region: &'a str,
    pub quantity: String,
    pub unit: &'a str,
    pub cost_minor: i64,
    pub currency: &'a str,
    pub usage_start: DateTime<Utc>,
    pub usage_end: DateTime<Utc>,
}

/// A batch's summed cost for one hourly bucket; in the answer of [`Tx::add_hourly_usage`],
/// the bucket's new total.
#[derive(Debug, Clone)]
pub struct HourlyUsage {
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub meter: String,
    /// Start of the UTC hour.
    pub hour: DateTime<Utc>,
    pub currency: String,
    pub cost_minor: i64,
}

/// A batch's summed cost for one customer or subscription in one local day or month.
#[derive(Debug, Clone)]
pub struct PeriodUsage {
    /// The customer or subscription id.
    pub scope_id: String,
    /// The local day (`2026-03-31`) or month (`2026-03`) in the tenant's time zone.
    pub period: String,
    pub currency: String,
    pub cost_minor: i64,
}

/// A budget as stored; the spec stays JSON, the server owns its shape.
#[derive(Debug, Clone)]
pub struct BudgetRow {
    pub id: BudgetId,
    /// The customer or subscription id the budget watches.
    pub scope_id: String,
    pub customer_id: CustomerId,
    pub spec: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: AlertId,
    pub kind: String,
    /// None for an alert about the tenant's own setup (a webhook endpoint disabled).
    pub customer_id: Option<CustomerId>,
    pub subscription_id: Option<SubscriptionId>,
    pub status: String,
    pub sentence: String,
    pub details: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub kind: Option<String>,
    pub customer_id: Option<CustomerId>,
    pub status: Option<String>,
}

/// One hourly aggregate row: meter, hour start, cost in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlySpend {
    pub meter: String,
    pub hour: DateTime<Utc>,
    pub cost_minor: i64,
}

const BUDGET_COLUMNS: &str = "id, scope_id, customer_id, spec, created_at";
const ALERT_COLUMNS: &str = "id, kind, customer_id, subscription_id, status, sentence, details, \
                             created_at, updated_at";

fn budget(row: &Row) -> Result<BudgetRow> {
    Ok(BudgetRow {
        id: row.parsed("id")?,
        scope_id: row.text("scope_id")?,
        customer_id: row.parsed("customer_id")?,
        spec: row.text("spec")?,
        created_at: row.at("created_at")?,
    })
}

fn alert(row: &Row) -> Result<AlertRow> {
    let customer_id = row
        .opt_text("customer_id")?
        .map(|c| {
            c.parse()
                .map_err(|e| StoreError::Corrupt(format!("customer_id = `{c}`: {e}")))
        })
        .transpose()?;
    let subscription_id = row
        .opt_text("subscription_id")?
        .map(|s| {
            s.parse()
                .map_err(|e| StoreError::Corrupt(format!("subscription_id = `{s}`: {e}")))
        })
        .transpose()?;
    Ok(AlertRow {
        id: row.parsed("id")?,
        kind: row.text("kind")?,
        customer_id,
        subscription_id,
        status: row.text("status")?,
        sentence: row.text("sentence")?,
        details: row.text("details")?,
        created_at: row.at("created_at")?,
        updated_at: row.at("updated_at")?,
    })
}

/// The multi-row insert of `rows` into `usage_records` that skips ids already stored,
/// answering the ids it wrote if `returning`.
fn usage_insert<'q>(
    dialect: Dialect,
    tenant: &'q str,
    at: i64,
    rows: &'q [UsageRow<'q>],
    returning: bool,
) -> Statement {
    let sql = format!(
        "INSERT INTO usage_records (tenant_id, received_at, record_id, subscription_id, meter, \
         resource_id, region, quantity, unit, cost_minor, currency, usage_start, usage_end) \
         VALUES {} ON CONFLICT (tenant_id, record_id) DO NOTHING{}",
        Params::new(dialect).rows(rows.len(), 13),
        if returning {
            " RETURNING record_id"
        } else {
            ""
        }
    );
    let mut query = Statement::new(sql);
    for r in rows {
        query = query
            .bind(tenant)
            .bind(at)
            .bind(r.record_id)
            .bind(r.subscription_id.to_string())
            .bind(&r.meter)
            .bind(r.resource_id)
            .bind(r.region)
            .bind(&r.quantity)
            .bind(r.unit)
            .bind(r.cost_minor)
            .bind(r.currency)
            .bind(micros(r.usage_start))
            .bind(micros(r.usage_end));
    }
    query
}

impl Tx {
    /// Inserts the records whose `record_id` the tenant does not have yet and answers, row by
    /// row, whether it was new; a re-sent record is left as it was. Within `rows`, the first of
    /// a repeated id wins.
    pub async fn insert_usage_records(
        &mut self,
        tenant: TenantId,
        rows: &[UsageRow<'_>],
        at: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let mut fresh = Vec::with_capacity(rows.len());
        let tenant = tenant.to_string();
        let at = micros(at);
        for chunk in rows.chunks(rows_per_statement(13, 0)) {
            // Re-sent records are rare, and `RETURNING` every new id costs a row copied out per
            // record (the largest result of a usage batch). So the chunk goes in
            // under a savepoint and only the count is checked; when it falls short, the insert is
            // undone and repeated with `RETURNING` to learn which records were already stored.
            self.execute(Statement::new("SAVEPOINT usage_records"))
                .await?;
            let all_new = self
                .execute(usage_insert(self.dialect, &tenant, at, chunk, false))
                .await?
                == chunk.len() as u64;
            if all_new {
                self.execute(Statement::new("RELEASE usage_records"))
                    .await?;
                fresh.resize(fresh.len() + chunk.len(), true);
                continue;
            }
            self.execute(Statement::new("ROLLBACK TO usage_records"))
                .await?;
            self.execute(Statement::new("RELEASE usage_records"))
                .await?;
            let mut inserted = HashSet::with_capacity(chunk.len());
            for row in self
                .fetch_all(usage_insert(self.dialect, &tenant, at, chunk, true))
                .await?
            {
                inserted.insert(row.text("record_id")?);
            }
            fresh.extend(chunk.iter().map(|r| inserted.remove(r.record_id)));
        }
        Ok(fresh)
    }

    /// Adds each bucket's cost to its hourly aggregate and answers the buckets' new totals.
    /// The buckets must be distinct (PostgreSQL refuses to update a row twice in a statement).
    pub async fn add_hourly_usage(
        &mut self,
        tenant: TenantId,
        buckets: &[HourlyUsage],
    ) -> Result<Vec<HourlyUsage>> {
        let mut totals = Vec::with_capacity(buckets.len());
        let tenant = tenant.to_string();
        for chunk in buckets.chunks(rows_per_statement(7, 0)) {
            let sql = format!(
                "INSERT INTO usage_hourly (tenant_id, subscription_id, customer_id, meter, hour, \
                 currency, cost_minor) VALUES {} \
                 ON CONFLICT (tenant_id, subscription_id, meter, hour, currency) \
                 DO UPDATE SET cost_minor = usage_hourly.cost_minor + excluded.cost_minor \
                 RETURNING subscription_id, customer_id, meter, hour, currency, cost_minor",
                Params::new(self.dialect).rows(chunk.len(), 7)
            );
            let mut query = Statement::new(sql);
            for b in chunk {
                query = query
                    .bind(tenant.as_str())
                    .bind(b.subscription_id.to_string())
                    .bind(b.customer_id.to_string())
                    .bind(&b.meter)
                    .bind(micros(b.hour))
                    .bind(&b.currency)
                    .bind(b.cost_minor);
            }
            for row in self.fetch_all(query).await? {
                totals.push(HourlyUsage {
                    subscription_id: row.parsed("subscription_id")?,
                    customer_id: row.parsed("customer_id")?,
                    meter: row.text("meter")?,
                    hour: row.at("hour")?,
                    currency: row.text("currency")?,
                    cost_minor: row.int("cost_minor")?,
                });
            }
        }
        Ok(totals)
    }

    /// Adds each (distinct) scope × local day's cost to the daily aggregate.
    pub async fn add_daily_usage(&mut self, tenant: TenantId, days: &[PeriodUsage]) -> Result<()> {
        self.add_period_usage(tenant, "usage_daily", "day", days)
            .await
    }

    /// Adds each (distinct) scope × local month's cost to the monthly aggregate.
    pub async fn add_monthly_usage(
        &mut self,
        tenant: TenantId,
        months: &[PeriodUsage],
    ) -> Result<()> {
        self.add_period_usage(tenant, "usage_monthly", "month", months)
            .await
    }

    async fn add_period_usage(
        &mut self,
        tenant: TenantId,
        table: &str,
        column: &str,
        periods: &[PeriodUsage],
    ) -> Result<()> {
        let tenant = tenant.to_string();
        for chunk in periods.chunks(rows_per_statement(5, 0)) {
            let sql = format!(
                "INSERT INTO {table} (tenant_id, scope_id, {column}, currency, cost_minor) \
                 VALUES {} ON CONFLICT (tenant_id, scope_id, {column}, currency) \
                 DO UPDATE SET cost_minor = {table}.cost_minor + excluded.cost_minor",
                Params::new(self.dialect).rows(chunk.len(), 5)
            );
            let mut query = Statement::new(sql);
            for p in chunk {
                query = query
                    .bind(tenant.as_str())
                    .bind(&p.scope_id)
                    .bind(&p.period)
                    .bind(&p.currency)
                    .bind(p.cost_minor);
            }
            self.execute(query).await?;
        }
        Ok(())
    }

    /// Hourly values of `meter` across the tenant's other subscriptions since `since` (at most
    /// `limit`): the population a new series' cold start is compared with.
    pub async fn meter_population(
        &mut self,
        tenant: TenantId,
        except: SubscriptionId,
        meter: &str,
        currency: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<i64>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT cost_minor FROM usage_hourly WHERE tenant_id = $1 AND meter = $2 \
             AND currency = $3 AND hour >= $4 AND subscription_id <> $6 \
             ORDER BY hour DESC LIMIT $5",
                )
                .bind(tenant.to_string())
                .bind(meter)
                .bind(currency)
                .bind(micros(since))
                .bind(i64::from(limit))
                .bind(except.to_string()),
            )
            .await?;
        rows.iter().map(|r| r.int("cost_minor")).collect()
    }

    /// Hourly spend of a customer or subscription in `[from, to)`.
    pub async fn hourly_spend(
        &mut self,
        tenant: TenantId,
        scope_id: &str,
        currency: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HourlySpend>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT meter, hour, cost_minor FROM usage_hourly WHERE tenant_id = $1 \
             AND (customer_id = $2 OR subscription_id = $2) AND currency = $3 \
             AND hour >= $4 AND hour < $5 ORDER BY hour",
                )
                .bind(tenant.to_string())
                .bind(scope_id)
                .bind(currency)
                .bind(micros(from))
                .bind(micros(to)),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HourlySpend {
                    meter: r.text("meter")?,
                    hour: r.at("hour")?,
                    cost_minor: r.int("cost_minor")?,
                })
            })
            .collect()
    }

    /// A scope's spend in a local month (`2026-03`), in minor units.
    pub async fn monthly_spend(
        &mut self,
        tenant: TenantId,
        scope_id: &str,
        month: &str,
        currency: &str,
    ) -> Result<i64> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "SELECT cost_minor FROM usage_monthly WHERE tenant_id = $1 AND scope_id = $2 \
             AND month = $3 AND currency = $4",
                )
                .bind(tenant.to_string())
                .bind(scope_id)
                .bind(month)
                .bind(currency),
            )
            .await?;
        Ok(row.map(|r| r.int("cost_minor")).transpose()?.unwrap_or(0))
    }

    /// A scope's spend per local day in `[from_day, to_day]` (ISO dates), oldest first.
    pub async fn daily_spend(
        &mut self,
        tenant: TenantId,
        scope_id: &str,
        currency: &str,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<(String, i64)>> {
        let rows = self.fetch_all(Statement::new("SELECT day, cost_minor FROM usage_daily WHERE tenant_id = $1 AND scope_id = $2 \
             AND currency = $3 AND day >= $4 AND day <= $5 ORDER BY day",)
        .bind(tenant.to_string())
        .bind(scope_id)
        .bind(currency)
        .bind(from_day)
        .bind(to_day))
        .await?;
        rows.iter()
            .map(|r| Ok((r.text("day")?, r.int("cost_minor")?)))
            .collect()
    }

    /// Spend per local day in `[from_day, to_day]` (ISO dates) of each of `scopes` (customer
    /// or subscription ids), as `(scope, currency, day, minor units)`.
    pub async fn daily_spend_of(
        &mut self,
        tenant: TenantId,
        scopes: &[String],
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<(String, String, String, i64)>> {
        let mut days = Vec::new();
        for chunk in scopes.chunks(rows_per_statement(1, 3)) {
            let mut p = Params::new(self.dialect);
            let sql = format!(
                "SELECT scope_id, currency, day, cost_minor FROM usage_daily WHERE tenant_id = {} \
                 AND day >= {} AND day <= {} AND scope_id IN ({}) ORDER BY scope_id, day",
                p.next(),
                p.next(),
                p.next(),
                p.list(chunk.len())
            );
            let mut query = Statement::new(sql)
                .bind(tenant.to_string())
                .bind(from_day)
                .bind(to_day);
            for scope in chunk {
                query = query.bind(scope);
            }
            for r in self.fetch_all(query).await? {
                days.push((
                    r.text("scope_id")?,
                    r.text("currency")?,
                    r.text("day")?,
                    r.int("cost_minor")?,
                ));
            }
        }
        Ok(days)
    }

    /// The `(subscription, dimension, value)` triples (meter class, region) the subscriptions
    /// have used.
    pub async fn usage_footprints(
        &mut self,
        tenant: TenantId,
        subscriptions: &[SubscriptionId],
    ) -> Result<Vec<(SubscriptionId, String, String)>> {
        let mut footprints = Vec::new();
        for chunk in subscriptions.chunks(rows_per_statement(1, 1)) {
            let mut p = Params::new(self.dialect);
            let sql = format!(
                "SELECT subscription_id, dimension, value FROM usage_footprint \
                 WHERE tenant_id = {} AND subscription_id IN ({})",
                p.next(),
                p.list(chunk.len())
            );
            let mut query = Statement::new(sql).bind(tenant.to_string());
            for subscription in chunk {
                query = query.bind(subscription.to_string());
            }
            for r in self.fetch_all(query).await? {
                footprints.push((
                    r.parsed("subscription_id")?,
                    r.text("dimension")?,
                    r.text("value")?,
                ));
            }
        }
        Ok(footprints)
    }

    /// Records `(subscription, dimension, value)` triples as used; known ones stay as they were.
    pub async fn add_usage_footprints(
        &mut self,
        tenant: TenantId,
        footprints: &[(SubscriptionId, &str, String)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tenant = tenant.to_string();
        let at = micros(at);
        for chunk in footprints.chunks(rows_per_statement(5, 0)) {
            let sql = format!(
                "INSERT INTO usage_footprint (tenant_id, first_seen, subscription_id, dimension, \
                 value) VALUES {} \
                 ON CONFLICT (tenant_id, subscription_id, dimension, value) DO NOTHING",
                Params::new(self.dialect).rows(chunk.len(), 5)
            );
            let mut query = Statement::new(sql);
            for (subscription, dimension, value) in chunk {
                query = query
                    .bind(tenant.as_str())
                    .bind(at)
                    .bind(subscription.to_string())
                    .bind(*dimension)
                    .bind(value);
            }
            self.execute(query).await?;
        }
        Ok(())
    }

    /// The detector states (JSON) of the subscription × meter series that have one, locked on
    /// PostgreSQL so two batches cannot both learn from the same old state. Locked in key
    /// order, so concurrent batches cannot deadlock on each other's series. (SQLite takes row
    /// values on the right of `IN` only from a subquery, hence `VALUES`.)
    pub async fn series_states(
        &mut self,
        tenant: TenantId,
        series: &[(SubscriptionId, String)],
    ) -> Result<HashMap<(SubscriptionId, String), String>> {
        let mut states = HashMap::with_capacity(series.len());
        for chunk in series.chunks(rows_per_statement(2, 1)) {
            let mut p = Params::new(self.dialect);
            let sql = format!(
                "SELECT subscription_id, meter, state FROM usage_series WHERE tenant_id = {} \
                 AND (subscription_id, meter) IN (VALUES {}) ORDER BY subscription_id, meter{}",
                p.next(),
                p.rows(chunk.len(), 2),
                self.dialect.for_update()
            );
            let mut query = Statement::new(sql).bind(tenant.to_string());
            for (subscription, meter) in chunk {
                query = query.bind(subscription.to_string()).bind(meter);
            }
            for r in self.fetch_all(query).await? {
                states.insert(
                    (r.parsed("subscription_id")?, r.text("meter")?),
                    r.text("state")?,
                );
            }
        }
        Ok(states)
    }

    /// Stores `(subscription, meter, state JSON)` for distinct series.
    pub async fn save_series_states(
        &mut self,
        tenant: TenantId,
        states: &[(SubscriptionId, &str, String)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tenant = tenant.to_string();
        let at = micros(at);
        for chunk in states.chunks(rows_per_statement(5, 0)) {
            let sql = format!(
                "INSERT INTO usage_series (tenant_id, updated_at, subscription_id, meter, state) \
                 VALUES {} ON CONFLICT (tenant_id, subscription_id, meter) \
                 DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                Params::new(self.dialect).rows(chunk.len(), 5)
            );
            let mut query = Statement::new(sql);
            for (subscription, meter, state) in chunk {
                query = query
                    .bind(tenant.as_str())
                    .bind(at)
                    .bind(subscription.to_string())
                    .bind(*meter)
                    .bind(state);
            }
            self.execute(query).await?;
        }
        Ok(())
    }

    pub async fn insert_budget(&mut self, tenant: TenantId, b: &BudgetRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO budgets (tenant_id, {BUDGET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(b.id.to_string())
                .bind(&b.scope_id)
                .bind(b.customer_id.to_string())
                .bind(&b.spec)
                .bind(micros(b.created_at)),
        )
        .await?;
        Ok(())
    }

    pub async fn budget(&mut self, tenant: TenantId, id: BudgetId) -> Result<BudgetRow> {
        let sql = format!("SELECT {BUDGET_COLUMNS} FROM budgets WHERE tenant_id = $1 AND id = $2");
        let row = self
            .fetch_optional(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(id.to_string()),
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        budget(&row)
    }

    pub async fn list_budgets(
        &mut self,
        tenant: TenantId,
        customer: Option<CustomerId>,
        page: &PageRequest,
    ) -> Result<Page<BudgetRow>> {
        let listing = Listing::new(
            format!("SELECT {BUDGET_COLUMNS} FROM budgets"),
            tenant,
            page,
        )
        .matching("customer_id", customer);
        let rows = self.fetch_all(listing.statement()).await?;
        let budgets = rows.iter().map(budget).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(budgets, page, |b| b.id.to_string()))
    }

    /// Every budget watching one of these customers or subscriptions, by id.
    pub async fn budgets_watching(
        &mut self,
        tenant: TenantId,
        scope_ids: &[String],
    ) -> Result<Vec<BudgetRow>> {
        let mut budgets = Vec::new();
        for chunk in scope_ids.chunks(rows_per_statement(1, 1)) {
            let mut p = Params::new(self.dialect);
            let sql = format!(
                "SELECT {BUDGET_COLUMNS} FROM budgets WHERE tenant_id = {} AND scope_id IN ({}) \
                 ORDER BY id",
                p.next(),
                p.list(chunk.len())
            );
            let mut query = Statement::new(sql).bind(tenant.to_string());
            for scope in chunk {
                query = query.bind(scope);
            }
            for row in self.fetch_all(query).await? {
                budgets.push(budget(&row)?);
            }
        }
        Ok(budgets)
    }

    /// The `(percent, basis)` thresholds already alerted for a budget in a period.
    pub async fn alerted_thresholds(
        &mut self,
        tenant: TenantId,
        budget_key: &str,
        period_key: &str,
    ) -> Result<Vec<(i64, String)>> {
        let rows = self.fetch_all(Statement::new("SELECT percent, basis FROM budget_alerted WHERE tenant_id = $1 AND budget_key = $2 \
             AND period_key = $3",)
        .bind(tenant.to_string())
        .bind(budget_key)
        .bind(period_key))
        .await?;
        rows.iter()
            .map(|r| Ok((r.int("percent")?, r.text("basis")?)))
            .collect()
    }

    /// Records a threshold as alerted; `false` when a concurrent batch already did, in which
    /// case no second alert may be raised.
    pub async fn mark_alerted(
        &mut self,
        tenant: TenantId,
        budget_key: &str,
        period_key: &str,
        percent: u16,
        basis: &str,
        alert: AlertId,
    ) -> Result<bool> {
        let done = self.execute(Statement::new("INSERT INTO budget_alerted (tenant_id, budget_key, period_key, percent, basis, alert_id) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, budget_key, period_key, percent, basis) DO NOTHING",)
        .bind(tenant.to_string())
        .bind(budget_key)
        .bind(period_key)
        .bind(i64::from(percent))
        .bind(basis)
        .bind(alert.to_string()))
        .await?;
        Ok(done == 1)
    }

    pub async fn insert_alert(&mut self, tenant: TenantId, a: &AlertRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO alerts (tenant_id, {ALERT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(a.id.to_string())
                .bind(&a.kind)
                .bind(a.customer_id.map(|c| c.to_string()))
                .bind(a.subscription_id.map(|s| s.to_string()))
                .bind(&a.status)
                .bind(&a.sentence)
                .bind(&a.details)
                .bind(micros(a.created_at))
                .bind(micros(a.updated_at)),
        )
        .await?;
        Ok(())
    }

    pub async fn alert(&mut self, tenant: TenantId, id: AlertId) -> Result<AlertRow> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2{}",
            self.dialect.for_update()
        );
        let row = self
            .fetch_optional(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(id.to_string()),
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        alert(&row)
    }

    pub async fn list_alerts(
        &mut self,
        tenant: TenantId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<AlertRow>> {
        let listing = Listing::new(format!("SELECT {ALERT_COLUMNS} FROM alerts"), tenant, page)
            .matching("kind", filter.kind.as_deref())
            .matching("customer_id", filter.customer_id)
            .matching("status", filter.status.as_deref());
        let rows = self.fetch_all(listing.statement()).await?;
        let alerts = rows.iter().map(alert).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(alerts, page, |a| a.id.to_string()))
    }

    pub async fn set_alert_status(
        &mut self,
        tenant: TenantId,
        id: AlertId,
        status: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "UPDATE alerts SET status = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(status)
            .bind(micros(at)),
        )
        .await?;
        Ok(())
    }
}
