use chrono::{DateTime, Utc};
use tollgate_core::TenantId;

use crate::{
    Result, Store, Tx,
    row::{RowExt, micros},
    sql::Params,
    statement::Statement,
};

/// The first response to a POST, kept so a retry with the same `Idempotency-Key` replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

impl Tx {
    pub async fn idempotent_response(
        &mut self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<StoredResponse>> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "SELECT request_hash, status, body FROM idempotency_keys \
                     WHERE tenant_id = $1 AND key = $2",
                )
                .bind(tenant.to_string())
                .bind(key),
            )
            .await?;
        row.map(|row| {
            Ok(StoredResponse {
                request_hash: row.text("request_hash")?,
                status: u16::try_from(row.int("status")?).unwrap_or(500),
                body: row.text("body")?,
            })
        })
        .transpose()
    }

    /// Records the response in the same transaction as the change it reports, so a crash can
    /// never leave a change without its replayable answer. A concurrent request that got there
    /// first makes the transaction fail with a unique violation (on SQLite here, on PostgreSQL
    /// when the kept insert is sent, at a later statement or the commit: see [`Tx::write`]), and
    /// the caller replays that one instead.
    pub async fn save_idempotent_response(
        &mut self,
        tenant: TenantId,
        key: &str,
        response: &StoredResponse,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, body, created_at) \
             VALUES {}",
            Params::new(self.dialect).rows(1, 6)
        );
        self.write(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(key)
                .bind(&response.request_hash)
                .bind(i64::from(response.status))
                .bind(&response.body)
                .bind(micros(at)),
        )
        .await
    }
}

impl Store {
    /// [`Tx::idempotent_response`] as a single statement outside any transaction, for the check
    /// every POST with a key makes before it runs.
    pub async fn idempotent_response(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<StoredResponse>> {
        self.read_latest()
            .await?
            .idempotent_response(tenant, key)
            .await
    }
}
