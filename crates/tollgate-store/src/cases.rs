//! Notices, quarantined vendor events, cases (with links and timeline) and playbook versions.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tollgate_core::{
    AlertId, CaseId, CustomerId, NoticeId, TenantId,
    cases::{Case, CaseEvent, CaseLink, CaseState, Notice},
};

use crate::{
    Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    policies::{NewVersion, Versioned},
    row::{RowExt, micros, to_json},
    statement::{Row, Statement},
};

const NOTICE_COLUMNS: &str = "id, source, kind, severity, confidence, vendor_event_id, \
    vendor_event_type, vendor_subscription_id, vendor_customer_id, customer_id, subscription_id, \
    summary, resources, details, first_seen_at, last_seen_at, respond_by, case_id, created_at";

const CASE_COLUMNS: &str = "id, customer_id, state, outcome, assignee, title, deadline_at, \
    unmatched, vendor_event_ids, vendor_subscription_id, breach_alert_id, created_at, updated_at, \
    resolved_at";

fn notice(row: &Row) -> Result<Notice> {
    let parsed_opt = |col: &str| -> Result<Option<String>> { row.opt_text(col) };
    Ok(Notice {
        id: row.parsed("id")?,
        source: row.text("source")?,
        kind: row.parsed("kind")?,
        severity: row.parsed("severity")?,
        confidence: parse_opt(parsed_opt("confidence")?)?,
        vendor_event_id: row.opt_text("vendor_event_id")?,
        vendor_event_type: row.opt_text("vendor_event_type")?,
        vendor_subscription_id: row.opt_text("vendor_subscription_id")?,
        vendor_customer_id: row.opt_text("vendor_customer_id")?,
        customer_id: parse_opt(parsed_opt("customer_id")?)?,
        subscription_id: parse_opt(parsed_opt("subscription_id")?)?,
        summary: row.text("summary")?,
        resources: row.json("resources")?,
        details: row.json("details")?,
        first_seen_at: row.opt_at("first_seen_at")?,
        last_seen_at: row.opt_at("last_seen_at")?,
        respond_by: row.at("respond_by")?,
        case_id: parse_opt(parsed_opt("case_id")?)?,
        created_at: row.at("created_at")?,
    })
}

fn parse_opt<T: std::str::FromStr>(text: Option<String>) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    text.map(|t| {
        t.parse()
            .map_err(|e: T::Err| StoreError::Corrupt(format!("`{t}`: {e}")))
    })
    .transpose()
}

fn case(row: &Row) -> Result<Case> {
    Ok(Case {
        id: row.parsed("id")?,
        customer_id: parse_opt(row.opt_text("customer_id")?)?,
        state: row.parsed("state")?,
        outcome: parse_opt(row.opt_text("outcome")?)?,
        assignee: row.opt_text("assignee")?,
        title: row.text("title")?,
        deadline_at: row.opt_at("deadline_at")?,
        unmatched: row.int("unmatched")? != 0,
        vendor_event_ids: row.json("vendor_event_ids")?,
        vendor_subscription_id: row.opt_text("vendor_subscription_id")?,
        breach_alert_id: parse_opt::<AlertId>(row.opt_text("breach_alert_id")?)?,
        created_at: row.at("created_at")?,
        updated_at: row.at("updated_at")?,
        resolved_at: row.opt_at("resolved_at")?,
    })
}

#[derive(Debug, Clone, Default)]
pub struct NoticeFilter {
    pub customer_id: Option<CustomerId>,
    pub kind: Option<String>,
    pub case_id: Option<CaseId>,
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<CaseState>,
    pub customer_id: Option<CustomerId>,
    pub assignee: Option<String>,
    /// Only live cases whose deadline is before this instant.
    pub overdue_at: Option<DateTime<Utc>>,
}

/// A vendor event that could not be read, kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedEvent {
    pub id: String,
    pub source: String,
    pub raw: String,
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

/// A playbook version.
/// A playbook version: the same shape as a rule policy version.
pub type PlaybookRow = crate::PolicyRow;

