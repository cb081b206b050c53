//! Tollgate's store. One SQL implementation serves both engines: the schema is written in the
//! portable subset (TEXT, BIGINT), every query is a [`statement::Statement`] that a [`Tx`] runs
//! on PostgreSQL through sqlx or on SQLite on the calling thread ([`lite`]), and the few places
//! where the engines differ — how a write transaction starts, how a row is locked — go through
//! [`Dialect`]. Each pillar is a module of methods on [`Tx`], so one transaction can span
//! pillars.

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
mod lite;
mod lookup;
mod outbox;
pub mod page;
mod policies;
mod prepaid;
mod row;
mod screened;
mod secrets;
mod sql;
mod statement;
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

use crate::{
    batch::Kept,
    statement::{Conn, Row, Statement},
};

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
pub use lookup::{Found, History, LINKED_IDS_PER_KEY, Linked, ListHit, Lookup};
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
    engine: Engine,
    dialect: Dialect,
}

#[derive(Debug, Clone)]
enum Engine {
    Postgres(AnyPool),
    Sqlite {
        /// The one connection that writes, with group commit (see [`writer`]). Writers queue
        /// for it in order instead of colliding on the file lock, where SQLite's busy handler
        /// sleeps with a growing back-off.
        writer: Arc<writer::Writer>,
        readers: Arc<lite::Readers>,
        /// Copies the write-ahead log back into the database beside the writer.
        checkpointer: Arc<checkpointer::Checkpointer>,
    },
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
        let engine = match dialect {
            Dialect::Sqlite => {
                let file = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("bad database URL: {e}")))?
                    .get_filename()
                    .to_owned();
                // sqlx creates the file, switches it to WAL and migrates it; the store's own
                // statements then run on connections of its own (see [`lite`]).
                let setup = sqlite_setup().connect_with(options).await?;
                MIGRATOR.run(&setup).await?;
                let checkpointer =
                    checkpointer::Checkpointer::start(setup.acquire().await?.detach());
                setup.close().await;
                Engine::Sqlite {
                    writer: Arc::new(writer::Writer::new(lite::LiteConn::open(&file)?)?),
                    readers: Arc::new(lite::Readers::new(file)),
                    checkpointer: Arc::new(checkpointer),
                }
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(10))
                    .max_connections(16)
                    .connect_with(options)
                    .await?;
                MIGRATOR.run(&pool).await?;
                Engine::Postgres(pool)
            }
        };
        Ok(Self { engine, dialect })
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
            engine: Engine::Postgres(pool),
            dialect: Dialect::Postgres,
        })
    }

    /// The PostgreSQL pool of an administrative store.
    #[cfg(feature = "testing")]
    fn pool(&self) -> &AnyPool {
        match &self.engine {
            Engine::Postgres(pool) => pool,
            Engine::Sqlite { .. } => unreachable!("administrative stores are PostgreSQL"),
        }
    }

    /// Runs raw SQL; tests use it to tamper with rows behind the store's back.
    #[cfg(feature = "testing")]
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        match tx.conn().await? {
            Conn::Any(conn) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(conn)
                    .await?;
            }
            Conn::Lite(conn) => conn.batch(sql)?,
            Conn::Blocking(lease) => lease.conn().batch(sql)?,
        }
        tx.commit().await
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction. On SQLite it is a savepoint in the writer's current group
    /// (see [`writer`]); its `commit` returns once the group's `COMMIT` is durable.
    pub async fn begin(&self) -> Result<Tx> {
        let inner = match &self.engine {
            Engine::Sqlite { writer, .. } => TxInner::Group(writer.begin().await?),
            Engine::Postgres(pool) => TxInner::Pool(pool.begin().await?),
        };
        Ok(self.tx(inner))
    }

    /// A read-only view; the transaction gives the reads one consistent snapshot.
    pub async fn read(&self) -> Result<Tx> {
        let inner = match &self.engine {
            Engine::Sqlite { readers, .. } => {
                let mut lease = readers.lease(true).await?;
                lease.conn().batch("BEGIN")?;
                TxInner::Lease(lease)
            }
            Engine::Postgres(pool) => TxInner::Pool(pool.begin().await?),
        };
        Ok(self.tx(inner))
    }

    /// Reads without a common snapshot: each statement sees what is committed when it runs.
    /// For hot paths whose reads need not agree with each other to the instant (a decision's
    /// links, velocity and lists); it saves the `BEGIN` and `ROLLBACK` of [`Store::read`].
    pub async fn read_latest(&self) -> Result<Tx> {
        let inner = match &self.engine {
            Engine::Sqlite { readers, .. } => TxInner::Lease(readers.lease(false).await?),
            Engine::Postgres(pool) => TxInner::Conn(pool.acquire().await?),
        };
        Ok(self.tx(inner))
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
        self.read_latest()
            .await?
            .execute(Statement::new("SELECT 1"))
            .await
            .map(drop)
    }

    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite {
                writer,
                readers,
                checkpointer,
            } => {
                writer.close().await;
                checkpointer.stop().await;
                readers.close();
            }
            Engine::Postgres(pool) => pool.close().await,
        }
    }
}

