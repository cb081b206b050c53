//! The dunning run: finds the customers with something past due or an open episode, asks the
//! core state machine what is due today for each, and does it — one transaction per customer
//! holding the episode, its step rows, subscription status changes, the audit entries and the
//! outbox actions (e-mails, vendor status changes), so either all of a customer's day happens or
//! none of it.
//!
//! Concurrency: a run holds the named job lease `dunning`; besides, every customer is locked
//! (`FOR UPDATE` on PostgreSQL, the write transaction on SQLite) and re-read before acting, an
//! open episode is unique per customer and currency, and a step is unique per episode, so a
//! second run racing on the same customer either sees nothing left to do or fails an insert and
//! rolls that customer back.
//!
//! Writes that lower what a customer owes call [`settle`] in their own transaction, which
//! reactivates and closes at once rather than at the next run.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, LazyLock, Mutex, PoisonError},
    time::Instant,
};

use chrono::NaiveDate;
use chrono_tz::Tz;
use minijinja::{Environment, UndefinedBehavior};
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tollgate_core::{
    ActionId, Currency, CustomerId, EpisodeId, TenantId,
    collections::{
        Account, AccountSnapshot, DunningPolicy, EpisodeState, OpenInvoice, SuspendScope,
        Transition, TransitionKind, amounts, days_past_due, next_transitions, start_of_day,
    },
    customers::{Customer, Subscription, SubscriptionStatus},
    outbox::ActionKind,
    tenancy::Tenant,
    webhooks::EventType,
};
use tollgate_store::{
    DunningPolicyRow, EpisodeRow, EpisodeStatus, NewAction, ScreenBatch, StepRow, StoreError,
    SubscriptionFilter, Tx, page::PageRequest,
};

use crate::{
    AppState,
    api::collections::fold,
    ctx::{Acting, Job, audit_as},
    error::{ApiError, ApiResult},
};

/// The job's name: its lease, its actor on the audit chain, the outbox `source`.
pub const JOB: &str = "dunning";
/// Customers screened per round trip.
const BATCH: usize = 500;
/// Customers stepped at once. Each holds a connection on PostgreSQL; on SQLite they queue for
/// the writer and share its commits.
const PARALLEL_CUSTOMERS: usize = 8;
/// The lease outlives a stalled run by this much, and is renewed every batch.
const LEASE: chrono::Duration = chrono::Duration::minutes(30);

/// Which tenants a run covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    All,
    Tenant(TenantId),
}

/// What the transitions of a run (or one customer) did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Transitions by kind (`remind`, `suspend`, `close`…).
    pub transitions: BTreeMap<String, u64>,
    pub emails: u64,
    /// Customer-facing steps taken for customers without an e-mail address.
    pub emails_without_address: u64,
    pub suspended: u64,
    pub reactivated: u64,
    pub terminated: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        for (kind, n) in &other.transitions {
            *self.transitions.entry(kind.clone()).or_default() += n;
        }
        self.emails += other.emails;
        self.emails_without_address += other.emails_without_address;
        self.suspended += other.suspended;
        self.reactivated += other.reactivated;
        self.terminated += other.terminated;
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunReport {
    /// False when another process held the dunning lease, so this run did nothing.
    pub ran: bool,
    pub tenants: usize,
    /// Customers with something past due or an open episode.
    pub screened: u64,
    /// Customers for whom something happened.
    pub acted: u64,
    /// Customers another run acted on first (rolled back here, nothing lost).
    pub lost_races: u64,
    /// Customers whose step failed (logged; the next run tries again).
    pub failed: u64,
    #[serde(flatten)]
    pub tally: Tally,
    pub elapsed_ms: u64,
}

impl RunReport {
    fn record(&mut self, tenant: &Tenant, (customer, outcome): (Option<CustomerId>, Outcome)) {
        let customer = customer.map_or_else(|| "unknown".to_owned(), |id| id.to_string());
        match outcome {
            Outcome::Idle => {}
            Outcome::Acted(tally) => {
                self.acted += 1;
                self.tally.add(&tally);
            }
            Outcome::LostRace => {
                self.lost_races += 1;
                tracing::info!(job = JOB, tenant = %tenant.slug, %customer, "another run acted on this customer first");
            }
            Outcome::Failed(error) => {
                self.failed += 1;
                tracing::warn!(job = JOB, tenant = %tenant.slug, %customer, %error, "dunning step failed");
            }
        }
    }
}

/// What stepping one customer came to.
enum Outcome {
    Idle,
    Acted(Tally),
    LostRace,
    Failed(String),
}

