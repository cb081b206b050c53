//! Webhook endpoints: where a tenant wants its events delivered. The deliveries themselves are
//! outbox actions (see `outbox.rs`) whose object id is the endpoint id.

use chrono::{DateTime, Utc};
use tollgate_core::{TenantId, WebhookId, webhooks::EndpointStatus};

use crate::{
    Result, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros, to_json},
    sql::Params,
    statement::{Row, Statement},
};

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRow {
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    /// Event type names, or `*` for all.
    pub event_types: Vec<String>,
    /// `whsec_` + base64 of the signing key.
    pub secret: String,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, url, description, event_types, secret, status, disabled_reason, \
                       created_at, updated_at";

fn webhook(row: &Row) -> Result<WebhookRow> {
    Ok(WebhookRow {
        id: row.parsed("id")?,
        url: row.text("url")?,
        description: row.opt_text("description")?,
        event_types: row.json("event_types")?,
        secret: row.text("secret")?,
        status: row.parsed("status")?,
        disabled_reason: row.opt_text("disabled_reason")?,
        created_at: row.at("created_at")?,
        updated_at: row.at("updated_at")?,
    })
}

/// Binds `$1` to `$8` as the insert and the update both write them: the tenant, the id and
/// every changeable field.
fn fields(statement: Statement, tenant: TenantId, w: &WebhookRow) -> Statement {
    statement
        .bind(tenant.to_string())
        .bind(w.id.to_string())
        .bind(&w.url)
        .bind(w.description.clone())
        .bind(to_json(&w.event_types))
        .bind(&w.secret)
        .bind(w.status.as_str())
        .bind(w.disabled_reason.clone())
}

impl Tx {
    pub async fn insert_webhook(&mut self, tenant: TenantId, w: &WebhookRow) -> Result<()> {
        let sql = format!(
            "INSERT INTO webhook_endpoints (tenant_id, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        self.execute(
            fields(Statement::new(sql), tenant, w)
                .bind(micros(w.created_at))
                .bind(micros(w.updated_at)),
        )
        .await?;
        Ok(())
    }

    /// The endpoint, locked for the rest of the transaction on PostgreSQL; a removed one is
    /// `NotFound`.
    pub async fn webhook(&mut self, tenant: TenantId, id: WebhookId) -> Result<WebhookRow> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_endpoints \
             WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL{}",
            self.dialect.for_update()
        );
        webhook(&self.row_by_id(sql, tenant, &id.to_string()).await?)
    }

    pub async fn list_webhooks(
        &mut self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> Result<Page<WebhookRow>> {
        let listing = Listing::new(
            format!("SELECT {COLUMNS} FROM webhook_endpoints"),
            tenant,
            page,
        )
        .and("removed_at IS NULL");
        let rows = self.fetch_all(listing.statement()).await?;
        let hooks = rows.iter().map(webhook).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(hooks, page, |w| w.id.to_string()))
    }

    /// Every enabled endpoint of the tenant; the caller matches event types (a tenant has a
    /// handful of endpoints, and `*` makes matching in SQL awkward on two engines).
    pub async fn enabled_webhooks(&mut self, tenant: TenantId) -> Result<Vec<WebhookRow>> {
        let mut p = Params::new(self.dialect);
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = {} AND status = {} \
             AND removed_at IS NULL ORDER BY id",
            p.next(),
            p.next()
        );
        // Asked in the middle of every decision's write: the writes before it ride along.
        let rows = self
            .fetch_all(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(EndpointStatus::Enabled.as_str()),
            )
            .await?;
        rows.iter().map(webhook).collect()
    }

    /// Writes every changeable field of `w` (read with `webhook` in this transaction).
    pub async fn update_webhook(&mut self, tenant: TenantId, w: &WebhookRow) -> Result<()> {
        let update = Statement::new(
            "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, \
             secret = $6, status = $7, disabled_reason = $8, updated_at = $9 \
             WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL",
        );
        self.execute(fields(update, tenant, w).bind(micros(w.updated_at)))
            .await?;
        Ok(())
    }

    /// Disables the endpoint unless it already is (or is gone). True when this call disabled
    /// it, so of several deliveries failing at once only one raises the alert.
    pub async fn disable_webhook(
        &mut self,
        tenant: TenantId,
        id: WebhookId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = self.execute(Statement::new("UPDATE webhook_endpoints SET status = $3, disabled_reason = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND status = $6 AND removed_at IS NULL",)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(EndpointStatus::Disabled.as_str())
        .bind(reason)
        .bind(micros(now))
        .bind(EndpointStatus::Enabled.as_str()))
        .await?;
        Ok(done == 1)
    }

    pub async fn remove_webhook(
        &mut self,
        tenant: TenantId,
        id: WebhookId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "UPDATE webhook_endpoints SET removed_at = $3, updated_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL",
            )
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(micros(now)),
        )
        .await?;
        Ok(())
    }
}