/// The SQLite connections sqlx keeps: the migrations', and the checkpointer's after them.
fn sqlite_setup() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer, and the file keeps the mode.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
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
    /// PostgreSQL writes, and PostgreSQL reads in one snapshot.
    Pool(sqlx::Transaction<'static, sqlx::Any>),
    /// PostgreSQL reads outside a transaction ([`Store::read_latest`]).
    Conn(sqlx::pool::PoolConnection<sqlx::Any>),
    /// SQLite writes: a savepoint in the writer's group.
    Group(writer::GroupTx),
    /// SQLite reads, in a transaction ([`Store::read`]) or not.
    Lease(lite::Lease),
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
            TxInner::Group(tx) => tx.commit().await,
            TxInner::Conn(_) => Ok(()),
            // Reads: nothing was kept (see `write`).
            TxInner::Lease(mut lease) => {
                if lease.conn().in_transaction() {
                    lease.conn().batch("COMMIT")?;
                }
                Ok(())
            }
        }
    }

    /// A write whose outcome nothing reads back in the transaction. In a PostgreSQL write
    /// transaction it is kept, to run with the other kept writes just before the transaction's
    /// next statement or its end (see [`batch`]); elsewhere a statement costs no round trip
    /// worth saving, and it runs at once.
    pub(crate) async fn write(&mut self, write: Statement) -> Result<()> {
        match self.inner {
            TxInner::Pool(_) => self.pending.keep(write),
            TxInner::Conn(_) | TxInner::Group(_) | TxInner::Lease(_) => {
                write.execute(self.raw_conn()).await?;
            }
        }
        Ok(())
    }

    /// Runs `statement` after the kept writes; returns the rows it changed.
    pub(crate) async fn execute(&mut self, statement: Statement) -> Result<u64> {
        statement.execute(self.conn().await?).await
    }

    /// The rows of `statement`, after the kept writes.
    pub(crate) async fn fetch_all(&mut self, statement: Statement) -> Result<Vec<Row>> {
        statement.fetch(self.conn().await?).await
    }

    /// The first row of `statement`, if any.
    pub(crate) async fn fetch_optional(&mut self, statement: Statement) -> Result<Option<Row>> {
        Ok(self.fetch_all(statement).await?.into_iter().next())
    }

    /// The first row of `statement`; none is `NotFound`.
    pub(crate) async fn fetch_one(&mut self, statement: Statement) -> Result<Row> {
        self.fetch_optional(statement)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The connection, once the writes kept for it have run.
    async fn conn(&mut self) -> Result<Conn<'_>> {
        if !self.pending.is_empty() {
            let kept = std::mem::take(&mut self.pending).into_statements();
            for statement in kept {
                statement.execute(self.raw_conn()).await?;
            }
        }
        Ok(self.raw_conn())
    }

    fn raw_conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxInner::Pool(tx) => Conn::Any(tx),
            TxInner::Conn(conn) => Conn::Any(conn),
            TxInner::Group(tx) => Conn::Lite(tx.conn()),
            TxInner::Lease(lease) => {
                if lease.blocking {
                    Conn::Blocking(lease)
                } else {
                    Conn::Lite(lease.conn())
                }
            }
        }
    }

    /// The one row `sql` selects with `$1` bound to the tenant and `$2` to the id; a missing
    /// row, like another tenant's, is `NotFound`.
    async fn row_by_id(&mut self, sql: String, tenant: TenantId, id: &str) -> Result<Row> {
        self.fetch_one(Statement::new(sql).bind(tenant.to_string()).bind(id))
            .await
    }
}
