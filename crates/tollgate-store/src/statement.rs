//! One SQL statement with its values, and the rows it returns, whichever engine runs it.
//!
//! The store's modules build a [`Statement`] and hand it to a [`Tx`](crate::Tx) method
//! (`execute`, `fetch_all`, `fetch_optional`, `fetch_one`, or `write` to keep it for later);
//! they never see the driver. So how a statement reaches the engine — sqlx for PostgreSQL, the
//! connection on the calling thread for SQLite — is decided in one place (docs/architecture.md).
//!
//! Placeholders are PostgreSQL's `$n`, which SQLite reads as named parameters and binds by
//! name, or the anonymous `?` that [`crate::sql::Params`] writes on SQLite; one statement never
//! mixes the two.

use sqlx::{
    Any, AnyConnection,
    any::{AnyArguments, AnyRow},
    query::Query,
};

use crate::{
    Result, StoreError,
    lite::{Lease, LiteConn, LiteRow},
};

/// Unique constraints a write may break, as [`StoreError::unique`] takes them.
pub(crate) type Constraints = &'static [(&'static str, &'static str, &'static str)];

/// One bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<String> for Bind {
    fn from(value: String) -> Self {
        Bind::Text(Some(value))
    }
}

impl From<&str> for Bind {
    fn from(value: &str) -> Self {
        Bind::Text(Some(value.to_owned()))
    }
}

impl From<&String> for Bind {
    fn from(value: &String) -> Self {
        Bind::Text(Some(value.clone()))
    }
}

impl From<Option<String>> for Bind {
    fn from(value: Option<String>) -> Self {
        Bind::Text(value)
    }
}

impl From<Option<&str>> for Bind {
    fn from(value: Option<&str>) -> Self {
        Bind::Text(value.map(str::to_owned))
    }
}

impl From<Option<i64>> for Bind {
    fn from(value: Option<i64>) -> Self {
        Bind::Int(value)
    }
}

impl From<i64> for Bind {
    fn from(value: i64) -> Self {
        Bind::Int(Some(value))
    }
}

/// A statement and its values.
#[derive(Debug, Default)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) binds: Vec<Bind>,
    /// Unique constraints of the statement, so a violation reported at a later statement
    /// (see [`crate::batch`]) still names the input field at fault.
    pub(crate) unique: Vec<Constraints>,
}

impl Statement {
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            binds: Vec::new(),
            unique: Vec::new(),
        }
    }

    /// A unique violation of the statement is reported as [`StoreError::Duplicate`].
    pub(crate) fn unique(mut self, constraints: Constraints) -> Self {
        self.unique.push(constraints);
        self
    }

    pub(crate) fn bind(mut self, value: impl Into<Bind>) -> Self {
        self.binds.push(value.into());
        self
    }

    /// The error a failed run reports: a violation of one of its unique constraints as
    /// `Duplicate`, otherwise the error itself.
    pub(crate) fn failure(unique: &[Constraints], error: StoreError) -> StoreError {
        unique
            .iter()
            .fold(error, |error, constraints| error.unique(constraints))
    }

    /// Runs the statement; returns the rows it changed.
    pub(crate) async fn execute(self, conn: Conn<'_>) -> Result<u64> {
        match conn {
            Conn::Lite(conn) => conn.execute(self),
            Conn::Blocking(lease) => Ok(lease.run_blocking(self).await?.1),
            Conn::Any(conn) => {
                let (query, unique) = self.into_sqlx();
                match query.execute(conn).await {
                    Ok(done) => Ok(done.rows_affected()),
                    Err(error) => Err(Self::failure(&unique, error.into())),
                }
            }
        }
    }

    /// The rows of the statement.
    pub(crate) async fn fetch(self, conn: Conn<'_>) -> Result<Vec<Row>> {
        match conn {
            Conn::Lite(conn) => conn.fetch(self),
            Conn::Blocking(lease) => Ok(lease.run_blocking(self).await?.0),
            Conn::Any(conn) => {
                let (query, unique) = self.into_sqlx();
                match query.fetch_all(conn).await {
                    Ok(rows) => Ok(rows.into_iter().map(Row::Any).collect()),
                    Err(error) => Err(Self::failure(&unique, error.into())),
                }
            }
        }
    }

    fn into_sqlx(self) -> (Query<'static, Any, AnyArguments>, Vec<Constraints>) {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql));
        for value in self.binds {
            query = match value {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        (query, self.unique)
    }
}

/// Where a statement runs: a sqlx connection (PostgreSQL), SQLite on this thread, or SQLite on
/// the blocking pool.
pub(crate) enum Conn<'a> {
    Any(&'a mut AnyConnection),
    Lite(&'a mut LiteConn),
    Blocking(&'a mut Lease),
}

/// One row a statement returned; read it through [`crate::row::RowExt`].
pub(crate) enum Row {
    Any(AnyRow),
    Lite(LiteRow),
}