/// A customer task's result; a task that panicked counts as failed (its transaction was
/// dropped, so rolled back) rather than taking the run down.
fn joined(
    done: Result<(CustomerId, Outcome), tokio::task::JoinError>,
) -> (Option<CustomerId>, Outcome) {
    match done {
        Ok((customer, outcome)) => (Some(customer), outcome),
        Err(error) => (
            None,
            Outcome::Failed(format!("the customer's task ended abnormally: {error}")),
        ),
    }
}

/// One customer's day in its own transaction, committed when anything was done.
async fn step_and_commit(
    state: &AppState,
    job: &Job,
    customer: CustomerId,
    policies: &Policies,
    day: Day,
) -> Outcome {
    let mut tally = Tally::default();
    let mut tx = match state.store().begin().await {
        Ok(tx) => tx,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    match step_customer(job, &mut tx, customer, policies, day, &mut tally).await {
        Ok(false) => Outcome::Idle,
        Ok(true) => match tx.commit().await {
            Ok(()) => {
                state.outbox_wakeup().wake();
                Outcome::Acted(tally)
            }
            Err(error) => Outcome::Failed(format!("commit: {error}")),
        },
        Err(StepError::LostRace) => Outcome::LostRace,
        Err(StepError::Failed(error)) => Outcome::Failed(error.to_string()),
    }
}

/// Runs dunning for `scope` on `as_of` (default: today in each tenant's time zone) under the
/// `dunning` lease. Another process holding the lease makes this a no-op (`ran: false`).
pub async fn run(state: &AppState, scope: Scope, as_of: Option<NaiveDate>) -> ApiResult<RunReport> {
    run_with_progress(state, scope, as_of, |_| {}).await
}

/// [`run`], calling `progress` after every batch of customers.
pub async fn run_with_progress(
    state: &AppState,
    scope: Scope,
    as_of: Option<NaiveDate>,
    progress: impl FnMut(&RunReport),
) -> ApiResult<RunReport> {
    let owner = format!("{JOB}-{:016x}", rand::rng().random::<u64>());
    let now = state.now();
    if !state
        .store()
        .try_lease_job(JOB, &owner, now, now + LEASE)
        .await?
    {
        tracing::info!(
            job = JOB,
            "another process holds the dunning lease; not running"
        );
        return Ok(RunReport::default());
    }
    let result = sweep(state, scope, as_of, Some(&owner), progress).await;
    if let Err(error) = state.store().release_job(JOB, &owner).await {
        tracing::warn!(job = JOB, %error, "could not release the dunning lease; it will expire");
    }
    result
}

/// The run without the lease (tests use it to show that row locks and unique steps alone keep
/// two concurrent runs from doing anything twice). With `lease`, renews it every batch and stops
/// if it was lost.
pub async fn sweep(
    state: &AppState,
    scope: Scope,
    as_of: Option<NaiveDate>,
    lease: Option<&str>,
    mut progress: impl FnMut(&RunReport),
) -> ApiResult<RunReport> {
    let started = Instant::now();
    let store = state.store();
    let tenants = {
        let mut read = store.read().await?;
        match scope {
            Scope::All => read.all_tenants().await?,
            Scope::Tenant(id) => vec![read.tenant(id).await?],
        }
    };
    let mut report = RunReport {
        ran: true,
        tenants: tenants.len(),
        ..RunReport::default()
    };
    for tenant in tenants {
        let tz = time_zone(&tenant)?;
        let today = as_of.unwrap_or_else(|| state.now().with_timezone(&tz).date_naive());
        let day = Day { today, tz };
        let job = Job {
            tenant: tenant.id,
            name: JOB,
            now: state.now(),
        };
        let mut tx = store.begin().await?;
        let active = ensure_policy(&job, &mut tx).await?;
        tx.commit().await?;
        let policies = Arc::new(Policies::new(tenant.id, active.version));
        let candidates = store
            .read()
            .await?
            .dunning_candidates(tenant.id, start_of_day(today, tz))
            .await?;
        for batch in candidates.chunks(BATCH) {
            if let Some(owner) = lease {
                let now = state.now();
                if !store.try_lease_job(JOB, owner, now, now + LEASE).await? {
                    tracing::warn!(job = JOB, "the dunning lease was taken over; stopping");
                    return Ok(report);
                }
            }
            let mut read = store.read().await?;
            let screen = read.dunning_screen(tenant.id, batch).await?;
            let due = screen_due(&mut read, &screen, batch, &policies, day).await?;
            drop(read);
            report.screened += batch.len() as u64;
            // Customers are independent, so several are stepped at once: their transactions
            // share a group commit on SQLite and run side by side on PostgreSQL.
            let mut running = JoinSet::new();
            for customer in due {
                if running.len() >= PARALLEL_CUSTOMERS
                    && let Some(done) = running.join_next().await
                {
                    report.record(&tenant, joined(done));
                }
                let (state, job, policies) = (state.clone(), job.clone(), Arc::clone(&policies));
                running.spawn(async move {
                    let job = Job {
                        now: state.now(),
                        ..job
                    };
                    let outcome = step_and_commit(&state, &job, customer, &policies, day).await;
                    (customer, outcome)
                });
            }
            while let Some(done) = running.join_next().await {
                report.record(&tenant, joined(done));
            }
            tracing::info!(
                job = JOB,
                tenant = %tenant.slug,
                as_of = %today,
                screened = report.screened,
                acted = report.acted,
                "dunning batch done"
            );
            progress(&report);
        }
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        job = JOB,
        tenants = report.tenants,
        screened = report.screened,
        acted = report.acted,
        lost_races = report.lost_races,
        failed = report.failed,
        emails = report.tally.emails,
        suspended = report.tally.suspended,
        reactivated = report.tally.reactivated,
        elapsed_ms = report.elapsed_ms,
        "dunning run finished"
    );
    Ok(report)
}

/// Called by every write that can lower what a customer owes (payment, credit note, void,
/// chargeback), inside its transaction once the new open amounts are saved and the customer is
/// locked: when the past-due amount is down to the grace amount, what dunning suspended is
/// reactivated and the episode closes, in that same transaction.
pub async fn settle(who: &impl Acting, tx: &mut Tx, account: &Account) -> ApiResult<()> {
    let tenant = who.tenant();
    let Some(episode) = tx
        .open_episode_for_update(tenant, account.customer_id(), account.currency())
        .await?
    else {
        return Ok(());
    };
    let tz = time_zone(&tx.tenant(tenant).await?)?;
    let day = Day {
        today: who.now().with_timezone(&tz).date_naive(),
        tz,
    };
    let job = Job {
        tenant,
        name: JOB,
        now: who.now(),
    };
    let customer = tx.customer(tenant, account.customer_id()).await?;
    let policy = Policies::new(tenant, episode.policy_version)
        .version(tx, episode.policy_version)
        .await?;
    let snapshot = account.snapshot();
    let transitions = next_transitions(
        &episode.state,
        &snapshot,
        &policy,
        customer.trust_tier,
        day.today,
        day.tz,
    )
    .map_err(|e| ApiError::Internal(format!("dunning episode {}: {e}", episode.id)))?;
    let settles = !transitions.is_empty()
        && transitions
            .iter()
            .all(|t| matches!(t.kind, TransitionKind::Reactivate | TransitionKind::Close));
    if !settles {
        return Ok(());
    }
    act(
        &job,
        tx,
        &customer,
        Some(episode),
        &snapshot,
        &policy,
        &transitions,
        day,
        &mut Tally::default(),
    )
    .await
    .map_err(|e| match e {
        StepError::LostRace => ApiError::Internal("dunning step recorded twice".into()),
        StepError::Failed(error) => error,
    })
}

/// The tenant's active dunning policy, storing the shipped default as version 1 on first use.
pub(crate) async fn ensure_policy(who: &impl Acting, tx: &mut Tx) -> ApiResult<DunningPolicyRow> {
    if let Some(active) = tx.active_dunning_policy(who.tenant()).await? {
        return Ok(active);
    }
    // Taking the publishing lock decides a race between two first uses: the loser finds the
    // winner's version 1 once the lock is its.
    if tx.next_dunning_policy_version(who.tenant()).await? == 1 {
        store_shipped_default(who, tx).await?;
    }
    tx.active_dunning_policy(who.tenant())
        .await?
        .ok_or_else(|| ApiError::Internal("no active dunning policy after storing one".into()))
}

/// Stores the shipped default as version 1; the caller holds the publishing lock and has seen
/// no version yet.
pub(crate) async fn store_shipped_default(
    who: &impl Acting,
    tx: &mut Tx,
) -> ApiResult<DunningPolicyRow> {
    let mut policy = DunningPolicy::default_policy();
    policy.version = 1;
    policy.created_at = who.now();
    let document = serde_json::to_string(&policy).map_err(|e| ApiError::Internal(e.to_string()))?;
    let row = tx
        .insert_dunning_policy(who.tenant(), 1, &document, &who.actor().label(), who.now())
        .await?;
    audit_as(
        who,
        tx,
        "dunning_policy.published",
        "1",
        json!({ "version": 1, "shipped_default": true }),
    )
    .await?;
    Ok(row)
}

/// The calendar day a run acts on, in the tenant's time zone.
#[derive(Debug, Clone, Copy)]
struct Day {
    today: NaiveDate,
    tz: Tz,
}

fn time_zone(tenant: &Tenant) -> ApiResult<Tz> {
    tenant.time_zone.parse().map_err(|_| {
        ApiError::Internal(format!(
            "tenant {} has an unknown time zone `{}`",
            tenant.id, tenant.time_zone
        ))
    })
}

/// The policy versions one tenant's run needs, each parsed once.
struct Policies {
    tenant: TenantId,
    active: i64,
    parsed: Mutex<HashMap<i64, Arc<DunningPolicy>>>,
}

impl Policies {
    fn new(tenant: TenantId, active: i64) -> Self {
        Self {
            tenant,
            active,
            parsed: Mutex::default(),
        }
    }

    /// Two tasks missing the same version both parse it; the second insert is harmless.
    async fn version(&self, tx: &mut Tx, version: i64) -> ApiResult<Arc<DunningPolicy>> {
        if let Some(policy) = self.cached(version) {
            return Ok(policy);
        }
        let row = tx.dunning_policy(self.tenant, version).await?;
        let policy = Arc::new(DunningPolicy::from_json(&row.document).map_err(|e| {
            ApiError::Internal(format!(
                "stored dunning policy v{version} of {}: {e}",
                self.tenant
            ))
        })?);
        self.parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(version, Arc::clone(&policy));
        Ok(policy)
    }

    fn cached(&self, version: i64) -> Option<Arc<DunningPolicy>> {
        self.parsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&version)
            .cloned()
    }

    async fn active(&self, tx: &mut Tx) -> ApiResult<Arc<DunningPolicy>> {
        self.version(tx, self.active).await
    }
}

