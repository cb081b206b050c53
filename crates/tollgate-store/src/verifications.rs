//! Verification steps: SMS one-time codes, bureau checks and phone-call tasks.

use chrono::{DateTime, Utc};
use tollgate_core::{CustomerId, TenantId, VerificationId};

use crate::{
    Result, Tx,
    row::{RowExt, micros},
    statement::{Row, Statement},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRow {
    pub id: VerificationId,
    pub customer_id: CustomerId,
    /// `sms_verification`, `bureau_check` or `phone_call`.
    pub kind: String,
    /// `pending`, `passed`, `failed` or `expired`.
    pub status: String,
    pub code_hash: Option<String>,
    pub attempts: i64,
    pub expires_at: Option<DateTime<Utc>>,
    /// What the provider or the analyst reported, as JSON.
    pub result: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, customer_id, kind, status, code_hash, attempts, expires_at, result, created_at, completed_at";

fn verification(row: &Row) -> Result<VerificationRow> {
    Ok(VerificationRow {
        id: row.parsed("id")?,
        customer_id: row.parsed("customer_id")?,
        kind: row.text("kind")?,
        status: row.text("status")?,
        code_hash: row.opt_text("code_hash")?,
        attempts: row.int("attempts")?,
        expires_at: row.opt_at("expires_at")?,
        result: row.opt_text("result")?,
        created_at: row.at("created_at")?,
        completed_at: row.opt_at("completed_at")?,
    })
}

impl Tx {
    pub async fn insert_verification(
        &mut self,
        tenant: TenantId,
        v: &VerificationRow,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO verifications (tenant_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(v.id.to_string())
                .bind(v.customer_id.to_string())
                .bind(&v.kind)
                .bind(&v.status)
                .bind(v.code_hash.clone())
                .bind(v.attempts)
                .bind(v.expires_at.map(micros))
                .bind(v.result.clone())
                .bind(micros(v.created_at))
                .bind(v.completed_at.map(micros)),
        )
        .await?;
        Ok(())
    }

    /// Reads a verification, locking it on PostgreSQL so two confirmations take turns.
    pub async fn verification_for_update(
        &mut self,
        tenant: TenantId,
        id: VerificationId,
    ) -> Result<VerificationRow> {
        let lock = self.dialect.for_update();
        let sql =
            format!("SELECT {COLUMNS} FROM verifications WHERE tenant_id = $1 AND id = $2{lock}");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        verification(&row)
    }

    pub async fn update_verification(
        &mut self,
        tenant: TenantId,
        v: &VerificationRow,
    ) -> Result<()> {
        self.execute(Statement::new("UPDATE verifications SET status = $3, attempts = $4, result = $5, completed_at = $6 \
             WHERE tenant_id = $1 AND id = $2",)
        .bind(tenant.to_string())
        .bind(v.id.to_string())
        .bind(&v.status)
        .bind(v.attempts)
        .bind(v.result.clone())
        .bind(v.completed_at.map(micros)))
        .await?;
        Ok(())
    }
}
