//! The transactional outbox: actions are enqueued inside the caller's transaction, leased by a
//! worker, attempted, and finished or rescheduled; every attempt is kept. Also the named job
//! leases that keep a run (dunning) to one process at a time.

use chrono::{DateTime, Utc};
use tollgate_core::{
    ActionId, TenantId,
    outbox::{ActionKind, ActionStatus},
};

use crate::{
    Result, Store, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    statement::{Row, Statement},
};

/// An action to enqueue.
#[derive(Debug, Clone)]
pub struct NewAction {
    pub id: ActionId,
    pub kind: ActionKind,
    pub source: String,
    pub object_id: String,
    pub payload: serde_json::Value,
    /// Not attempted before this time (the enqueuing transaction's "now" for at once).
    pub not_before: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionRow {
    pub id: ActionId,
    pub tenant_id: TenantId,
    pub kind: ActionKind,
    pub source: String,
    pub object_id: String,
    pub payload: serde_json::Value,
    pub status: ActionStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub attempt: i64,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: String,
    pub detail: String,
}

/// Which actions to list.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub kind: Option<ActionKind>,
    pub status: Option<ActionStatus>,
    pub object_id: Option<String>,
}

/// How an attempt ended, as the store records it.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: String,
    pub detail: String,
    /// The action's status after the attempt, and for `Pending` when to try next.
    pub status: ActionStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, tenant_id, kind, source, object_id, payload, status, attempts, \
                       next_attempt_at, last_error, created_at, finished_at";

fn action(row: &Row) -> Result<ActionRow> {
    Ok(ActionRow {
        id: row.parsed("id")?,
        tenant_id: row.parsed("tenant_id")?,
        kind: row.parsed("kind")?,
        source: row.text("source")?,
        object_id: row.text("object_id")?,
        payload: row.json("payload")?,
        status: row.parsed("status")?,
        attempts: row.int("attempts")?,
        next_attempt_at: row.at("next_attempt_at")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.at("created_at")?,
        finished_at: row.opt_at("finished_at")?,
    })
}

impl Tx {
    /// Writes `action` as part of this transaction: it exists exactly when the change that
    /// called for it commits.
    pub async fn enqueue_action(
        &mut self,
        tenant: TenantId,
        action: &NewAction,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO outbox ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, NULL, $9, NULL)"
        );
        self.execute(
            Statement::new(sql)
                .bind(action.id.to_string())
                .bind(tenant.to_string())
                .bind(action.kind.as_str())
                .bind(&action.source)
                .bind(&action.object_id)
                .bind(action.payload.to_string())
                .bind(ActionStatus::Pending.as_str())
                .bind(micros(action.not_before))
                .bind(micros(now)),
        )
        .await?;
        self.enqueued = true;
        Ok(())
    }

    pub async fn action(&mut self, tenant: TenantId, id: ActionId) -> Result<ActionRow> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE tenant_id = $1 AND id = $2");
        action(&self.row_by_id(sql, tenant, &id.to_string()).await?)
    }

    pub async fn list_actions(
        &mut self,
        tenant: TenantId,
        filter: &ActionFilter,
        page: &PageRequest,
    ) -> Result<Page<ActionRow>> {
        let listing = Listing::new(format!("SELECT {COLUMNS} FROM outbox"), tenant, page)
            .matching("kind", filter.kind.map(|k| k.as_str()))
            .matching("status", filter.status.map(|s| s.as_str()))
            .matching("object_id", filter.object_id.as_deref());
        let rows = self.fetch_all(listing.statement()).await?;
        let actions = rows.iter().map(action).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(actions, page, |a| a.id.to_string()))
    }

    pub async fn action_attempts(&mut self, id: ActionId) -> Result<Vec<AttemptRow>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT attempt, worker, started_at, finished_at, outcome, detail \
             FROM outbox_attempts WHERE action_id = $1 ORDER BY attempt",
                )
                .bind(id.to_string()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AttemptRow {
                    attempt: row.int("attempt")?,
                    worker: row.text("worker")?,
                    started_at: row.at("started_at")?,
                    finished_at: row.at("finished_at")?,
                    outcome: row.text("outcome")?,
                    detail: row.text("detail")?,
                })
            })
            .collect()
    }

    /// Puts a finished (delivered, skipped or dead) action back in the queue for a manual
    /// re-send; the receiver sees the same id, so a re-send it already has is a no-op there.
    pub async fn requeue_action(
        &mut self,
        tenant: TenantId,
        id: ActionId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "UPDATE outbox SET status = $3, next_attempt_at = $4, finished_at = NULL, \
             lease_owner = NULL, lease_until = NULL WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(ActionStatus::Pending.as_str())
            .bind(micros(now)),
        )
        .await?;
        self.enqueued = true;
        Ok(())
    }
}