/// The customers of `batch` for whom the state machine has something to do today, judged from
/// the cached open amounts; each is re-read and re-judged under its lock before anything is
/// done.
async fn screen_due(
    tx: &mut Tx,
    screen: &ScreenBatch,
    batch: &[CustomerId],
    policies: &Policies,
    day: Day,
) -> ApiResult<Vec<CustomerId>> {
    let mut invoices: HashMap<(CustomerId, Currency), Vec<OpenInvoice>> = HashMap::new();
    for invoice in &screen.open_invoices {
        invoices
            .entry((invoice.customer_id, invoice.open.currency))
            .or_default()
            .push(invoice.clone());
    }
    let episodes: HashMap<(CustomerId, Currency), &EpisodeRow> = screen
        .episodes
        .iter()
        .map(|e| ((e.customer_id, e.currency), e))
        .collect();
    let mut due = Vec::new();
    for &customer in batch {
        let Some(&tier) = screen.tiers.get(&customer) else {
            continue;
        };
        let mut currencies: Vec<Currency> = invoices
            .keys()
            .chain(episodes.keys())
            .filter(|(c, _)| *c == customer)
            .map(|(_, currency)| *currency)
            .collect();
        currencies.sort_by_key(|c| c.to_string());
        currencies.dedup();
        for currency in currencies {
            let snapshot = AccountSnapshot {
                customer_id: customer,
                currency,
                open_invoices: invoices
                    .get(&(customer, currency))
                    .cloned()
                    .unwrap_or_default(),
                failed_attempts: screen
                    .failed_attempts
                    .get(&(customer, currency))
                    .copied()
                    .unwrap_or(0),
            };
            let (state, policy) = match episodes.get(&(customer, currency)) {
                Some(episode) => (
                    episode.state.clone(),
                    policies.version(tx, episode.policy_version).await?,
                ),
                None => (EpisodeState::default(), policies.active(tx).await?),
            };
            let transitions = next_transitions(&state, &snapshot, &policy, tier, day.today, day.tz)
                .map_err(|e| ApiError::Internal(format!("screening {customer}: {e}")))?;
            if !transitions.is_empty() {
                due.push(customer);
                break;
            }
        }
    }
    Ok(due)
}

