//! Secrets the server generates once and every instance shares (`server_secrets`).

use chrono::{DateTime, Utc};

use crate::{
    Result, Store, StoreError,
    row::{RowExt, micros},
};

impl Store {
    /// The secret called `name`, stored as `fresh` the first time anyone asks. Concurrent
    /// first askers, in this process or another, all get the one that was stored first.
    pub async fn server_secret(
        &self,
        name: &str,
        fresh: impl FnOnce() -> String,
        at: DateTime<Utc>,
    ) -> Result<String> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh())
        .bind(micros(at))
        .execute(tx.conn().await?)
        .await?;
        let value = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(tx.conn().await?)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("server secret `{name}` vanished")))?
            .text("value")?;
        tx.commit().await?;
        Ok(value)
    }
}
