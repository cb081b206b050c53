//! Rule policies (immutable versions, one active, some in shadow) and block/allow lists.

use chrono::{DateTime, Utc};
use tollgate_core::TenantId;

use crate::{
    Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    sql::{Params, rows_per_statement},
    statement::{Row, Statement},
};

#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub version: i64,
    /// The document's own version label.
    pub label: String,
    pub document: String,
    /// `active`, `shadow` or `inactive`.
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

fn policy(row: &Row) -> Result<PolicyRow> {
    Ok(PolicyRow {
        version: row.int("version")?,
        label: row.text("label")?,
        document: row.text("document")?,
        status: row.text("status")?,
        created_by: row.text("created_by")?,
        created_at: row.at("created_at")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub id: String,
    pub kind: String,
    pub action: String,
    pub value: String,
    pub note: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ListItemFilter {
    pub kind: Option<String>,
    pub action: Option<String>,
    pub value: Option<String>,
}

fn list_item(row: &Row) -> Result<ListItem> {
    Ok(ListItem {
        id: row.text("id")?,
        kind: row.text("kind")?,
        action: row.text("action")?,
        value: row.text("value")?,
        note: row.opt_text("note")?,
        expires_at: row.opt_at("expires_at")?,
        created_at: row.at("created_at")?,
    })
}

/// The tenant's versioned documents: immutable versions, numbered per tenant, at most one active.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Versioned {
    /// Rule policies (`/v1/rules`), which may also run in shadow.
    Rules,
    /// Playbooks (`/v1/playbooks`).
    Playbooks,
}

impl Versioned {
    fn table(self) -> &'static str {
        match self {
            Versioned::Rules => "policies",
            Versioned::Playbooks => "playbooks",
        }
    }

    /// Unique constraints as `StoreError::unique` reads them.
    fn unique(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Versioned::Rules => &[],
            Versioned::Playbooks => &[(
                "playbooks_label",
                "playbooks.tenant_id, playbooks.label",
                "playbook.version",
            )],
        }
    }
}

/// A version to add.
pub(crate) struct NewVersion<'a> {
    pub label: &'a str,
    pub document: &'a str,
    pub status: &'a str,
    pub created_by: &'a str,
    pub at: DateTime<Utc>,
}

const COLUMNS: &str = "version, label, document, status, created_by, created_at";