/// Why a customer's day was given up.
enum StepError {
    /// Another run recorded the same episode or step first.
    LostRace,
    Failed(ApiError),
}

impl From<ApiError> for StepError {
    fn from(error: ApiError) -> Self {
        StepError::Failed(error)
    }
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        StepError::Failed(error.into())
    }
}

fn raced(error: StoreError) -> StepError {
    if error.is_unique_violation() {
        StepError::LostRace
    } else {
        error.into()
    }
}

/// One customer's dunning day: locks the customer, rebuilds each currency's account from its
/// facts and does what is due. True when anything was done (the caller commits).
async fn step_customer(
    job: &Job,
    tx: &mut Tx,
    id: CustomerId,
    policies: &Policies,
    day: Day,
    tally: &mut Tally,
) -> Result<bool, StepError> {
    let tenant = job.tenant;
    let customer = tx.customer_for_update(tenant, id).await?;
    let mut acted = false;
    for currency in tx.account_currencies(tenant, id).await? {
        let episode = tx.open_episode_for_update(tenant, id, currency).await?;
        let (account, _) = fold(tx, tenant, id, currency).await?;
        let snapshot = account.snapshot();
        let (state, policy) = match &episode {
            Some(e) => (
                e.state.clone(),
                policies.version(tx, e.policy_version).await?,
            ),
            None => (EpisodeState::default(), policies.active(tx).await?),
        };
        let transitions = next_transitions(
            &state,
            &snapshot,
            &policy,
            customer.trust_tier,
            day.today,
            day.tz,
        )
        .map_err(|e| ApiError::Internal(format!("dunning {id} in {currency}: {e}")))?;
        if transitions.is_empty() {
            continue;
        }
        act(
            job,
            tx,
            &customer,
            episode,
            &snapshot,
            &policy,
            &transitions,
            day,
            tally,
        )
        .await?;
        acted = true;
    }
    Ok(acted)
}

