//! SQLite on the calling thread.
//!
//! sqlx gives each SQLite connection a thread of its own and hands it every statement, and
//! every row back, through a channel: two thread switches per statement at least, plus a wake-up
//! per row. On a sign-up those hand-offs cost more than SQLite's own work, and the writer's
//! lock was held across them (BENCHMARKS.md, session 10). Here a statement runs where it is
//! asked, on the caller's thread: a [`LiteConn`] is only ever used by whoever holds it (the
//! writer's lock, a reader lease), so SQLite's own per-connection mutex is off too.
//!
//! Migrations still run through sqlx when the store opens.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{
    Connection, OpenFlags,
    types::{Null, ValueRef},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    Result, StoreError,
    statement::{Bind, Row, Statement},
};

/// Distinct statements a connection keeps prepared: the store's fixed statements, plus room
/// for the ones whose text varies with the data (`IN` lists, multi-row `VALUES`).
const PREPARED_STATEMENTS: usize = 512;

/// Readers on loan at once; a lease asked for beyond them waits for one to come back.
const READERS: usize = 16;

/// Idle readers kept open for the next lease.
const IDLE_READERS: usize = 8;

/// How long a lease waits for a reader before the request fails.
const LEASE_TIMEOUT: Duration = Duration::from_secs(30);

/// One SQLite connection, set up for the store.
pub(crate) struct LiteConn(Connection);

impl std::fmt::Debug for LiteConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiteConn")
    }
}

impl LiteConn {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
        // The file is already in WAL mode (the migrations set it). synchronous=FULL makes a
        // commit durable before the API answers 2xx, even across power loss. Not mapped: a
        // connection unmaps the whole file whenever a read finds the log changed, which under
        // steady writes is every read (docs/architecture.md).
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
             PRAGMA foreign_keys = ON; PRAGMA mmap_size = 0;",
        )?;
        Ok(Self(conn))
    }

    /// Runs statements without values (transaction control, settings).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    /// Runs `statement`; returns the rows it changed.
    pub(crate) fn execute(&mut self, statement: Statement) -> Result<u64> {
        self.run(statement, false)?;
        Ok(self.0.changes())
    }

    /// The rows of `statement`.
    pub(crate) fn fetch(&mut self, statement: Statement) -> Result<Vec<Row>> {
        self.run(statement, true)
    }

    pub(crate) fn in_transaction(&self) -> bool {
        !self.0.is_autocommit()
    }

    fn run(&mut self, statement: Statement, keep_rows: bool) -> Result<Vec<Row>> {
        let Statement { sql, binds, unique } = statement;
        self.rows(&sql, binds, keep_rows)
            .map_err(|error| Statement::failure(&unique, error.into()))
    }

    fn rows(&mut self, sql: &str, binds: Vec<Bind>, keep_rows: bool) -> rusqlite::Result<Vec<Row>> {
        let mut prepared = self.0.prepare_cached(sql)?;
        // `$n` are named parameters to SQLite, numbered in order of first appearance; `?` are
        // numbered by position. One statement never mixes them (see `statement`).
        let named = prepared
            .parameter_name(1)
            .is_some_and(|name| name.starts_with('$'));
        for (i, value) in binds.into_iter().enumerate() {
            let index = if named {
                match prepared.parameter_index(&format!("${}", i + 1))? {
                    Some(index) => index,
                    // A value the statement does not use.
                    None => continue,
                }
            } else {
                i + 1
            };
            match value {
                Bind::Text(Some(text)) => prepared.raw_bind_parameter(index, text)?,
                Bind::Int(Some(int)) => prepared.raw_bind_parameter(index, int)?,
                Bind::Text(None) | Bind::Int(None) => prepared.raw_bind_parameter(index, Null)?,
            }
        }
        let columns: Arc<[String]> = if keep_rows {
            prepared
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            Arc::new([])
        };
        let mut rows = prepared.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            if !keep_rows {
                continue;
            }
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(int) => Value::Int(int),
                    ValueRef::Real(_) => Value::Real,
                    ValueRef::Text(text) | ValueRef::Blob(text) => {
                        Value::Text(String::from_utf8_lossy(text).into_owned())
                    }
                });
            }
            out.push(Row::Lite(LiteRow {
                columns: Arc::clone(&columns),
                values,
            }));
        }
        Ok(out)
    }
}

/// A row read out of SQLite, its columns shared with the other rows of its statement.
#[derive(Debug)]
pub(crate) struct LiteRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

#[derive(Debug)]
pub(crate) enum Value {
    Null,
    Int(i64),
    /// The store never writes floating-point values; one read back is reported, not used.
    Real,
    Text(String),
}

impl LiteRow {
    pub(crate) fn value(&self, col: &str) -> Result<&Value> {
        self.columns
            .iter()
            .position(|name| name == col)
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Corrupt(format!("no column `{col}` in the row")))
    }
}

/// Readers for SQLite: connections lent one at a time and returned when the lease ends.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<LiteConn>>,
    on_loan: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            on_loan: Arc::new(Semaphore::new(READERS)),
        }
    }

    /// Lends a reader; a `blocking` one runs its statements on the blocking pool.
    pub(crate) async fn lease(self: &Arc<Self>, blocking: bool) -> Result<Lease> {
        let permit = tokio::time::timeout(LEASE_TIMEOUT, Arc::clone(&self.on_loan).acquire_owned())
            .await
            .ok()
            .and_then(std::result::Result::ok)
            .ok_or(StoreError::Database(sqlx::Error::PoolTimedOut))?;
        let idle = self.idle.lock().expect("readers lock").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let mut conn = LiteConn::open(&self.path)?;
                // A reader never takes the write lock, so it never waits on the busy timeout
                // on the runtime's thread; the writer is the one connection that writes.
                conn.batch("PRAGMA query_only = ON")?;
                conn
            }
        };
        Ok(Lease {
            conn: Some(conn),
            readers: Arc::clone(self),
            blocking,
            _permit: permit,
        })
    }

    pub(crate) fn close(&self) {
        self.idle.lock().expect("readers lock").clear();
    }
}

/// A reader on loan; it goes back to the idle readers when the lease is dropped, with any
/// transaction it was in ended.
#[derive(Debug)]
pub(crate) struct Lease {
    /// `None` only inside `drop`, or while a statement runs on the blocking pool.
    conn: Option<LiteConn>,
    readers: Arc<Readers>,
    /// Statements run on the blocking pool instead of the caller's thread: for snapshot reads
    /// (pages, reports, backtests, jobs), which may scan far more than a decision's lookups
    /// and must not hold a runtime worker meanwhile.
    pub(crate) blocking: bool,
    /// Returned after the connection, when the lease is dropped.
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    pub(crate) fn conn(&mut self) -> &mut LiteConn {
        self.conn.as_mut().expect("a lease holds its connection")
    }

    /// Runs `statement` on the blocking pool: its rows and the rows it changed. Should the
    /// caller stop waiting, the connection is closed when the statement ends.
    pub(crate) async fn run_blocking(&mut self, statement: Statement) -> Result<(Vec<Row>, u64)> {
        let mut conn = self.conn.take().expect("a lease holds its connection");
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = conn
                .run(statement, true)
                .map(|rows| (rows, conn.0.changes()));
            (conn, out)
        })
        .await
        .expect("a statement does not panic");
        self.conn = Some(conn);
        out
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if conn.in_transaction() && conn.batch("ROLLBACK").is_err() {
            // A connection that cannot end its transaction is not lent again.
            return;
        }
        let mut idle = self.readers.idle.lock().expect("readers lock");
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}