impl Tx {
    /// Adds a rule policy version numbered one past the newest. With `status = active`, the
    /// version that was active becomes inactive in the same transaction.
    pub async fn insert_policy(
        &mut self,
        tenant: TenantId,
        label: &str,
        document: &str,
        status: &str,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<PolicyRow> {
        let new = NewVersion {
            label,
            document,
            status,
            created_by,
            at,
        };
        self.insert_version(Versioned::Rules, tenant, new).await
    }

    pub async fn policy(&mut self, tenant: TenantId, version: i64) -> Result<PolicyRow> {
        self.version(Versioned::Rules, tenant, version).await
    }

    /// Every version, newest first.
    pub async fn policies(&mut self, tenant: TenantId) -> Result<Vec<PolicyRow>> {
        self.versions(Versioned::Rules, tenant).await
    }

    /// `(version, status)` of the active and shadow versions: cheap enough for every decision,
    /// whose compiled policies are cached by version.
    pub async fn live_policy_versions(&mut self, tenant: TenantId) -> Result<Vec<(i64, String)>> {
        let rows = self.fetch_all(Statement::new("SELECT version, status FROM policies WHERE tenant_id = $1 AND status IN ('active', 'shadow') ORDER BY version",)
        .bind(tenant.to_string()))
        .await?;
        rows.iter()
            .map(|r| Ok((r.int("version")?, r.text("status")?)))
            .collect()
    }

    pub async fn set_policy_status(
        &mut self,
        tenant: TenantId,
        version: i64,
        status: &str,
    ) -> Result<(PolicyRow, PolicyRow)> {
        self.set_version_status(Versioned::Rules, tenant, version, status)
            .await
    }

    /// Adds a version numbered one past the newest to `kind`'s documents; `active` retires the
    /// one that was active, in the same transaction.
    pub(crate) async fn insert_version(
        &mut self,
        kind: Versioned,
        tenant: TenantId,
        new: NewVersion<'_>,
    ) -> Result<PolicyRow> {
        // Taking the tenant's audit head lock orders concurrent publishers on PostgreSQL, so
        // two of them never compute the same next version.
        let lock = self.dialect.for_update();
        let sql = format!("SELECT seq FROM audit_heads WHERE tenant_id = $1{lock}");
        self.fetch_optional(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .ok_or(StoreError::NotFound)?;
        let table = kind.table();
        let sql =
            format!("SELECT COALESCE(MAX(version), 0) + 1 AS v FROM {table} WHERE tenant_id = $1");
        let next: i64 = self
            .fetch_one(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .int("v")?;
        if new.status == "active" {
            self.demote_active(kind, tenant).await?;
        }
        let sql = format!(
            "INSERT INTO {table} (tenant_id, version, label, document, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(next)
                .bind(new.label)
                .bind(new.document)
                .bind(new.status)
                .bind(new.created_by)
                .bind(micros(new.at)),
        )
        .await
        .map_err(|e| e.unique(kind.unique()))?;
        self.version(kind, tenant, next).await
    }

    async fn demote_active(&mut self, kind: Versioned, tenant: TenantId) -> Result<()> {
        let table = kind.table();
        let sql = format!(
            "UPDATE {table} SET status = 'inactive' WHERE tenant_id = $1 AND status = 'active'"
        );
        self.execute(Statement::new(sql).bind(tenant.to_string()))
            .await?;
        Ok(())
    }

    pub(crate) async fn version(
        &mut self,
        kind: Versioned,
        tenant: TenantId,
        version: i64,
    ) -> Result<PolicyRow> {
        let table = kind.table();
        let sql = format!("SELECT {COLUMNS} FROM {table} WHERE tenant_id = $1 AND version = $2");
        let row = self
            .fetch_optional(Statement::new(sql).bind(tenant.to_string()).bind(version))
            .await?
            .ok_or(StoreError::NotFound)?;
        policy(&row)
    }

    /// Every version of `kind`'s documents, newest first.
    pub(crate) async fn versions(
        &mut self,
        kind: Versioned,
        tenant: TenantId,
    ) -> Result<Vec<PolicyRow>> {
        let table = kind.table();
        let sql =
            format!("SELECT {COLUMNS} FROM {table} WHERE tenant_id = $1 ORDER BY version DESC");
        self.fetch_all(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .iter()
            .map(policy)
            .collect()
    }

    pub(crate) async fn active_version(
        &mut self,
        kind: Versioned,
        tenant: TenantId,
    ) -> Result<Option<PolicyRow>> {
        let table = kind.table();
        let sql =
            format!("SELECT {COLUMNS} FROM {table} WHERE tenant_id = $1 AND status = 'active'");
        self.fetch_optional(Statement::new(sql).bind(tenant.to_string()))
            .await?
            .as_ref()
            .map(policy)
            .transpose()
    }

    pub(crate) async fn set_version_status(
        &mut self,
        kind: Versioned,
        tenant: TenantId,
        version: i64,
        status: &str,
    ) -> Result<(PolicyRow, PolicyRow)> {
        let before = self.version(kind, tenant, version).await?;
        if status == "active" {
            self.demote_active(kind, tenant).await?;
        }
        let table = kind.table();
        let sql = format!("UPDATE {table} SET status = $3 WHERE tenant_id = $1 AND version = $2");
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(version)
                .bind(status),
        )
        .await?;
        Ok((before, self.version(kind, tenant, version).await?))
    }

    /// Adds `items` to the tenant's lists, many rows per statement.
    pub async fn insert_list_items(&mut self, tenant: TenantId, items: &[ListItem]) -> Result<()> {
        for chunk in items.chunks(rows_per_statement(8, 0)) {
            let sql = format!(
                "INSERT INTO list_items (id, tenant_id, kind, action, value, note, expires_at, created_at) \
                 VALUES {}",
                Params::new(self.dialect).rows(chunk.len(), 8)
            );
            let mut insert = Statement::new(sql);
            for item in chunk {
                insert = insert
                    .bind(&item.id)
                    .bind(tenant.to_string())
                    .bind(&item.kind)
                    .bind(&item.action)
                    .bind(&item.value)
                    .bind(item.note.clone())
                    .bind(item.expires_at.map(micros))
                    .bind(micros(item.created_at));
            }
            self.write(insert).await?;
        }
        Ok(())
    }

    /// A page of the items in force at `now` (not removed, not expired) matching the filter.
    pub async fn list_items(
        &mut self,
        tenant: TenantId,
        filter: &ListItemFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<ListItem>> {
        let listing = Listing::new(
            "SELECT id, kind, action, value, note, expires_at, created_at FROM list_items",
            tenant,
            page,
        )
        .and("removed_at IS NULL")
        .condition(micros(now), |p| {
            format!("(expires_at IS NULL OR expires_at > {p})")
        })
        .matching("kind", filter.kind.as_deref())
        .matching("action", filter.action.as_deref())
        .matching("value", filter.value.as_deref());
        let rows = self.fetch_all(listing.statement()).await?;
        let items = rows.iter().map(list_item).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page, |i| i.id.clone()))
    }

    pub async fn remove_list_item(
        &mut self,
        tenant: TenantId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<ListItem> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "SELECT id, kind, action, value, note, expires_at, created_at FROM list_items \
             WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL",
                )
                .bind(tenant.to_string())
                .bind(id),
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        self.execute(
            Statement::new(
                "UPDATE list_items SET removed_at = $3 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.to_string())
            .bind(id)
            .bind(micros(at)),
        )
        .await?;
        list_item(&row)
    }
}