/// Records and carries out `transitions` for one customer and currency.
#[allow(clippy::too_many_arguments)]
async fn act(
    job: &Job,
    tx: &mut Tx,
    customer: &Customer,
    episode: Option<EpisodeRow>,
    snapshot: &AccountSnapshot,
    policy: &DunningPolicy,
    transitions: &[Transition],
    day: Day,
    tally: &mut Tally,
) -> Result<(), StepError> {
    let tenant = job.tenant;
    let Some(first) = transitions.first() else {
        return Ok(());
    };
    let mut row = match episode {
        Some(row) => row,
        None => {
            let row = EpisodeRow {
                id: EpisodeId::generate(),
                customer_id: customer.id,
                currency: snapshot.currency,
                status: EpisodeStatus::Open,
                policy_version: i64::from(first.policy_version),
                tier: first.tier,
                state: EpisodeState::default(),
                step: -1,
                step_action: None,
                opened_on: day.today,
                opened_at: job.now,
                updated_at: job.now,
                closed_at: None,
            };
            tx.insert_episode(tenant, &row).await.map_err(raced)?;
            row
        }
    };
    let mut seq = tx.next_step_seq(row.id).await?;
    for t in transitions {
        let changed = match t.kind {
            TransitionKind::Suspend => suspend(job, tx, &row, customer, t).await?,
            TransitionKind::Terminate => terminate(job, tx, &row, customer, t).await?,
            TransitionKind::Reactivate => reactivate(job, tx, &row, t).await?,
            _ => Vec::new(),
        };
        match t.kind {
            TransitionKind::Suspend => tally.suspended += changed.len() as u64,
            TransitionKind::Terminate => tally.terminated += changed.len() as u64,
            TransitionKind::Reactivate => tally.reactivated += changed.len() as u64,
            _ => {}
        }
        let mut note = None;
        if let Some(template) = email_template(t) {
            match &customer.email {
                Some(to) => {
                    let letter = Letter {
                        customer_name: &customer.legal_name,
                        snapshot,
                        changed: &changed,
                        notice_lead_days: policy.notice_lead_days,
                        day,
                    };
                    let email = letter.render(template, t)?;
                    enqueue(
                        job,
                        tx,
                        ActionKind::Email,
                        customer.id.to_string(),
                        json!({
                            "to": to,
                            "subject": email.subject,
                            "text": email.text,
                            "customer_id": customer.id,
                            "template": format!("dunning.{}", t.kind),
                        }),
                    )
                    .await?;
                    tally.emails += 1;
                }
                None => {
                    note = Some("the customer has no e-mail address: nobody was written to".into());
                    tally.emails_without_address += 1;
                }
            }
        }
        let outcome = match t.kind {
            TransitionKind::Superseded => "superseded",
            TransitionKind::Reactivate | TransitionKind::Close => "done",
            _ => "executed",
        };
        let subscription_ids = changed.iter().map(|s| s.id).collect::<Vec<_>>();
        tx.insert_dunning_step(
            tenant,
            row.id,
            &StepRow {
                seq,
                step: t.step.map(|i| i64::try_from(i).unwrap_or(i64::MAX)),
                kind: t.kind,
                outcome: outcome.to_owned(),
                on: t.on,
                reasons: t.reasons.clone(),
                message: t.message.clone(),
                subscription_ids: subscription_ids.clone(),
                note: note.clone(),
                created_at: job.now,
            },
        )
        .await
        .map_err(raced)?;
        seq += 1;
        audit_as(
            job,
            tx,
            &format!("dunning.{}", t.kind),
            row.id,
            json!({
                "customer_id": customer.id,
                "currency": row.currency,
                "policy_version": t.policy_version,
                "tier": t.tier,
                "step": t.step.map(|i| i + 1),
                "on": t.on,
                "reasons": t.reasons,
                "message": t.message,
                "subscription_ids": subscription_ids,
                "note": note,
            }),
        )
        .await?;
        if t.kind != TransitionKind::Superseded {
            let data = json!({
                "episode_id": row.id,
                "customer_id": customer.id,
                "currency": row.currency,
                "kind": t.kind,
                "step": t.step.map(|i| i + 1),
                "on": t.on,
                "policy_version": t.policy_version,
                "reasons": t.reasons,
                "message": t.message,
                "subscription_ids": subscription_ids,
            });
            crate::webhooks::publish(tx, tenant, EventType::DunningStep, data, job.now).await?;
        }
        tracing::info!(
            job = JOB,
            tenant = %tenant,
            customer = %customer.id,
            episode = %row.id,
            kind = %t.kind,
            step = t.step.map(|i| i + 1),
            "{}",
            t.message
        );
        *tally.transitions.entry(t.kind.to_string()).or_default() += 1;
        if t.kind == TransitionKind::Close {
            // The closed episode keeps the state it ended in, for the record.
            row.status = EpisodeStatus::Closed;
            row.closed_at = Some(job.now);
            tx.end_pauses(tenant, row.id, &job.actor().label(), job.now)
                .await?;
        } else {
            row.state.record(t);
        }
        if outcome == "executed"
            && let Some(index) = t.step
        {
            let index = i64::try_from(index).unwrap_or(i64::MAX);
            if index > row.step {
                row.step = index;
                row.step_action = Some(t.kind.to_string());
            }
        }
    }
    row.updated_at = job.now;
    tx.update_episode(tenant, &row).await?;
    Ok(())
}