impl Tx {
    /// Stores a notice; `false` (and nothing written) when a notice for the same vendor event
    /// exists, so a webhook and a poll that race both land safely.
    pub async fn insert_notice(&mut self, tenant: TenantId, n: &Notice) -> Result<bool> {
        let sql = format!(
            "INSERT INTO notices (tenant_id, {NOTICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             ON CONFLICT (tenant_id, vendor_event_id) DO NOTHING"
        );
        let done = self
            .execute(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(n.id.to_string())
                    .bind(&n.source)
                    .bind(n.kind.as_str())
                    .bind(n.severity.as_str())
                    .bind(n.confidence.map(|c| c.as_str()))
                    .bind(n.vendor_event_id.clone())
                    .bind(n.vendor_event_type.clone())
                    .bind(n.vendor_subscription_id.clone())
                    .bind(n.vendor_customer_id.clone())
                    .bind(n.customer_id.map(|c| c.to_string()))
                    .bind(n.subscription_id.map(|s| s.to_string()))
                    .bind(&n.summary)
                    .bind(n.resources.to_string())
                    .bind(n.details.to_string())
                    .bind(n.first_seen_at.map(micros))
                    .bind(n.last_seen_at.map(micros))
                    .bind(micros(n.respond_by))
                    .bind(n.case_id.map(|c| c.to_string()))
                    .bind(micros(n.created_at)),
            )
            .await?;
        Ok(done == 1)
    }

    pub async fn notice(&mut self, tenant: TenantId, id: NoticeId) -> Result<Notice> {
        let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE tenant_id = $1 AND id = $2");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        notice(&row)
    }

