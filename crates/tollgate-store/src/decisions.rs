//! Decisions and the facts behind them: sign-ups, payment methods, orders, the keys that link
//! customers, and the events velocity windows count.

use chrono::{DateTime, Utc};
use tollgate_core::{CustomerId, DecisionId, TenantId};

use crate::{
    Result, Tx,
    lookup::Lookup,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    sql::Params,
    statement::{Row, Statement},
};

/// A decision as stored. JSON columns stay text here; the server owns their shapes.
#[derive(Debug, Clone)]
pub struct DecisionRow {
    pub id: DecisionId,
    pub customer_id: CustomerId,
    pub kind: String,
    /// What was decided on: the customer, payment method or order id.
    pub subject_id: String,
    pub verdict: String,
    pub score: i64,
    pub policy_version: String,
    pub decision: String,
    pub facts: String,
    pub features: String,
    pub shadows: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub customer_id: Option<CustomerId>,
    pub kind: Option<String>,
    pub verdict: Option<String>,
}

/// Counts of one velocity key over the sliding windows the signals use.
/// A velocity key's events in the windows before a decision, counted over its newest
/// [`tollgate_core::signals::COUNT_CAP`] events: a count at the cap means "at least".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub last_1h: u32,
    pub last_24h: u32,
    pub last_7d: u32,
    /// Sum of the events' amounts over the last 24 hours, in minor units.
    pub amount_24h: i64,
}

const DECISION_COLUMNS: &str = "id, customer_id, kind, subject_id, verdict, score, policy_version, \
                                decision, facts, features, shadows, created_at";

fn decision(row: &Row) -> Result<DecisionRow> {
    Ok(DecisionRow {
        id: row.parsed("id")?,
        customer_id: row.parsed("customer_id")?,
        kind: row.text("kind")?,
        subject_id: row.text("subject_id")?,
        verdict: row.text("verdict")?,
        score: row.int("score")?,
        policy_version: row.text("policy_version")?,
        decision: row.text("decision")?,
        facts: row.text("facts")?,
        features: row.text("features")?,
        shadows: row.text("shadows")?,
        created_at: row.at("created_at")?,
    })
}

impl Tx {
    pub async fn insert_signup(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        facts: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO signups (tenant_id, customer_id, facts, created_at) VALUES {}",
            Params::new(self.dialect).rows(1, 4)
        );
        self.write(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(customer.to_string())
                .bind(facts)
                .bind(micros(at)),
        )
        .await
    }

    /// The sign-up facts a customer was opened with, if it came in through `/v1/signups`.
    pub async fn signup_facts(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Option<String>> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "SELECT facts FROM signups WHERE tenant_id = $1 AND customer_id = $2",
                )
                .bind(tenant.to_string())
                .bind(customer.to_string()),
            )
            .await?;
        row.map(|r| r.text("facts")).transpose()
    }

    pub async fn insert_decision(&mut self, tenant: TenantId, d: &DecisionRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO decisions (tenant_id, {DECISION_COLUMNS}) VALUES {}",
            Params::new(self.dialect).rows(1, 13)
        );
        self.write(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(d.id.to_string())
                .bind(d.customer_id.to_string())
                .bind(&d.kind)
                .bind(&d.subject_id)
                .bind(&d.verdict)
                .bind(d.score)
                .bind(&d.policy_version)
                .bind(&d.decision)
                .bind(&d.facts)
                .bind(&d.features)
                .bind(&d.shadows)
                .bind(micros(d.created_at)),
        )
        .await
    }

    pub async fn decision(&mut self, tenant: TenantId, id: DecisionId) -> Result<DecisionRow> {
        let sql =
            format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE tenant_id = $1 AND id = $2");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        decision(&row)
    }

    pub async fn list_decisions(
        &mut self,
        tenant: TenantId,
        filter: &DecisionFilter,
        page: &PageRequest,
    ) -> Result<Page<DecisionRow>> {
        let listing = Listing::new(
            format!("SELECT {DECISION_COLUMNS} FROM decisions"),
            tenant,
            page,
        )
        .matching("customer_id", filter.customer_id)
        .matching("kind", filter.kind.as_deref())
        .matching("verdict", filter.verdict.as_deref());
        let rows = self.fetch_all(listing.statement()).await?;
        let decisions = rows.iter().map(decision).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(decisions, page, |d| d.id.to_string()))
    }

    /// Decisions made in `[from, to)`, oldest first, `limit` at a time after `after`; backtests
    /// stream through them page by page.
    pub async fn decisions_between(
        &mut self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<DecisionId>,
        limit: u32,
    ) -> Result<Vec<DecisionRow>> {
        let sql = format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE tenant_id = $1 AND created_at >= $2 \
             AND created_at < $3 AND id > $4 ORDER BY id LIMIT $5"
        );
        let rows = self
            .fetch_all(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(micros(from))
                    .bind(micros(to))
                    .bind(after.map(|a| a.to_string()).unwrap_or_default())
                    .bind(i64::from(limit)),
            )
            .await?;
        rows.iter().map(decision).collect()
    }

    /// Remembers that `customer` used each `(kind, value)`, in one statement.
    pub async fn add_link_keys(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        keys: &[(&str, String)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO link_keys (tenant_id, kind, value, customer_id, created_at) VALUES {} \
             ON CONFLICT (tenant_id, kind, value, customer_id) DO NOTHING",
            Params::new(self.dialect).rows(keys.len(), 5)
        );
        let mut insert = Statement::new(sql);
        for (kind, value) in keys {
            insert = insert
                .bind(tenant.to_string())
                .bind(*kind)
                .bind(value)
                .bind(customer.to_string())
                .bind(micros(at));
        }
        self.write(insert).await
    }

    /// Records velocity events `(kind, key, amount in minor units)` at `at`, in one statement.
    pub async fn record_velocity(
        &mut self,
        tenant: TenantId,
        events: &[(&str, &str, i64)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO velocity_events (tenant_id, kind, key, at, amount_minor) VALUES {}",
            Params::new(self.dialect).rows(events.len(), 5)
        );
        let mut insert = Statement::new(sql);
        for (kind, key, amount_minor) in events {
            insert = insert
                .bind(tenant.to_string())
                .bind(*kind)
                .bind(*key)
                .bind(micros(at))
                .bind(*amount_minor);
        }
        self.write(insert).await
    }

    /// Events of each `(kind, key)` in the hour, day and week before `now`: one statement, an
    /// indexed range scan per key.
    pub async fn velocity(
        &mut self,
        tenant: TenantId,
        keys: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<Vec<WindowCounts>> {
        let lookup = Lookup {
            velocity: keys,
            ..Lookup::default()
        };
        Ok(self.look_up(tenant, &lookup, now).await?.velocity)
    }
}