async fn enqueue(
    job: &Job,
    tx: &mut Tx,
    kind: ActionKind,
    object_id: String,
    payload: Value,
) -> ApiResult<()> {
    tx.enqueue_action(
        job.tenant,
        &NewAction {
            id: ActionId::generate(),
            kind,
            source: JOB.to_owned(),
            object_id,
            payload,
            not_before: job.now,
        },
        job.now,
    )
    .await?;
    Ok(())
}

/// Moves one subscription to `status` inside Tollgate, audits it and tells the vendor connector.
async fn change_status(
    job: &Job,
    tx: &mut Tx,
    subscription: &Subscription,
    status: SubscriptionStatus,
    episode: EpisodeId,
    t: &Transition,
) -> ApiResult<()> {
    let (before, after) = tx
        .change_subscription_status(
            job.tenant,
            subscription.id,
            status,
            Some(t.message.clone()),
            &job.actor().label(),
            job.now,
        )
        .await?;
    let event = match status {
        SubscriptionStatus::Active => EventType::SubscriptionReactivated,
        SubscriptionStatus::Suspended => EventType::SubscriptionSuspended,
        SubscriptionStatus::Terminated => EventType::SubscriptionTerminated,
    };
    audit_as(
        job,
        tx,
        event.as_str(),
        subscription.id,
        json!({ "from": before.status, "to": after.status, "reason": t.message, "episode_id": episode }),
    )
    .await?;
    let data = json!({ "subscription": after, "from": before.status, "reason": t.message });
    crate::webhooks::publish(tx, job.tenant, event, data, job.now).await?;
    enqueue(
        job,
        tx,
        ActionKind::SubscriptionStatus,
        subscription.id.to_string(),
        json!({
            "subscription_id": subscription.id,
            "vendor_subscription_id": subscription.vendor_subscription_id,
            "customer_id": subscription.customer_id,
            "status": status,
            "reason": t.message,
        }),
    )
    .await
}

