use sqlx::Row;
use tollgate_core::{TenantId, audit::GENESIS, tenancy::Tenant};

use crate::{
    Result, StoreError, Tx,
    row::{RowExt, micros},
};

const COLUMNS: &str = "id, slug, name, time_zone, created_at";

fn tenant(row: &sqlx::any::AnyRow) -> Result<Tenant> {
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
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, time_zone, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.id.to_string())
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(&tenant.time_zone)
        .bind(micros(tenant.created_at))
        .execute(self.conn().await?)
        .await
        .map_err(|e| StoreError::unique(e, &[("tenants_slug_key", "tenants.slug", "slug")]))?;
        sqlx::query("INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)")
            .bind(tenant.id.to_string())
            .bind(GENESIS)
            .execute(self.conn().await?)
            .await?;
        Ok(())
    }

    pub async fn tenant(&mut self, id: TenantId) -> Result<Tenant> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(self.conn().await?)
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant(&row)
    }

    pub async fn tenant_by_slug(&mut self, slug: &str) -> Result<Tenant> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(slug)
            .fetch_optional(self.conn().await?)
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant(&row)
    }

    /// Every tenant; for operators (CLI), never reachable from a tenant's API key.
    pub async fn all_tenants(&mut self) -> Result<Vec<Tenant>> {
        let sql = format!("SELECT {COLUMNS} FROM tenants ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.conn().await?)
            .await?
            .iter()
            .map(tenant)
            .collect()
    }

    pub async fn tenant_count(&mut self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM tenants")
            .fetch_one(self.conn().await?)
            .await?
            .try_get("n")?)
    }
}