impl Store {
    /// Leases up to `limit` due actions to `worker` until `lease_until`. A pending action is due
    /// when its next attempt time has come and no live lease holds it; a worker that died while
    /// holding a lease loses it when the lease runs out, which is what makes delivery
    /// at-least-once across crashes.
    pub async fn lease_due_actions(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ActionRow>> {
        let mut tx = self.begin().await?;
        let skip_locked = self.dialect.skip_locked();
        let sql = format!(
            "SELECT id FROM outbox WHERE status = $1 AND next_attempt_at <= $2 \
             AND (lease_until IS NULL OR lease_until <= $2) \
             ORDER BY next_attempt_at, id LIMIT $3{skip_locked}"
        );
        let ids = tx
            .fetch_all(
                Statement::new(sql)
                    .bind(ActionStatus::Pending.as_str())
                    .bind(micros(now))
                    .bind(i64::from(limit)),
            )
            .await?
            .iter()
            .map(|row| row.text("id"))
            .collect::<Result<Vec<_>>>()?;
        let mut leased = Vec::with_capacity(ids.len());
        for id in ids {
            let sql = format!(
                "UPDATE outbox SET lease_owner = $2, lease_until = $3 WHERE id = $1 \
                 AND status = $4 AND (lease_until IS NULL OR lease_until <= $5) \
                 RETURNING {COLUMNS}"
            );
            let row = tx
                .fetch_optional(
                    Statement::new(sql)
                        .bind(&id)
                        .bind(worker)
                        .bind(micros(lease_until))
                        .bind(ActionStatus::Pending.as_str())
                        .bind(micros(now)),
                )
                .await?;
            if let Some(row) = row {
                leased.push(action(&row)?);
            }
        }
        tx.commit().await?;
        Ok(leased)
    }

    /// Records an attempt and moves the action on, if `worker` still holds its lease. Returns
    /// false when the lease was lost (it ran out and another worker took the action): the
    /// attempt is still recorded, the other worker's outcome decides the status.
    pub async fn finish_attempt(&self, id: ActionId, done: &FinishedAttempt) -> Result<bool> {
        let mut tx = self.begin().await?;
        let attempt = tx
            .fetch_one(
                Statement::new(
                    "SELECT COALESCE(MAX(attempt), 0) + 1 AS attempt FROM outbox_attempts \
                     WHERE action_id = $1",
                )
                .bind(id.to_string()),
            )
            .await?
            .int("attempt")?;
        tx.execute(
            Statement::new(
                "INSERT INTO outbox_attempts (action_id, attempt, worker, started_at, finished_at, \
             outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id.to_string())
            .bind(attempt)
            .bind(&done.worker)
            .bind(micros(done.started_at))
            .bind(micros(done.finished_at))
            .bind(&done.outcome)
            .bind(&done.detail),
        )
        .await?;
        let finished = (done.status != ActionStatus::Pending).then_some(done.finished_at);
        let last_error = (done.status != ActionStatus::Delivered).then_some(done.detail.clone());
        let updated = tx
            .execute(
                Statement::new(
                    "UPDATE outbox SET status = $3, attempts = attempts + 1, \
             next_attempt_at = COALESCE($4, next_attempt_at), last_error = $5, finished_at = $6, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                )
                .bind(id.to_string())
                .bind(&done.worker)
                .bind(done.status.as_str())
                .bind(done.next_attempt_at.map(micros))
                .bind(last_error)
                .bind(finished.map(micros)),
            )
            .await?;
        tx.commit().await?;
        Ok(updated == 1)
    }

    /// Takes the named job lease for `owner` until `until` if it is free or expired (or already
    /// `owner`'s). Exactly one of several processes asking at once gets it.
    pub async fn try_lease_job(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let lock = self.dialect.for_update();
        let sql = format!("SELECT owner, until FROM job_leases WHERE name = $1{lock}");
        let current = tx.fetch_optional(Statement::new(sql).bind(name)).await?;
        let taken = match current {
            None => {
                let inserted = tx
                    .execute(
                        Statement::new(
                            "INSERT INTO job_leases (name, owner, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                        )
                        .bind(name)
                        .bind(owner)
                        .bind(micros(until)),
                    )
                    .await?;
                inserted == 1
            }
            Some(row) if row.text("owner")? == owner || row.int("until")? <= micros(now) => {
                tx.execute(
                    Statement::new("UPDATE job_leases SET owner = $2, until = $3 WHERE name = $1")
                        .bind(name)
                        .bind(owner)
                        .bind(micros(until)),
                )
                .await?;
                true
            }
            Some(_) => false,
        };
        tx.commit().await?;
        Ok(taken)
    }

    /// Gives the lease back early, if `owner` still holds it.
    pub async fn release_job(&self, name: &str, owner: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.execute(
            Statement::new("DELETE FROM job_leases WHERE name = $1 AND owner = $2")
                .bind(name)
                .bind(owner),
        )
        .await?;
        tx.commit().await
    }
}