async fn customer_subscriptions(
    tx: &mut Tx,
    tenant: TenantId,
    customer: CustomerId,
) -> ApiResult<Vec<Subscription>> {
    let filter = SubscriptionFilter {
        customer_id: Some(customer),
        ..SubscriptionFilter::default()
    };
    let mut page = PageRequest {
        after: None,
        limit: tollgate_store::page::MAX_LIMIT,
    };
    let mut all = Vec::new();
    loop {
        let got = tx.list_subscriptions(tenant, &filter, &page).await?;
        all.extend(got.data);
        match got.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => return Ok(all),
        }
    }
}

/// Suspends what the step covers and holds it for the episode. A subscription already
/// suspended by another open episode is held too (both must let go before it comes back); one
/// suspended by hand is left to whoever suspended it.
async fn suspend(
    job: &Job,
    tx: &mut Tx,
    episode: &EpisodeRow,
    customer: &Customer,
    t: &Transition,
) -> ApiResult<Vec<Subscription>> {
    let tenant = job.tenant;
    let targets = match t.scope.unwrap_or(SuspendScope::All) {
        SuspendScope::OverdueOnly => {
            let mut found = Vec::new();
            for id in &t.subscription_ids {
                found.push(tx.subscription(tenant, *id).await?);
            }
            found
        }
        SuspendScope::All => customer_subscriptions(tx, tenant, customer.id).await?,
    };
    let mut changed = Vec::new();
    for subscription in targets {
        if subscription.customer_id != customer.id {
            continue;
        }
        match subscription.status {
            SubscriptionStatus::Active => {
                change_status(
                    job,
                    tx,
                    &subscription,
                    SubscriptionStatus::Suspended,
                    episode.id,
                    t,
                )
                .await?;
                tx.hold_suspension(tenant, episode.id, subscription.id, job.now)
                    .await?;
                changed.push(subscription);
            }
            SubscriptionStatus::Suspended => {
                if tx
                    .suspension_held_elsewhere(tenant, subscription.id, episode.id)
                    .await?
                {
                    tx.hold_suspension(tenant, episode.id, subscription.id, job.now)
                        .await?;
                }
            }
            SubscriptionStatus::Terminated => {}
        }
    }
    Ok(changed)
}

async fn terminate(
    job: &Job,
    tx: &mut Tx,
    episode: &EpisodeRow,
    customer: &Customer,
    t: &Transition,
) -> ApiResult<Vec<Subscription>> {
    let mut changed = Vec::new();
    for subscription in customer_subscriptions(tx, job.tenant, customer.id).await? {
        if subscription.status != SubscriptionStatus::Terminated {
            change_status(
                job,
                tx,
                &subscription,
                SubscriptionStatus::Terminated,
                episode.id,
                t,
            )
            .await?;
            changed.push(subscription);
        }
    }
    tx.release_suspensions(job.tenant, episode.id, job.now)
        .await?;
    Ok(changed)
}

/// Lets go of what the episode held; each subscription no other open episode holds comes back.
async fn reactivate(
    job: &Job,
    tx: &mut Tx,
    episode: &EpisodeRow,
    t: &Transition,
) -> ApiResult<Vec<Subscription>> {
    let mut changed = Vec::new();
    for id in tx
        .release_suspensions(job.tenant, episode.id, job.now)
        .await?
    {
        let subscription = tx.subscription(job.tenant, id).await?;
        if subscription.status == SubscriptionStatus::Suspended
            && !tx
                .suspension_held_elsewhere(job.tenant, id, episode.id)
                .await?
        {
            change_status(
                job,
                tx,
                &subscription,
                SubscriptionStatus::Active,
                episode.id,
                t,
            )
            .await?;
            changed.push(subscription);
        }
    }
    Ok(changed)
}

/// The shipped e-mail templates, by the names the default policy's steps use. The first line
/// of each is the subject, the rest (after a blank line) the text.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "payment-reminder",
        include_str!("../../templates/email/payment-reminder.txt"),
    ),
    (
        "payment-reminder-2",
        include_str!("../../templates/email/payment-reminder-2.txt"),
    ),
    (
        "final-notice",
        include_str!("../../templates/email/final-notice.txt"),
    ),
    (
        "suspended-overdue",
        include_str!("../../templates/email/suspended-overdue.txt"),
    ),
    (
        "suspended-all",
        include_str!("../../templates/email/suspended-all.txt"),
    ),
    (
        "terminated",
        include_str!("../../templates/email/terminated.txt"),
    ),
    (
        "handed-off",
        include_str!("../../templates/email/handed-off.txt"),
    ),
    (
        "reactivated",
        include_str!("../../templates/email/reactivated.txt"),
    ),
];

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("the shipped e-mail templates parse (checked by a unit test)");
    }
    env
});

