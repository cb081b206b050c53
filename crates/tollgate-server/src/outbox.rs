//! The outbox worker: leases due actions, attempts each through its connector, and records the
//! attempt and what comes next. Several workers (in one process or many) can run at once: a
//! lease keeps an action to one of them, and a worker that dies mid-attempt loses its lease when
//! it runs out, so the action is attempted again elsewhere. Receivers get the action id as an
//! idempotency key, which turns "at least once" into "once" at their end.

use std::{sync::Arc, time::Duration};

use rand::Rng;
use serde_json::json;
use tokio::sync::Notify;
use tollgate_core::{
    audit::{Actor, AuditEntry},
    outbox::{ActionKind, ActionStatus, AttemptResult, Backoff, NextStep},
};
use tollgate_store::{ActionRow, FinishedAttempt};

use crate::AppState;

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub backoff: Backoff,
    /// How long a leased action stays with its worker; longer than any single attempt.
    pub lease: Duration,
    /// Actions leased per round trip.
    pub batch: u32,
    /// How often an idle worker looks for due actions without being woken.
    pub poll: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            lease: Duration::from_secs(120),
            batch: 32,
            poll: Duration::from_secs(1),
        }
    }
}

/// Wakes idle workers when a transaction enqueued something, so actions leave at once rather
/// than at the next poll.
#[derive(Debug, Default)]
pub struct Wakeup(Notify);

impl Wakeup {
    pub fn wake(&self) {
        self.0.notify_waiters();
    }
}

/// What one pass over the due actions did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub attempted: usize,
    pub delivered: usize,
    pub skipped: usize,
    pub retrying: usize,
    pub dead: usize,
}

pub struct Worker {
    state: AppState,
    name: String,
}

impl Worker {
    pub fn new(state: AppState) -> Self {
        let name = format!("worker-{}", uuid_suffix());
        Self { state, name }
    }

    /// Attempts every action due now, in batches, until none is left. Jobs and tests call it
    /// directly; `run` calls it in a loop.
    pub async fn drain(&self) -> Result<Pass, tollgate_store::StoreError> {
        let mut pass = Pass::default();
        loop {
            let config = self.state.outbox_config();
            let now = self.state.now();
            let lease_until = now + chrono::Duration::from_std(config.lease).unwrap_or_default();
            let actions = self
                .state
                .store()
                .lease_due_actions(&self.name, now, lease_until, config.batch)
                .await?;
            if actions.is_empty() {
                return Ok(pass);
            }
            for action in actions {
                match self.attempt(action).await? {
                    ActionStatus::Delivered => pass.delivered += 1,
                    ActionStatus::Skipped => pass.skipped += 1,
                    ActionStatus::Pending => pass.retrying += 1,
                    ActionStatus::Dead => pass.dead += 1,
                }
                pass.attempted += 1;
            }
        }
    }

    /// Drains, then waits for a wake-up or the poll interval, until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let wakeup = Arc::clone(self.state.outbox_wakeup());
        loop {
            // Registered before draining, so a wake-up during the drain is not lost.
            let woken = wakeup.0.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.drain().await {
                Ok(pass) if pass.attempted > 0 => tracing::info!(
                    worker = %self.name,
                    attempted = pass.attempted,
                    delivered = pass.delivered,
                    skipped = pass.skipped,
                    retrying = pass.retrying,
                    dead = pass.dead,
                    "outbox pass"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(worker = %self.name, %error, "outbox pass failed"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = woken => {}
                () = tokio::time::sleep(self.state.outbox_config().poll) => {}
            }
        }
    }

    async fn attempt(&self, action: ActionRow) -> Result<ActionStatus, tollgate_store::StoreError> {
        let started_at = self.state.now();
        let result = deliver(&self.state, &action).await;
        let finished_at = self.state.now();
        let attempts = u32::try_from(action.attempts + 1).unwrap_or(u32::MAX);
        let jitter = rand::rng().random::<f64>();
        let next = self.state.outbox_config().backoff.after(
            &result,
            attempts,
            action.created_at,
            finished_at,
            jitter,
        );
        let (status, next_attempt_at) = match next {
            NextStep::Done(status) => (status, None),
            NextStep::RetryAt(at) => (ActionStatus::Pending, Some(at)),
        };
        metrics::counter!("tollgate_outbox_attempts_total", "kind" => action.kind.as_str(), "outcome" => result.outcome()).increment(1);
        let kept = self
            .state
            .store()
            .finish_attempt(
                action.id,
                &FinishedAttempt {
                    worker: self.name.clone(),
                    started_at,
                    finished_at,
                    outcome: result.outcome().to_owned(),
                    detail: result.detail().to_owned(),
                    status,
                    next_attempt_at,
                },
            )
            .await?;
        if kept && status != ActionStatus::Pending {
            self.record_outcome(&action, status, &result).await?;
            if action.kind == ActionKind::Webhook {
                crate::webhooks::settled(&self.state, &action, status).await;
            }
        }
        Ok(status)
    }

    /// Puts the action's end on the audit chain: an analyst reading a customer's trail sees that
    /// the suspension reached the vendor, or that it never did.
    async fn record_outcome(
        &self,
        action: &ActionRow,
        status: ActionStatus,
        result: &AttemptResult,
    ) -> Result<(), tollgate_store::StoreError> {
        let mut tx = self.state.store().begin().await?;
        tx.append_audit(
            action.tenant_id,
            self.state.now(),
            AuditEntry {
                actor: Actor::Job {
                    name: "outbox".into(),
                },
                action: format!("action.{status}"),
                object_id: action.id.to_string(),
                data: json!({
                    "kind": action.kind,
                    "source": action.source,
                    "object_id": action.object_id,
                    "attempts": action.attempts + 1,
                    "detail": result.detail(),
                }),
            },
        )
        .await?;
        tx.commit().await
    }
}

/// One attempt at `action` through the connector its kind goes to.
async fn deliver(state: &AppState, action: &ActionRow) -> AttemptResult {
    match action.kind {
        ActionKind::Webhook => crate::webhooks::deliver(state, action).await,
        ActionKind::Email => crate::email::deliver(state, action).await,
        ActionKind::SubscriptionStatus
        | ActionKind::AzureEntitlement
        | ActionKind::FraudEventStatus
        | ActionKind::SpendingBudget => crate::vendor::deliver(state, action).await,
    }
}

fn uuid_suffix() -> String {
    let bytes: [u8; 6] = rand::rng().random();
    hex::encode(bytes)
}
