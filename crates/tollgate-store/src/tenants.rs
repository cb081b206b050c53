use tollgate_core::{TenantId, audit::GENESIS, tenancy::Tenant};

use crate::{
    Result, StoreError, Tx,
    row::{RowExt, micros},
    statement::{Row, Statement},
};

const COLUMNS: &str = "id, slug, name, time_zone, created_at";

fn tenant(row: &Row) -> Result<Tenant> {
    Ok(Tenant {
        id: row.parsed("id")?,
        slug: row.text("slug")?,
        name: row.text("name")?,
        time_zone: row.text("time_zone")?,
        created_at: row.at("created_at")?,
    })
}

impl Tx {
    pub async fn insert_tenant(&mut self, tenant: &Tenant) -> Result<()> {
        self.execute(Statement::new("INSERT INTO tenants (id, slug, name, time_zone, created_at) VALUES ($1, $2, $3, $4, $5)",)
        .bind(tenant.id.to_string())
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(&tenant.time_zone)
        .bind(micros(tenant.created_at)))
        .await
        .map_err(|e| e.unique(&[("tenants_slug_key", "tenants.slug", "slug")]))?;
        self.execute(
            Statement::new("INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)")
                .bind(tenant.id.to_string())
                .bind(GENESIS),
        )
        .await?;
        Ok(())
    }

    pub async fn tenant(&mut self, id: TenantId) -> Result<Tenant> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
        let row = self
            .fetch_optional(Statement::new(sql).bind(id.to_string()))
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant(&row)
    }

    pub async fn tenant_by_slug(&mut self, slug: &str) -> Result<Tenant> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1");
        let row = self
            .fetch_optional(Statement::new(sql).bind(slug))
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant(&row)
    }

    /// Every tenant; for operators (CLI), never reachable from a tenant's API key.
    pub async fn all_tenants(&mut self) -> Result<Vec<Tenant>> {
        let sql = format!("SELECT {COLUMNS} FROM tenants ORDER BY id");
        self.fetch_all(Statement::new(sql))
            .await?
            .iter()
            .map(tenant)
            .collect()
    }

    pub async fn tenant_count(&mut self) -> Result<i64> {
        self.fetch_one(Statement::new("SELECT COUNT(*) AS n FROM tenants"))
            .await?
            .int("n")
    }
}
