use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use tollgate_core::{
    KeyId, TenantId,
    tenancy::{ApiKey, Role},
};

use crate::{
    Result, Store, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    statement::{Row, Statement},
};

/// Counts calls to [`Tx::revoke_key`] in this process, so whoever caches keys can tell that one
/// may have been revoked since.
static REVOCATIONS: AtomicU64 = AtomicU64::new(0);

const COLUMNS: &str = "id, tenant_id, role, prefix, label, created_at, expires_at, revoked_at";

/// A key to store: the caller hashes the secret; the store never sees it.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: KeyId,
    pub tenant_id: TenantId,
    pub role: Role,
    pub prefix: String,
    pub secret_hash: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn api_key(row: &Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.parsed("id")?,
        tenant_id: row.parsed("tenant_id")?,
        role: row.parsed("role")?,
        prefix: row.text("prefix")?,
        label: row.opt_text("label")?,
        created_at: row.at("created_at")?,
        expires_at: row.opt_at("expires_at")?,
        revoked_at: row.opt_at("revoked_at")?,
    })
}

impl Tx {
    pub async fn insert_key(&mut self, key: &NewKey) -> Result<ApiKey> {
        self.execute(Statement::new("INSERT INTO api_keys (id, tenant_id, role, prefix, secret_hash, label, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",)
        .bind(key.id.to_string())
        .bind(key.tenant_id.to_string())
        .bind(key.role.as_str())
        .bind(&key.prefix)
        .bind(&key.secret_hash)
        .bind(key.label.clone())
        .bind(micros(key.created_at))
        .bind(key.expires_at.map(micros)))
        .await?;
        self.key(key.tenant_id, key.id).await
    }

    /// Finds the key a secret hashes to, whatever its tenant: authentication happens before a
    /// tenant is known.
    pub async fn key_by_hash(&mut self, secret_hash: &str) -> Result<ApiKey> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1");
        let row = self
            .fetch_optional(Statement::new(sql).bind(secret_hash))
            .await?
            .ok_or(StoreError::NotFound)?;
        api_key(&row)
    }

    pub async fn key(&mut self, tenant: TenantId, id: KeyId) -> Result<ApiKey> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        api_key(&row)
    }

    /// Looks a key up by id alone; for the operator's CLI.
    pub async fn key_any_tenant(&mut self, id: KeyId) -> Result<ApiKey> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
        let row = self
            .fetch_optional(Statement::new(sql).bind(id.to_string()))
            .await?
            .ok_or(StoreError::NotFound)?;
        api_key(&row)
    }

    pub async fn list_keys(
        &mut self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>> {
        let listing = Listing::new(format!("SELECT {COLUMNS} FROM api_keys"), tenant, page);
        let rows = self.fetch_all(listing.statement()).await?;
        let keys = rows.iter().map(api_key).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(keys, page, |k| k.id.to_string()))
    }

    /// Revokes a key; revoking twice keeps the first time.
    pub async fn revoke_key(
        &mut self,
        tenant: TenantId,
        id: KeyId,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        let done = self.execute(Statement::new("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2",)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(micros(at)))
        .await?;
        REVOCATIONS.fetch_add(1, Ordering::Relaxed);
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.key(tenant, id).await
    }
}

impl Store {
    /// [`Tx::key_by_hash`] as a single statement outside any transaction: authentication runs
    /// on every request, and a read transaction would add a `BEGIN` and a `ROLLBACK` to it.
    pub async fn key_by_hash(&self, secret_hash: &str) -> Result<ApiKey> {
        self.read_latest().await?.key_by_hash(secret_hash).await
    }

    /// How many times a key was revoked in this process so far. A cache of keys that saw this
    /// number change must look them up again.
    pub fn key_revocations(&self) -> u64 {
        REVOCATIONS.load(Ordering::Relaxed)
    }
}
