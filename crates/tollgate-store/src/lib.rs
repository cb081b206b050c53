//! Tollgate's store. One SQL implementation serves both engines through sqlx's `Any` driver:
//! the schema is written in the portable subset (TEXT, BIGINT), and the few places where the
//! engines differ — how a write transaction starts, how a row is locked — go through [`Dialect`].
//! Each pillar is a module of methods on [`Tx`], so one transaction can span pillars.

mod activity;
mod audit;
mod batch;
mod cases;
mod checkpointer;
mod collections;
mod customers;
mod decisions;
mod dunning;
mod error;
mod idempotency;
mod keys;
mod lookup;
mod outbox;
pub mod page;
mod policies;
mod prepaid;
mod row;
mod screened;
mod secrets;
mod sql;
mod subscriptions;
mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
mod usage;
mod verifications;
mod webhooks;
mod writer;

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::{
    AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tollgate_core::{TenantId, audit::AuditEntry};

use crate::batch::{Kept, Write};

pub use activity::{ActivityEpisode, ActivityRow, VmWrite};
pub use audit::AuditFilter;
pub use cases::{CaseFilter, NoticeFilter, PlaybookRow, QuarantinedEvent};
pub use collections::{InvoiceFilter, InvoiceRow, InvoiceStatus};
pub use customers::{CustomerFilter, CustomerPatch, NewCustomer};
pub use decisions::{DecisionFilter, DecisionRow, WindowCounts};
#[cfg(feature = "testing")]
pub use dunning::seed::SeedInvoice;
pub use dunning::{
    DunningPolicyRow, EpisodeFilter, EpisodeRow, EpisodeStatus, PauseRow, ScreenBatch, StepRow,
};
pub use error::StoreError;
pub use idempotency::StoredResponse;
pub use keys::NewKey;
pub use lookup::{Found, History, LINK_COUNT_CAP, LINKED_IDS_PER_KEY, Linked, ListHit, Lookup};
pub use outbox::{ActionFilter, ActionRow, AttemptRow, FinishedAttempt, NewAction};
pub use policies::{ListItem, ListItemFilter, PolicyRow};
pub use prepaid::PrepaidEntryRow;
pub use screened::{OrderRow, Review, Screened, ScreenedFilter, ScreenedRow, Settlement};
pub use subscriptions::{NewSubscription, SubscriptionFilter};
pub use usage::{
    AlertFilter, AlertRow, BudgetRow, HourlySpend, HourlyUsage, PeriodUsage, UsageRow,
};
pub use verifications::VerificationRow;
pub use webhooks::WebhookRow;

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

    /// Lets concurrent PostgreSQL workers lease different rows instead of queueing on one.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    /// Reads, and on PostgreSQL writes too.
    pool: AnyPool,
    /// On SQLite, the one connection that writes, with group commit (see [`writer`]). Writers
    /// queue for it in order instead of colliding on the file lock, where SQLite's busy
    /// handler sleeps with a growing back-off.
    writer: Option<Arc<writer::Writer>>,
    /// On SQLite, copies the write-ahead log back into the database beside the writer.
    checkpointer: Option<Arc<checkpointer::Checkpointer>>,
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
        if dialect == Dialect::Sqlite && (url.contains(":memory:") || url.contains("mode=memory")) {
            // Readers and the writer are separate connections; in memory they would be
            // separate databases.
            return Err(StoreError::Config(
                "an in-memory SQLite database is not supported: use a file".into(),
            ));
        }
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad database URL: {e}")))?;
        let (pool, writer, checkpointer) = match dialect {
            Dialect::Sqlite => {
                let setup = sqlite_pool(2).connect_with(options.clone()).await?;
                // The writer creates the file and switches it to WAL before readers open it.
                MIGRATOR.run(&setup).await?;
                let writer = writer::Writer::new(setup.acquire().await?.detach());
                let checkpointer =
                    checkpointer::Checkpointer::start(setup.acquire().await?.detach());
                setup.close().await;
                (
                    sqlite_pool(8).connect_with(options).await?,
                    Some(Arc::new(writer)),
                    Some(Arc::new(checkpointer)),
                )
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(10))
                    .max_connections(16)
                    .connect_with(options)
                    .await?;
                MIGRATOR.run(&pool).await?;
                (pool, None, None)
            }
        };
        Ok(Self {
            pool,
            writer,
            checkpointer,
            dialect,
        })
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
            writer: None,
            checkpointer: None,
            dialect: Dialect::Postgres,
        })
    }

    /// Runs raw SQL; tests use it to tamper with rows behind the store's back.
    #[cfg(feature = "testing")]
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(tx.conn().await?)
            .await?;
        tx.commit().await
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction. On SQLite it is a savepoint in the writer's current group
    /// (see [`writer`]); its `commit` returns once the group's `COMMIT` is durable.
    pub async fn begin(&self) -> Result<Tx> {
        let inner = match &self.writer {
            Some(writer) => TxInner::Group(writer.begin().await?),
            None => TxInner::Pool(self.pool.begin().await?),
        };
        Ok(self.tx(inner))
    }

    /// A read-only view; the transaction gives the reads one consistent snapshot.
    pub async fn read(&self) -> Result<Tx> {
        Ok(self.tx(TxInner::Pool(self.pool.begin().await?)))
    }

    /// Reads without a common snapshot: each statement sees what is committed when it runs.
    /// For hot paths whose reads need not agree with each other to the instant (a decision's
    /// links, velocity and lists); it saves the `BEGIN` and `ROLLBACK` of [`Store::read`].
    pub async fn read_latest(&self) -> Result<Tx> {
        Ok(self.tx(TxInner::Conn(self.pool.acquire().await?)))
    }

    fn tx(&self, inner: TxInner) -> Tx {
        Tx {
            inner,
            dialect: self.dialect,
            enqueued: false,
            deferred_audit: Vec::new(),
            pending: Kept::default(),
        }
    }

    /// True when the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop().await;
        }
        self.pool.close().await;
    }
}

