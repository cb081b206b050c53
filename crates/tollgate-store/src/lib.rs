//! Tollgate's store. One SQL implementation serves both engines through sqlx's `Any` driver:
//! the schema is written in the portable subset (TEXT, BIGINT), and the few places where the
//! engines differ — how a write transaction starts, how a row is locked — go through [`Dialect`].
//! Each pillar is a module of methods on [`Tx`], so one transaction can span pillars.

mod audit;
mod collections;
mod customers;
mod decisions;
mod error;
mod idempotency;
mod keys;
pub mod page;
mod policies;
mod row;
mod subscriptions;
mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
mod usage;
mod verifications;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tollgate_core::TenantId;

pub use audit::AuditFilter;
pub use collections::{InvoiceFilter, InvoiceRow, InvoiceStatus};
pub use customers::{CustomerFilter, CustomerPatch, NewCustomer};
pub use decisions::{DecisionFilter, DecisionRow, ScreenedRow, WindowCounts};
pub use error::StoreError;
pub use idempotency::StoredResponse;
pub use keys::NewKey;
pub use policies::{ListItem, ListItemFilter, PolicyRow};
pub use subscriptions::{NewSubscription, SubscriptionFilter};
pub use usage::{AlertFilter, AlertRow, BudgetRow, HourlySpend, UsageBuckets, UsageRow};
pub use verifications::VerificationRow;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Row locks only exist on PostgreSQL; SQLite's write transaction already excludes writers.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Opens (creating if needed) the SQLite database inside `dir`.
    pub async fn open_data_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let file = dir.join("tollgate.db");
        Self::connect(&format!("sqlite://{}?mode=rwc", file.display())).await
    }

    /// Connects to `sqlite://…` or `postgres://…` and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL `{url}`: expected sqlite:// or postgres://"
            )));
        };
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad database URL: {e}")))?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match dialect {
            Dialect::Sqlite => {
                pool_options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; synchronous=FULL makes a
                            // commit durable before the API answers 2xx, even across power loss.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Dialect::Postgres => {
                pool_options
                    .max_connections(16)
                    .connect_with(options)
                    .await?
            }
        };
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, dialect })
    }

    /// A pool without migrations, for administrative statements (creating test schemas).
    #[cfg(feature = "testing")]
    async fn connect_unmigrated(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            dialect: Dialect::Postgres,
        })
    }

    /// Runs raw SQL; tests use it to tamper with rows behind the store's back.
    #[cfg(feature = "testing")]
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`) so two writers queue on the busy timeout instead of failing on upgrade.
    pub async fn begin(&self) -> Result<Tx> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            tx,
            dialect: self.dialect,
        })
    }

    /// A read-only view; the transaction gives the reads one consistent snapshot.
    pub async fn read(&self) -> Result<Tx> {
        Ok(Tx {
            tx: self.pool.begin().await?,
            dialect: self.dialect,
        })
    }

    /// True when the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A transaction across pillars; dropped without `commit`, it rolls back.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// The one row `sql` selects with `$1` bound to the tenant and `$2` to the id; a missing
    /// row, like another tenant's, is `NotFound`.
    async fn row_by_id(
        &mut self,
        sql: String,
        tenant: TenantId,
        id: &str,
    ) -> Result<sqlx::any::AnyRow> {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(StoreError::NotFound)
    }
}