    pub async fn notice_by_vendor_event(
        &mut self,
        tenant: TenantId,
        event_id: &str,
    ) -> Result<Option<Notice>> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE tenant_id = $1 AND vendor_event_id = $2"
        );
        self.fetch_optional(Statement::new(sql).bind(tenant.to_string()).bind(event_id))
            .await?
            .as_ref()
            .map(notice)
            .transpose()
    }

    pub async fn list_notices(
        &mut self,
        tenant: TenantId,
        filter: &NoticeFilter,
        page: &PageRequest,
    ) -> Result<Page<Notice>> {
        let listing = Listing::new(
            format!("SELECT {NOTICE_COLUMNS} FROM notices"),
            tenant,
            page,
        )
        .matching("customer_id", filter.customer_id)
        .matching("kind", filter.kind.as_deref())
        .matching("case_id", filter.case_id);
        let rows = self.fetch_all(listing.statement()).await?;
        let data = rows.iter().map(notice).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(data, page, |n| n.id.to_string()))
    }

    pub async fn set_notice_case(
        &mut self,
        tenant: TenantId,
        id: NoticeId,
        case_id: CaseId,
    ) -> Result<()> {
        self.execute(
            Statement::new("UPDATE notices SET case_id = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .bind(case_id.to_string()),
        )
        .await?;
        Ok(())
    }

    /// Keeps a vendor event that could not be read, with the reason, for an operator.
    pub async fn quarantine_vendor_event(
        &mut self,
        tenant: TenantId,
        source: &str,
        raw: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        self.execute(Statement::new("INSERT INTO quarantined_vendor_events (id, tenant_id, source, raw, reason, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",)
        .bind(&id)
        .bind(tenant.to_string())
        .bind(source)
        .bind(raw)
        .bind(reason)
        .bind(micros(at)))
        .await?;
        Ok(id)
    }

    pub async fn quarantined_vendor_events(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<QuarantinedEvent>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT id, source, raw, reason, received_at FROM quarantined_vendor_events \
             WHERE tenant_id = $1 ORDER BY id",
                )
                .bind(tenant.to_string()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(QuarantinedEvent {
                    id: row.text("id")?,
                    source: row.text("source")?,
                    raw: row.text("raw")?,
                    reason: row.text("reason")?,
                    received_at: row.at("received_at")?,
                })
            })
            .collect()
    }

    pub async fn insert_case(&mut self, tenant: TenantId, c: &Case) -> Result<()> {
        let sql = format!(
            "INSERT INTO cases (tenant_id, {CASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(c.id.to_string())
                .bind(c.customer_id.map(|x| x.to_string()))
                .bind(c.state.as_str())
                .bind(c.outcome.map(|o| o.as_str()))
                .bind(c.assignee.clone())
                .bind(&c.title)
                .bind(c.deadline_at.map(micros))
                .bind(i64::from(c.unmatched))
                .bind(to_json(&c.vendor_event_ids))
                .bind(c.vendor_subscription_id.clone())
                .bind(c.breach_alert_id.map(|a| a.to_string()))
                .bind(micros(c.created_at))
                .bind(micros(c.updated_at))
                .bind(c.resolved_at.map(micros)),
        )
        .await?;
        Ok(())
    }

    /// The case, locked against concurrent changes until the transaction ends.
    pub async fn case_for_update(&mut self, tenant: TenantId, id: CaseId) -> Result<Case> {
        let lock = self.dialect.for_update();
        let sql =
            format!("SELECT {CASE_COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2{lock}");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        case(&row)
    }

    pub async fn case(&mut self, tenant: TenantId, id: CaseId) -> Result<Case> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        case(&row)
    }

    /// The customer's newest case that is not resolved, locked.
    pub async fn live_case_for_customer(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Option<Case>> {
        let lock = self.dialect.for_update();
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE tenant_id = $1 AND customer_id = $2 \
             AND state <> 'resolved' ORDER BY id DESC LIMIT 1{lock}"
        );
        self.fetch_optional(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(customer.to_string()),
        )
        .await?
        .as_ref()
        .map(case)
        .transpose()
    }

    /// Writes back everything about a case that changes after it opens.
    pub async fn update_case(&mut self, tenant: TenantId, c: &Case) -> Result<()> {
        self.execute(
            Statement::new(
                "UPDATE cases SET state = $3, outcome = $4, assignee = $5, deadline_at = $6, \
             vendor_event_ids = $7, vendor_subscription_id = $8, updated_at = $9, \
             resolved_at = $10 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.to_string())
            .bind(c.id.to_string())
            .bind(c.state.as_str())
            .bind(c.outcome.map(|o| o.as_str()))
            .bind(c.assignee.clone())
            .bind(c.deadline_at.map(micros))
            .bind(to_json(&c.vendor_event_ids))
            .bind(c.vendor_subscription_id.clone())
            .bind(micros(c.updated_at))
            .bind(c.resolved_at.map(micros)),
        )
        .await?;
        Ok(())
    }

    pub async fn list_cases(
        &mut self,
        tenant: TenantId,
        filter: &CaseFilter,
        page: &PageRequest,
    ) -> Result<Page<Case>> {
        let mut listing = Listing::new(format!("SELECT {CASE_COLUMNS} FROM cases"), tenant, page)
            .matching("state", filter.state.map(|s| s.as_str()))
            .matching("customer_id", filter.customer_id)
            .matching("assignee", filter.assignee.as_deref());
        if let Some(at) = filter.overdue_at {
            listing = listing.condition(micros(at), |p| {
                format!("state <> 'resolved' AND deadline_at < {p}")
            });
        }
        let rows = self.fetch_all(listing.statement()).await?;
        let data = rows.iter().map(case).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(data, page, |c| c.id.to_string()))
    }

    /// Adds an object to a case; linking twice is a no-op.
    pub async fn link_case(
        &mut self,
        tenant: TenantId,
        case_id: CaseId,
        kind: &str,
        object_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "INSERT INTO case_links (tenant_id, case_id, object_kind, object_id, added_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, object_kind, object_id) DO NOTHING",
            )
            .bind(tenant.to_string())
            .bind(case_id.to_string())
            .bind(kind)
            .bind(object_id)
            .bind(micros(at)),
        )
        .await?;
        Ok(())
    }

    pub async fn case_links(&mut self, tenant: TenantId, case_id: CaseId) -> Result<Vec<CaseLink>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT object_kind, object_id, added_at FROM case_links \
             WHERE tenant_id = $1 AND case_id = $2 ORDER BY added_at, object_kind, object_id",
                )
                .bind(tenant.to_string())
                .bind(case_id.to_string()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(CaseLink {
                    kind: row.text("object_kind")?,
                    object_id: row.text("object_id")?,
                    added_at: row.at("added_at")?,
                })
            })
            .collect()
    }

    pub async fn add_case_event(
        &mut self,
        tenant: TenantId,
        case_id: CaseId,
        at: DateTime<Utc>,
        actor: &str,
        kind: &str,
        data: &Value,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "INSERT INTO case_events (id, tenant_id, case_id, at, actor, kind, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            // A UUIDv7 orders the entries written within one instant.
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(tenant.to_string())
            .bind(case_id.to_string())
            .bind(micros(at))
            .bind(actor)
            .bind(kind)
            .bind(data.to_string()),
        )
        .await?;
        Ok(())
    }

    pub async fn case_events(
        &mut self,
        tenant: TenantId,
        case_id: CaseId,
    ) -> Result<Vec<CaseEvent>> {
        let rows = self.fetch_all(Statement::new("SELECT at, actor, kind, data FROM case_events WHERE tenant_id = $1 AND case_id = $2 \
             ORDER BY id",)
        .bind(tenant.to_string())
        .bind(case_id.to_string()))
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CaseEvent {
                    at: row.at("at")?,
                    actor: row.text("actor")?,
                    kind: row.text("kind")?,
                    data: row.json("data")?,
                })
            })
            .collect()
    }

    /// Live cases of every tenant whose deadline passed before `now` and whose breach has not
    /// been alerted yet (the deadline job's work list).
    pub async fn breached_cases(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(TenantId, Case)>> {
        let sql = format!(
            "SELECT tenant_id, {CASE_COLUMNS} FROM cases WHERE state <> 'resolved' \
             AND deadline_at < $1 AND breach_alert_id IS NULL ORDER BY deadline_at, id LIMIT $2"
        );
        let rows = self
            .fetch_all(Statement::new(sql).bind(micros(now)).bind(limit))
            .await?;
        rows.iter()
            .map(|row| Ok((row.parsed("tenant_id")?, case(row)?)))
            .collect()
    }

    /// Records the breach alert; `false` when another run recorded one first, so each breach
    /// is alerted once however many schedulers race.
    pub async fn mark_case_breached(
        &mut self,
        tenant: TenantId,
        id: CaseId,
        alert: AlertId,
    ) -> Result<bool> {
        let done = self
            .execute(
                Statement::new(
                    "UPDATE cases SET breach_alert_id = $3 WHERE tenant_id = $1 AND id = $2 \
             AND breach_alert_id IS NULL",
                )
                .bind(tenant.to_string())
                .bind(id.to_string())
                .bind(alert.to_string()),
            )
            .await?;
        Ok(done == 1)
    }

    /// Adds a playbook version numbered one past the newest; `active` retires the active one.
    pub async fn insert_playbook(
        &mut self,
        tenant: TenantId,
        label: &str,
        document: &str,
        status: &str,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<PlaybookRow> {
        let new = NewVersion {
            label,
            document,
            status,
            created_by,
            at,
        };
        self.insert_version(Versioned::Playbooks, tenant, new).await
    }

    pub async fn playbook(&mut self, tenant: TenantId, version: i64) -> Result<PlaybookRow> {
        self.version(Versioned::Playbooks, tenant, version).await
    }

    pub async fn playbooks(&mut self, tenant: TenantId) -> Result<Vec<PlaybookRow>> {
        self.versions(Versioned::Playbooks, tenant).await
    }

    pub async fn active_playbook(&mut self, tenant: TenantId) -> Result<Option<PlaybookRow>> {
        self.active_version(Versioned::Playbooks, tenant).await
    }

    pub async fn set_playbook_status(
        &mut self,
        tenant: TenantId,
        version: i64,
        status: &str,
    ) -> Result<(PlaybookRow, PlaybookRow)> {
        self.set_version_status(Versioned::Playbooks, tenant, version, status)
            .await
    }
}