/// A SQLite pool whose connections are set up for durability and concurrency.
fn sqlite_pool(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .max_connections(max_connections)
        // A local file does not drop connections; sqlx's ping before every acquire would be
        // one more round trip to the connection's thread per read.
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; synchronous=FULL makes a commit
                // durable before the API answers 2xx, even across power loss. Every commit
                // empties the other connections' page caches; mapped, the file's unchanged
                // pages are read in place instead of with a `pread` each (docs/architecture.md).
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA mmap_size = 1073741824;",
                )
                .await?;
                Ok(())
            })
        })
}

/// A transaction across pillars; dropped without `commit`, it rolls back.
pub struct Tx {
    inner: TxInner,
    dialect: Dialect,
    /// Outbox actions were written in this transaction.
    enqueued: bool,
    /// Audit entries appended to their tenants' chains when the transaction commits.
    deferred_audit: Vec<(TenantId, DateTime<Utc>, AuditEntry)>,
    /// Writes not sent yet (see [`Tx::write`]).
    pending: Kept,
}

enum TxInner {
    /// PostgreSQL writes, and reads on both engines.
    Pool(sqlx::Transaction<'static, sqlx::Any>),
    /// SQLite writes: a savepoint in the writer's group.
    Group(writer::GroupTx),
    /// Reads outside a transaction ([`Store::read_latest`]).
    Conn(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Tx {
    /// True when the transaction wrote outbox actions, so whoever commits it knows to wake the
    /// outbox workers.
    pub fn enqueued_actions(&self) -> bool {
        self.enqueued
    }

    pub async fn commit(mut self) -> Result<()> {
        self.append_deferred_audit().await?;
        if matches!(self.inner, TxInner::Pool(_)) {
            self.conn().await?;
        }
        match self.inner {
            TxInner::Pool(tx) => Ok(tx.commit().await?),
            // The last writes go with the savepoint's `RELEASE`.
            TxInner::Group(tx) => tx.commit(self.pending.joined()).await,
            TxInner::Conn(_) => Ok(()),
        }
    }

    /// Keeps `write` to run, with the other kept writes, in one round trip before the
    /// transaction's next statement or its end (see [`batch`]). Outside a transaction it runs
    /// at once.
    pub(crate) async fn write(&mut self, write: Write) -> Result<()> {
        match self.inner {
            TxInner::Group(_) | TxInner::Pool(_) => self.pending.keep(write),
            TxInner::Conn(_) => write.execute(self.raw_conn()).await?,
        }
        Ok(())
    }

    /// The rows of `query`, after the kept writes. On SQLite they run in the same round trip,
    /// in order; its placeholders must come from [`sql::Params`]. On PostgreSQL the writes go
    /// first, as one statement of their own: parts of one statement do not see each other's
    /// changes, and the query may need to (an audit head updated earlier in the transaction).
    pub(crate) async fn fetch_after_writes(
        &mut self,
        query: Write,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        if self.dialect == Dialect::Postgres {
            self.conn().await?;
            return query.fetch_all(self.raw_conn()).await;
        }
        let mut all = std::mem::take(&mut self.pending).joined();
        all.push(query);
        all.fetch_all(self.raw_conn()).await
    }

    /// The connection, once the writes kept for it have run.
    async fn conn(&mut self) -> Result<&mut sqlx::AnyConnection> {
        if !self.pending.is_empty() {
            let kept = std::mem::take(&mut self.pending).into_statements(self.dialect);
            for statement in kept {
                statement.execute(self.raw_conn()).await?;
            }
        }
        Ok(self.raw_conn())
    }

    fn raw_conn(&mut self) -> &mut sqlx::AnyConnection {
        match &mut self.inner {
            TxInner::Pool(tx) => tx,
            TxInner::Group(tx) => tx.conn(),
            TxInner::Conn(conn) => conn,
        }
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
            .fetch_optional(self.conn().await?)
            .await?
            .ok_or(StoreError::NotFound)
    }
}
