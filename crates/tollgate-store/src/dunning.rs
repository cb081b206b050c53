//! Dunning: policy versions, episodes with the steps they took, the subscriptions they hold
//! suspended, pauses, and the candidate scan of the daily run. Every step row is unique per
//! episode, and an open episode is unique per customer and currency, so two runs racing on the
//! same customer cannot both act: the second one's insert fails and it rolls back.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use tollgate_core::{
    Currency, CustomerId, EpisodeId, Money, SubscriptionId, TenantId,
    collections::{EpisodeState, OpenInvoice, PauseReason, ReasonCode, TransitionKind},
    customers::TrustTier,
};

use crate::{
    Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros, to_json},
    statement::{Row, Statement},
};

#[derive(Debug, Clone)]
pub struct DunningPolicyRow {
    pub version: i64,
    pub document: String,
    /// `active` or `inactive`.
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Whether an episode is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpisodeStatus {
    Open,
    Closed,
}

impl EpisodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeStatus::Open => "open",
            EpisodeStatus::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EpisodeRow {
    pub id: EpisodeId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub status: EpisodeStatus,
    pub policy_version: i64,
    pub tier: TrustTier,
    pub state: EpisodeState,
    /// The highest ladder index executed, -1 before any.
    pub step: i64,
    pub step_action: Option<String>,
    pub opened_on: NaiveDate,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// One transition an episode recorded.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub seq: i64,
    pub step: Option<i64>,
    pub kind: TransitionKind,
    /// `executed`, `superseded` or `done` (reactivate, close).
    pub outcome: String,
    pub on: NaiveDate,
    pub reasons: Vec<ReasonCode>,
    pub message: String,
    pub subscription_ids: Vec<SubscriptionId>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl StepRow {
    /// What makes the row unique within its episode.
    fn key(&self) -> String {
        match self.step {
            Some(index) => format!("step:{index}"),
            None => self.kind.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PauseRow {
    pub id: String,
    pub episode_id: EpisodeId,
    pub reason: PauseReason,
    pub until: NaiveDate,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub ended_by: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct EpisodeFilter {
    pub status: Option<EpisodeStatus>,
    /// Ladder index of the last executed step.
    pub step: Option<i64>,
    pub customer_id: Option<CustomerId>,
}

/// What the run needs to tell, without a transaction per customer, whom anything may be due
/// for: open invoices from the cached open amounts, tiers, open episodes and failed attempts.
#[derive(Debug, Default)]
pub struct ScreenBatch {
    pub open_invoices: Vec<OpenInvoice>,
    pub tiers: HashMap<CustomerId, TrustTier>,
    pub episodes: Vec<EpisodeRow>,
    pub failed_attempts: HashMap<(CustomerId, Currency), u32>,
}

const EPISODE_COLUMNS: &str = "id, customer_id, currency, status, policy_version, tier, state, \
                               step, step_action, opened_on, opened_at, updated_at, closed_at";

fn date(row: &Row, col: &str) -> Result<NaiveDate> {
    row.parsed(col)
}

fn episode(row: &Row) -> Result<EpisodeRow> {
    let status = match row.text("status")?.as_str() {
        "open" => EpisodeStatus::Open,
        "closed" => EpisodeStatus::Closed,
        other => return Err(StoreError::Corrupt(format!("episode status `{other}`"))),
    };
    Ok(EpisodeRow {
        id: row.parsed("id")?,
        customer_id: row.parsed("customer_id")?,
        currency: row.parsed("currency")?,
        status,
        policy_version: row.int("policy_version")?,
        tier: row.parsed("tier")?,
        state: row.json("state")?,
        step: row.int("step")?,
        step_action: row.opt_text("step_action")?,
        opened_on: date(row, "opened_on")?,
        opened_at: row.at("opened_at")?,
        updated_at: row.at("updated_at")?,
        closed_at: row.opt_at("closed_at")?,
    })
}

fn policy(row: &Row) -> Result<DunningPolicyRow> {
    Ok(DunningPolicyRow {
        version: row.int("version")?,
        document: row.text("document")?,
        status: row.text("status")?,
        created_by: row.text("created_by")?,
        created_at: row.at("created_at")?,
    })
}

fn pause(row: &Row) -> Result<PauseRow> {
    Ok(PauseRow {
        id: row.text("id")?,
        episode_id: row.parsed("episode_id")?,
        reason: row.parsed("reason")?,
        until: date(row, "until_date")?,
        note: row.opt_text("note")?,
        created_by: row.text("created_by")?,
        created_at: row.at("created_at")?,
        ended_by: row.opt_text("ended_by")?,
        ended_at: row.opt_at("ended_at")?,
    })
}

const POLICY_COLUMNS: &str = "version, document, status, created_by, created_at";

impl Tx {
    pub async fn active_dunning_policy(
        &mut self,
        tenant: TenantId,
    ) -> Result<Option<DunningPolicyRow>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM dunning_policies WHERE tenant_id = $1 AND status = 'active'"
        );
        self.fetch_optional(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .as_ref()
            .map(policy)
            .transpose()
    }

    pub async fn dunning_policy(
        &mut self,
        tenant: TenantId,
        version: i64,
    ) -> Result<DunningPolicyRow> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM dunning_policies WHERE tenant_id = $1 AND version = $2"
        );
        let row = self
            .fetch_optional(Statement::new(sql).bind(tenant.to_string()).bind(version))
            .await?
            .ok_or(StoreError::NotFound)?;
        policy(&row)
    }

    /// Every version, newest first.
    pub async fn dunning_policies(&mut self, tenant: TenantId) -> Result<Vec<DunningPolicyRow>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM dunning_policies WHERE tenant_id = $1 ORDER BY version DESC"
        );
        self.fetch_all(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .iter()
            .map(policy)
            .collect()
    }

    /// Orders concurrent publishers (the tenant's audit head row is the lock on PostgreSQL;
    /// SQLite's write transaction already excludes them) and returns the next version number.
    pub async fn next_dunning_policy_version(&mut self, tenant: TenantId) -> Result<i64> {
        let lock = self.dialect.for_update();
        let sql = format!("SELECT seq FROM audit_heads WHERE tenant_id = $1{lock}");
        self.fetch_optional(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .ok_or(StoreError::NotFound)?;
        self.fetch_one(Statement::new("SELECT COALESCE(MAX(version), 0) + 1 AS v FROM dunning_policies WHERE tenant_id = $1",)
        .bind(tenant.to_string()))
        .await?
        .int("v")
    }

    /// Stores `document` as `version` and makes it the active one.
    pub async fn insert_dunning_policy(
        &mut self,
        tenant: TenantId,
        version: i64,
        document: &str,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<DunningPolicyRow> {
        self.execute(Statement::new("UPDATE dunning_policies SET status = 'inactive' WHERE tenant_id = $1 AND status = 'active'",)
        .bind(tenant.to_string()))
        .await?;
        self.execute(Statement::new("INSERT INTO dunning_policies (tenant_id, version, document, status, created_by, created_at) \
             VALUES ($1, $2, $3, 'active', $4, $5)",)
        .bind(tenant.to_string())
        .bind(version)
        .bind(document)
        .bind(created_by)
        .bind(micros(at)))
        .await?;
        self.dunning_policy(tenant, version).await
    }

    /// The customer's open episode in `currency`, locked on PostgreSQL until the transaction ends.
    pub async fn open_episode_for_update(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        currency: Currency,
    ) -> Result<Option<EpisodeRow>> {
        let lock = self.dialect.for_update();
        let sql = format!(
            "SELECT {EPISODE_COLUMNS} FROM dunning_episodes WHERE tenant_id = $1 \
             AND customer_id = $2 AND currency = $3 AND status = 'open'{lock}"
        );
        self.fetch_optional(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(customer.to_string())
                .bind(currency.to_string()),
        )
        .await?
        .as_ref()
        .map(episode)
        .transpose()
    }

    pub async fn episode(&mut self, tenant: TenantId, id: EpisodeId) -> Result<EpisodeRow> {
        let sql = format!(
            "SELECT {EPISODE_COLUMNS} FROM dunning_episodes WHERE tenant_id = $1 AND id = $2"
        );
        episode(&self.row_by_id(sql, tenant, &id.to_string()).await?)
    }

    /// The customer's open episodes, by currency.
    pub async fn open_episodes(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<EpisodeRow>> {
        let sql = format!(
            "SELECT {EPISODE_COLUMNS} FROM dunning_episodes WHERE tenant_id = $1 \
             AND customer_id = $2 AND status = 'open' ORDER BY currency"
        );
        self.fetch_all(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(customer.to_string()),
        )
        .await?
        .iter()
        .map(episode)
        .collect()
    }

    /// Opens an episode; a second open episode for the same customer and currency is a unique
    /// violation (a concurrent run got there first).
    pub async fn insert_episode(&mut self, tenant: TenantId, row: &EpisodeRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO dunning_episodes (tenant_id, {EPISODE_COLUMNS}, paused_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(row.id.to_string())
                .bind(row.customer_id.to_string())
                .bind(row.currency.to_string())
                .bind(row.status.as_str())
                .bind(row.policy_version)
                .bind(row.tier.as_str())
                .bind(to_json(&row.state))
                .bind(row.step)
                .bind(row.step_action.clone())
                .bind(row.opened_on.to_string())
                .bind(micros(row.opened_at))
                .bind(micros(row.updated_at))
                .bind(row.closed_at.map(micros))
                .bind(row.state.pause.map(|p| p.until.to_string())),
        )
        .await?;
        Ok(())
    }

    /// Saves the episode's state and the columns derived from it.
    pub async fn update_episode(&mut self, tenant: TenantId, row: &EpisodeRow) -> Result<()> {
        self.execute(
            Statement::new(
                "UPDATE dunning_episodes SET status = $3, state = $4, step = $5, step_action = $6, \
             paused_until = $7, updated_at = $8, closed_at = $9 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.to_string())
            .bind(row.id.to_string())
            .bind(row.status.as_str())
            .bind(to_json(&row.state))
            .bind(row.step)
            .bind(row.step_action.clone())
            .bind(row.state.pause.map(|p| p.until.to_string()))
            .bind(micros(row.updated_at))
            .bind(row.closed_at.map(micros)),
        )
        .await?;
        Ok(())
    }

    pub async fn list_episodes(
        &mut self,
        tenant: TenantId,
        filter: &EpisodeFilter,
        page: &PageRequest,
    ) -> Result<Page<EpisodeRow>> {
        let mut listing = Listing::new(
            format!("SELECT {EPISODE_COLUMNS} FROM dunning_episodes"),
            tenant,
            page,
        )
        .matching("status", filter.status.map(|s| s.as_str()))
        .matching("customer_id", filter.customer_id);
        if let Some(step) = filter.step {
            listing = listing.condition(step, |p| format!("step = {p}"));
        }
        let rows = self.fetch_all(listing.statement()).await?;
        let episodes = rows.iter().map(episode).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(episodes, page, |e| e.id.to_string()))
    }

    /// Records a transition; taking the same step twice in an episode is a unique violation.
    pub async fn insert_dunning_step(
        &mut self,
        tenant: TenantId,
        episode: EpisodeId,
        step: &StepRow,
    ) -> Result<()> {
        self.execute(Statement::new("INSERT INTO dunning_steps (episode_id, step_key, tenant_id, seq, step, kind, outcome, \
             on_date, reasons, message, subscription_ids, note, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",)
        .bind(episode.to_string())
        .bind(step.key())
        .bind(tenant.to_string())
        .bind(step.seq)
        .bind(step.step)
        .bind(step.kind.as_str())
        .bind(&step.outcome)
        .bind(step.on.to_string())
        .bind(to_json(&step.reasons))
        .bind(&step.message)
        .bind(to_json(&step.subscription_ids))
        .bind(step.note.clone())
        .bind(micros(step.created_at)))
        .await?;
        Ok(())
    }

    /// The episode's transitions in the order they happened.
    pub async fn dunning_steps(
        &mut self,
        tenant: TenantId,
        episode: EpisodeId,
    ) -> Result<Vec<StepRow>> {
        self.fetch_all(Statement::new("SELECT seq, step, kind, outcome, on_date, reasons, message, subscription_ids, note, \
             created_at FROM dunning_steps WHERE tenant_id = $1 AND episode_id = $2 ORDER BY seq",)
        .bind(tenant.to_string())
        .bind(episode.to_string()))
        .await?
        .iter()
        .map(|r| {
            Ok(StepRow {
                seq: r.int("seq")?,
                step: r.opt_int("step")?,
                kind: r.parsed("kind")?,
                outcome: r.text("outcome")?,
                on: date(r, "on_date")?,
                reasons: r.json("reasons")?,
                message: r.text("message")?,
                subscription_ids: r.json("subscription_ids")?,
                note: r.opt_text("note")?,
                created_at: r.at("created_at")?,
            })
        })
        .collect()
    }

    /// The next `seq` of the episode's steps.
    pub async fn next_step_seq(&mut self, episode: EpisodeId) -> Result<i64> {
        self.fetch_one(
            Statement::new(
                "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM dunning_steps WHERE episode_id = $1",
            )
            .bind(episode.to_string()),
        )
        .await?
        .int("n")
    }

    /// Notes that `episode` holds `subscription` suspended.
    pub async fn hold_suspension(
        &mut self,
        tenant: TenantId,
        episode: EpisodeId,
        subscription: SubscriptionId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(Statement::new("INSERT INTO dunning_suspensions (episode_id, subscription_id, tenant_id, suspended_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (episode_id, subscription_id) DO NOTHING",)
        .bind(episode.to_string())
        .bind(subscription.to_string())
        .bind(tenant.to_string())
        .bind(micros(at)))
        .await?;
        Ok(())
    }

    /// The subscriptions `episode` still holds suspended.
    pub async fn held_suspensions(
        &mut self,
        tenant: TenantId,
        episode: EpisodeId,
    ) -> Result<Vec<SubscriptionId>> {
        self.fetch_all(
            Statement::new(
                "SELECT subscription_id FROM dunning_suspensions WHERE tenant_id = $1 \
             AND episode_id = $2 AND released_at IS NULL ORDER BY subscription_id",
            )
            .bind(tenant.to_string())
            .bind(episode.to_string()),
        )
        .await?
        .iter()
        .map(|r| r.parsed("subscription_id"))
        .collect()
    }

    /// Lets go of everything `episode` holds and returns what it held.
    pub async fn release_suspensions(
        &mut self,
        tenant: TenantId,
        episode: EpisodeId,
        at: DateTime<Utc>,
    ) -> Result<Vec<SubscriptionId>> {
        let held = self.held_suspensions(tenant, episode).await?;
        self.execute(
            Statement::new(
                "UPDATE dunning_suspensions SET released_at = $3 WHERE tenant_id = $1 \
             AND episode_id = $2 AND released_at IS NULL",
            )
            .bind(tenant.to_string())
            .bind(episode.to_string())
            .bind(micros(at)),
        )
        .await?;
        Ok(held)
    }

    /// Whether an open episode other than `except` holds `subscription` suspended.
    pub async fn suspension_held_elsewhere(
        &mut self,
        tenant: TenantId,
        subscription: SubscriptionId,
        except: EpisodeId,
    ) -> Result<bool> {
        let row = self
            .fetch_one(
                Statement::new(
                    "SELECT COUNT(*) AS n FROM dunning_suspensions s JOIN dunning_episodes e \
             ON e.id = s.episode_id WHERE s.tenant_id = $1 AND s.subscription_id = $2 \
             AND s.episode_id <> $3 AND s.released_at IS NULL AND e.status = 'open'",
                )
                .bind(tenant.to_string())
                .bind(subscription.to_string())
                .bind(except.to_string()),
            )
            .await?;
        Ok(row.int("n")? > 0)
    }

    pub async fn insert_pause(&mut self, tenant: TenantId, pause: &PauseRow) -> Result<()> {
        self.execute(
            Statement::new(
                "INSERT INTO dunning_pauses (id, tenant_id, episode_id, reason, until_date, note, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&pause.id)
            .bind(tenant.to_string())
            .bind(pause.episode_id.to_string())
            .bind(pause.reason.as_str())
            .bind(pause.until.to_string())
            .bind(pause.note.clone())
            .bind(&pause.created_by)
            .bind(micros(pause.created_at)),
        )
        .await?;
        Ok(())
    }

    /// Ends the episode's pause (if one is running) and returns how many were ended.
    pub async fn end_pauses(
        &mut self,
        tenant: TenantId,
        episode: EpisodeId,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        self.execute(
            Statement::new(
                "UPDATE dunning_pauses SET ended_by = $3, ended_at = $4 WHERE tenant_id = $1 \
             AND episode_id = $2 AND ended_at IS NULL",
            )
            .bind(tenant.to_string())
            .bind(episode.to_string())
            .bind(by)
            .bind(micros(at)),
        )
        .await
    }

    /// The episode's pauses, oldest first.
    pub async fn pauses(&mut self, tenant: TenantId, episode: EpisodeId) -> Result<Vec<PauseRow>> {
        self.fetch_all(Statement::new("SELECT id, episode_id, reason, until_date, note, created_by, created_at, ended_by, \
             ended_at FROM dunning_pauses WHERE tenant_id = $1 AND episode_id = $2 \
             ORDER BY created_at, id",)
        .bind(tenant.to_string())
        .bind(episode.to_string()))
        .await?
        .iter()
        .map(pause)
        .collect()
    }

    /// Every customer with something open that fell due before `due_before`, or with an open
    /// episode, in id order: whom the run must look at. One pass over the partial index of
    /// open invoices by due date (`tenant_id || ''` stops SQLite, which plans without
    /// statistics, from preferring `invoices_open` and reading every open invoice); the run
    /// screens the list in batches.
    pub async fn dunning_candidates(
        &mut self,
        tenant: TenantId,
        due_before: DateTime<Utc>,
    ) -> Result<Vec<CustomerId>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT DISTINCT customer_id FROM invoices \
               WHERE tenant_id || '' = $1 AND open_minor > 0 AND due_at < $2 \
             UNION SELECT customer_id FROM dunning_episodes \
               WHERE tenant_id = $1 AND status = 'open' \
             ORDER BY customer_id",
                )
                .bind(tenant.to_string())
                .bind(micros(due_before)),
            )
            .await?;
        rows.iter().map(|r| r.parsed("customer_id")).collect()
    }

    /// Everything the run screens `customers` with, in four queries.
    pub async fn dunning_screen(
        &mut self,
        tenant: TenantId,
        customers: &[CustomerId],
    ) -> Result<ScreenBatch> {
        let mut batch = ScreenBatch::default();
        if customers.is_empty() {
            return Ok(batch);
        }
        let list = (2..customers.len() + 2)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let bind = |sql: String| {
            let mut query = Statement::new(sql).bind(tenant.to_string());
            for id in customers {
                query = query.bind(id.to_string());
            }
            query
        };
        // `+open_minor` keeps SQLite (which plans without statistics) from seeking on the
        // tenant's open invoices (`invoices_open`), every one of them, instead of these customers'.
        for r in self.fetch_all(bind(format!(
            "SELECT id, number, customer_id, currency, open_minor, issued_at, due_at FROM invoices \
             WHERE tenant_id = $1 AND +open_minor > 0 AND customer_id IN ({list})"
        )))
        .await?
        {
            let currency: Currency = r.parsed("currency")?;
            batch.open_invoices.push(OpenInvoice {
                invoice_id: r.parsed("id")?,
                number: r.text("number")?,
                customer_id: r.parsed("customer_id")?,
                issued_at: r.at("issued_at")?,
                due_at: r.at("due_at")?,
                open: Money::from_minor(r.int("open_minor")?, currency),
                subscription_ids: Vec::new(),
            });
        }
        for r in self
            .fetch_all(bind(format!(
                "SELECT id, trust_tier FROM customers WHERE tenant_id = $1 AND id IN ({list})"
            )))
            .await?
        {
            batch.tiers.insert(r.parsed("id")?, r.parsed("trust_tier")?);
        }
        batch.episodes = self
            .fetch_all(bind(format!(
                "SELECT {EPISODE_COLUMNS} FROM dunning_episodes WHERE tenant_id = $1 \
             AND status = 'open' AND customer_id IN ({list})"
            )))
            .await?
            .iter()
            .map(episode)
            .collect::<Result<_>>()?;
        // Failed attempts count in account-log order since the last succeeded payment, as the
        // core account folds them.
        for r in self
            .fetch_all(bind(format!(
                "SELECT f.customer_id, f.currency, COUNT(*) AS failed FROM account_facts f \
             JOIN payments p ON p.id = f.ref_id \
             WHERE f.tenant_id = $1 AND f.kind = 'payment' AND p.status = 'failed' \
             AND f.customer_id IN ({list}) \
             AND f.seq > COALESCE((SELECT MAX(g.seq) FROM account_facts g \
                 JOIN payments q ON q.id = g.ref_id WHERE g.tenant_id = f.tenant_id \
                 AND g.customer_id = f.customer_id AND g.currency = f.currency \
                 AND g.kind = 'payment' AND q.status = 'succeeded'), 0) \
             GROUP BY f.customer_id, f.currency"
            )))
            .await?
        {
            let failed = u32::try_from(r.int("failed")?).unwrap_or(u32::MAX);
            batch
                .failed_attempts
                .insert((r.parsed("customer_id")?, r.parsed("currency")?), failed);
        }
        Ok(batch)
    }
}

/// Bulk seeding for benchmarks: customers with open invoices written straight into the tables
/// (and the account log), many rows per statement.
#[cfg(feature = "testing")]
pub mod seed {
    use chrono::{DateTime, Utc};
    use tollgate_core::{CustomerId, InvoiceId, TenantId, customers::Terms};

    use crate::{
        Result, Store,
        row::{micros, to_json},
        statement::Statement,
    };

    /// One seeded customer's invoices: every one open in full.
    pub struct SeedInvoice {
        pub due_at: DateTime<Utc>,
        pub total_minor: i64,
    }

    const ROWS_PER_STATEMENT: usize = 200;

    impl Store {
        /// Inserts `customers` customers in EUR, each with the invoices `invoices(i)` gives,
        /// in transactions of `per_tx` customers. Returns the customer ids in id order.
        pub async fn seed_receivables(
            &self,
            tenant: TenantId,
            customers: usize,
            per_tx: usize,
            at: DateTime<Utc>,
            invoices: impl Fn(usize) -> Vec<SeedInvoice>,
        ) -> Result<Vec<CustomerId>> {
            let mut ids = Vec::with_capacity(customers);
            let t = tenant.to_string();
            let terms = to_json(&Terms::default());
            for chunk_start in (0..customers).step_by(per_tx.max(1)) {
                let chunk_end = (chunk_start + per_tx).min(customers);
                let mut tx = self.begin().await?;
                let mut customer_rows = Vec::new();
                let mut invoice_rows = Vec::new();
                for i in chunk_start..chunk_end {
                    let id = CustomerId::generate();
                    ids.push(id);
                    customer_rows.push(format!(
                        "('{t}', '{id}', 'bench-{i}', 'Bench Customer {i}', NULL, 'DE', \
                         'billing-{i}@bench.example', NULL, NULL, 'active', 'new', '{terms}', {at}, {at})",
                        at = micros(at)
                    ));
                    for (n, invoice) in invoices(i).into_iter().enumerate() {
                        invoice_rows.push((
                            id,
                            InvoiceId::generate(),
                            format!("B{i}-{n}"),
                            invoice,
                        ));
                    }
                }
                for rows in customer_rows.chunks(ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "INSERT INTO customers (tenant_id, id, external_id, legal_name, \
                         company_domain, country, email, phone, billing_address, status, \
                         trust_tier, terms, created_at, updated_at) VALUES {}",
                        rows.join(", ")
                    );
                    tx.execute(Statement::new(sql)).await?;
                }
                for rows in invoice_rows.chunks(ROWS_PER_STATEMENT) {
                    let invoices = rows
                        .iter()
                        .map(|(customer, id, number, inv)| {
                            format!(
                                "('{id}', '{t}', '{customer}', '{number}', 'EUR', {total}, {total}, \
                                 {issued}, {due}, {at})",
                                total = inv.total_minor,
                                issued = micros(inv.due_at) - 30 * 86_400_000_000,
                                due = micros(inv.due_at),
                                at = micros(at)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    tx.execute(Statement::new(format!(
                        "INSERT INTO invoices (id, tenant_id, customer_id, number, currency, \
                         total_minor, open_minor, issued_at, due_at, created_at) VALUES {invoices}"
                    )))
                    .await?;
                    let lines = rows
                        .iter()
                        .map(|(_, id, _, inv)| {
                            format!("('{id}', 0, 'Azure plan', NULL, '1', {})", inv.total_minor)
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    tx.execute(Statement::new(format!(
                        "INSERT INTO invoice_lines (invoice_id, position, description, \
                         subscription_id, quantity, amount_minor) VALUES {lines}"
                    )))
                    .await?;
                }
                // The account log numbers each customer's facts from 1 in insertion order.
                let mut seq: std::collections::HashMap<CustomerId, i64> = Default::default();
                let facts = invoice_rows
                    .iter()
                    .map(|(customer, id, _, _)| {
                        let n = seq.entry(*customer).or_insert(0);
                        *n += 1;
                        format!(
                            "('{t}', '{customer}', 'EUR', {n}, 'invoice', '{id}', {at})",
                            at = micros(at)
                        )
                    })
                    .collect::<Vec<_>>();
                for rows in facts.chunks(ROWS_PER_STATEMENT) {
                    tx.execute(Statement::new(format!(
                        "INSERT INTO account_facts (tenant_id, customer_id, currency, seq, kind, \
                         ref_id, created_at) VALUES {}",
                        rows.join(", ")
                    )))
                    .await?;
                }
                tx.commit().await?;
            }
            Ok(ids)
        }
    }
}