/// The template a transition writes to the customer with, if it writes at all: the step's own
/// when Tollgate ships one by that name, else the one for its kind. Notices and reactivations
/// always write; enforcement steps write when the policy gives them a template.
fn email_template(t: &Transition) -> Option<&'static str> {
    let fallback = match t.kind {
        TransitionKind::Remind => "payment-reminder",
        TransitionKind::FinalNotice => "final-notice",
        TransitionKind::Reactivate => "reactivated",
        TransitionKind::Suspend if t.template.is_some() => match t.scope {
            Some(SuspendScope::OverdueOnly) => "suspended-overdue",
            _ => "suspended-all",
        },
        TransitionKind::Terminate if t.template.is_some() => "terminated",
        TransitionKind::HandOff if t.template.is_some() => "handed-off",
        _ => return None,
    };
    let named = t
        .template
        .as_deref()
        .and_then(|name| TEMPLATES.iter().find(|(n, _)| *n == name))
        .map(|(n, _)| *n);
    Some(named.unwrap_or(fallback))
}

struct Email {
    subject: String,
    text: String,
}

/// What an e-mail is written from.
struct Letter<'a> {
    customer_name: &'a str,
    snapshot: &'a AccountSnapshot,
    /// The subscriptions the transition changed.
    changed: &'a [Subscription],
    notice_lead_days: u32,
    day: Day,
}

impl Letter<'_> {
    fn render(&self, template: &str, t: &Transition) -> ApiResult<Email> {
        let currency = self.snapshot.currency;
        let day = self.day;
        let mut past_due = rust_decimal::Decimal::ZERO;
        let mut invoices = Vec::new();
        for invoice in &self.snapshot.open_invoices {
            let days = days_past_due(invoice.due_at, day.today, day.tz);
            if days < 1 || invoice.open.amount <= rust_decimal::Decimal::ZERO {
                continue;
            }
            past_due += invoice.open.amount;
            invoices.push(json!({
                "number": invoice.number,
                "due_date": invoice.due_at.with_timezone(&day.tz).date_naive(),
                "open": amounts::display(invoice.open.amount, currency),
                "days_past_due": days,
            }));
        }
        let context = json!({
            "customer_name": self.customer_name,
            "customer_id": self.snapshot.customer_id,
            "currency": currency,
            "past_due": amounts::display(past_due, currency),
            "invoices": invoices,
            "subscriptions": self
                .changed
                .iter()
                .map(|s| s.vendor_subscription_id.clone())
                .collect::<Vec<_>>(),
            "step": t.step.map(|i| i + 1),
            "notice_lead_days": self.notice_lead_days,
            "message": t.message,
        });
        let rendered = ENVIRONMENT
            .get_template(template)
            .and_then(|tmpl| tmpl.render(context))
            .map_err(|e| ApiError::Internal(format!("e-mail template {template}: {e}")))?;
        let (subject, text) = rendered.split_once("\n\n").unwrap_or((&rendered, ""));
        Ok(Email {
            subject: subject.trim().to_owned(),
            text: format!("{}\n", text.trim_end()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_renders_with_a_subject() {
        let transition = Transition {
            kind: TransitionKind::FinalNotice,
            on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            policy_version: 1,
            tier: tollgate_core::customers::TrustTier::New,
            step: Some(2),
            scope: None,
            subscription_ids: Vec::new(),
            template: Some("final-notice".into()),
            reasons: Vec::new(),
            message: "Invoice INV-1 is 14 days past due".into(),
        };
        let snapshot = AccountSnapshot {
            customer_id: CustomerId::generate(),
            currency: "EUR".parse().unwrap(),
            open_invoices: Vec::new(),
            failed_attempts: 0,
        };
        let letter = Letter {
            customer_name: "Contoso GmbH",
            snapshot: &snapshot,
            changed: &[],
            notice_lead_days: 3,
            day: Day {
                today: transition.on,
                tz: chrono_tz::UTC,
            },
        };
        for (name, _) in TEMPLATES {
            let email = letter.render(name, &transition).unwrap();
            assert!(
                !email.subject.is_empty() && !email.subject.contains('\n'),
                "{name}"
            );
            assert!(
                email.text.contains("Contoso GmbH"),
                "{name}: {}",
                email.text
            );
        }
    }
}
