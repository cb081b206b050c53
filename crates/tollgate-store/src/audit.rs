use chrono::{DateTime, Utc};
use tollgate_core::{
    TenantId,
    audit::{AuditEntry, AuditEvent, ChainBreak, ChainVerifier},
};

use crate::{
    Result, Store, StoreError, Tx,
    row::{RowExt, micros, to_json},
    sql::{Params, rows_per_statement},
    statement::{Row, Statement},
};

const COLUMNS: &str = "tenant_id, seq, id, at, actor, action, object_id, data, prev_hash, hash";

fn event(row: &Row) -> Result<AuditEvent> {
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
    /// Records an event for the tenant's chain, appended when the transaction commits (with
    /// the others deferred, in order, as its last statements): on PostgreSQL appending locks
    /// the chain's head until commit, so every writer of the tenant waits for whoever appended
    /// first; appended at commit, the lock covers only the append and the commit.
    pub fn defer_audit(&mut self, tenant: TenantId, at: DateTime<Utc>, entry: AuditEntry) {
        self.deferred_audit.push((tenant, at, entry));
    }

    /// Appends what [`Tx::defer_audit`] recorded, each tenant's entries in their order.
    pub(crate) async fn append_deferred_audit(&mut self) -> Result<()> {
        let mut deferred = std::mem::take(&mut self.deferred_audit);
        while let Some((tenant, _, _)) = deferred.first() {
            let tenant = *tenant;
            let (mine, rest): (Vec<_>, Vec<_>) =
                deferred.into_iter().partition(|(t, _, _)| *t == tenant);
            deferred = rest;
            let entries = mine.into_iter().map(|(_, at, entry)| (at, entry)).collect();
            self.append_audit_all(tenant, entries).await?;
        }
        Ok(())
    }

    /// Appends one event to the tenant's chain; see [`Tx::append_audit_all`].
    pub async fn append_audit(
        &mut self,
        tenant: TenantId,
        at: DateTime<Utc>,
        entry: AuditEntry,
    ) -> Result<AuditEvent> {
        let mut events = self.append_audit_all(tenant, vec![(at, entry)]).await?;
        Ok(events.pop().expect("one event per entry"))
    }

    /// Appends `entries` to the tenant's chain, in order. The head row is locked (PostgreSQL) or
    /// the database is (SQLite's one writer), so concurrent appenders take turns and the chain
    /// never forks. On PostgreSQL the lock lasts until commit, and every statement run after the
    /// append makes the tenant's other writers wait longer: append last, all at once.
    pub async fn append_audit_all(
        &mut self,
        tenant: TenantId,
        entries: Vec<(DateTime<Utc>, AuditEntry)>,
    ) -> Result<Vec<AuditEvent>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let lock = self.dialect.for_update();
        let sql = format!(
            "SELECT seq, hash FROM audit_heads WHERE tenant_id = {}{lock}",
            Params::new(self.dialect).next()
        );
        let head = self
            .fetch_all(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        let mut seq = head.int("seq")?;
        let mut hash = head.text("hash")?;
        let events: Vec<AuditEvent> = entries
            .into_iter()
            .map(|(at, entry)| {
                seq += 1;
                let event = AuditEvent::seal(tenant, seq, std::mem::take(&mut hash), at, entry);
                hash.clone_from(&event.hash);
                event
            })
            .collect();
        // A transaction that deferred many entries (an import) needs more than one statement.
        for chunk in events.chunks(rows_per_statement(10, 0)) {
            let sql = format!(
                "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
                Params::new(self.dialect).rows(chunk.len(), 10)
            );
            let mut insert = Statement::new(sql);
            for event in chunk {
                insert = insert
                    .bind(tenant.to_string())
                    .bind(event.seq)
                    .bind(event.id.to_string())
                    .bind(micros(event.at))
                    .bind(to_json(&event.actor))
                    .bind(&event.action)
                    .bind(&event.object_id)
                    .bind(to_json(&event.data))
                    .bind(&event.prev_hash)
                    .bind(&event.hash);
            }
            self.write(insert).await?;
        }
        let mut p = Params::new(self.dialect);
        let sql = format!(
            "UPDATE audit_heads SET seq = {}, hash = {} WHERE tenant_id = {}",
            p.next(),
            p.next(),
            p.next()
        );
        self.write(
            Statement::new(sql)
                .bind(seq)
                .bind(&hash)
                .bind(tenant.to_string()),
        )
        .await?;
        Ok(events)
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
        let rows = self
            .fetch_all(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(filter.after_seq)
                    .bind(filter.object_id.clone().unwrap_or_default())
                    .bind(filter.action.clone().unwrap_or_default())
                    .bind(i64::from(filter.limit.max(1))),
            )
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
