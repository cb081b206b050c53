//! Secrets the server generates once and every instance shares (`server_secrets`).

use chrono::{DateTime, Utc};

use crate::{
    Result, Store, StoreError,
    row::{RowExt, micros},
    statement::Statement,
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
        tx.execute(
            Statement::new(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(fresh())
            .bind(micros(at)),
        )
        .await?;
        let value = tx
            .fetch_optional(
                Statement::new("SELECT value FROM server_secrets WHERE name = $1").bind(name),
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("server secret `{name}` vanished")))?
            .text("value")?;
        tx.commit().await?;
        Ok(value)
    }
}
