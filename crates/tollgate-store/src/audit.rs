use chrono::{DateTime, Utc};
use tollgate_core::{
    TenantId,
    audit::{AuditEntry, AuditEvent, ChainBreak, ChainVerifier},
};

use crate::{
    Result, Store, StoreError, Tx,
    row::{RowExt, micros, to_json},
};

const COLUMNS: &str = "tenant_id, seq, id, at, actor, action, object_id, data, prev_hash, hash";

fn event(row: &sqlx::any::AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: row.parsed("id")?,
        tenant_id: row.parsed("tenant_id")?,
        seq: row.int("seq")?,
        at: row.at("at")?,
        actor: row.json("actor")?,
        action: row.text("action")?,
        object_id: row.text("object_id")?,
        data: row.json("data")?,
        prev_hash: row.text("prev_hash")?,
        hash: row.text("hash")?,
    })
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub object_id: Option<String>,
    pub action: Option<String>,
    /// Events with `seq` greater than this.
    pub after_seq: i64,
    pub limit: u32,
}

impl Tx {
    /// Appends to the tenant's chain. The head row is locked (PostgreSQL) or the database is
    /// (SQLite write transaction), so concurrent appenders take turns and the chain never forks.
    pub async fn append_audit(
        &mut self,
        tenant: TenantId,
        at: DateTime<Utc>,
        entry: AuditEntry,
    ) -> Result<AuditEvent> {
        let lock = self.dialect.for_update();
        let sql = format!("SELECT seq, hash FROM audit_heads WHERE tenant_id = $1{lock}");
        let head = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        let event = AuditEvent::seal(tenant, head.int("seq")? + 1, head.text("hash")?, at, entry);
        let sql = format!(
            "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(event.seq)
            .bind(event.id.to_string())
            .bind(micros(event.at))
            .bind(to_json(&event.actor))
            .bind(&event.action)
            .bind(&event.object_id)
            .bind(to_json(&event.data))
            .bind(&event.prev_hash)
            .bind(&event.hash)
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1")
            .bind(tenant.to_string())
            .bind(event.seq)
            .bind(&event.hash)
            .execute(self.conn())
            .await?;
        Ok(event)
    }

    pub async fn list_audit(
        &mut self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 \
             AND ($3 = '' OR object_id = $3) AND ($4 = '' OR action = $4) ORDER BY seq LIMIT $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(filter.after_seq)
            .bind(filter.object_id.clone().unwrap_or_default())
            .bind(filter.action.clone().unwrap_or_default())
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(event).collect()
    }
}

impl Store {
    /// Recomputes a tenant's whole chain page by page. The outer error is a failure to read;
    /// the inner one is the first broken link.
    pub async fn verify_audit(&self, tenant: TenantId) -> Result<Result<u64, ChainBreak>> {
        let mut verifier = ChainVerifier::default();
        let mut filter = AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        };
        loop {
            let page = self.read().await?.list_audit(tenant, &filter).await?;
            let Some(last) = page.last() else {
                return Ok(Ok(verifier.verified()));
            };
            filter.after_seq = last.seq;
            for event in &page {
                if let Err(broken) = verifier.push(event) {
                    return Ok(Err(broken));
                }
            }
        }
    }
}
