//! Writes whose outcome nobody waits for, sent to SQLite's writer together.
//!
//! Each statement on SQLite is a round trip to the connection's own thread, and under load
//! those hand-offs, not SQLite, are where the writer's time goes (BENCHMARKS.md). A sign-up
//! inserts its facts, link keys, velocity events, decision and audit events, and none of those
//! inserts is read back before the transaction ends. So on SQLite [`Tx::write`] keeps them,
//! and the next statement that does need an answer, or the transaction's `RELEASE`, takes them
//! along as one multi-statement query. PostgreSQL cannot run several statements with
//! parameters in one message, so there a write runs at once.
//!
//! A write that fails reports its error at the statement that sent it; either way the
//! transaction fails and nothing of it is kept.
//!
//! Statements for [`Write`] take their placeholders from [`crate::sql::Params`]: SQLite binds
//! the anonymous `?` of consecutive statements from one list, in order. sqlx supports such
//! strings on SQLite alone and calls the behaviour deprecated (launchbadge/sqlx#3108); the
//! store's tests would fail at once if an upgrade removed it (docs/architecture.md).

use sqlx::{
    Any, AnyConnection,
    any::{AnyArguments, AnyRow},
    query::Query,
};

use crate::{Result, StoreError};

/// Unique constraints a write may break, as [`StoreError::unique`] takes them.
pub(crate) type Constraints = &'static [(&'static str, &'static str, &'static str)];

/// One bound value.
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

/// A statement and its values, run now or later (see [`Tx::write`](crate::Tx::write)).
#[derive(Default)]
pub(crate) struct Write {
    sql: String,
    binds: Vec<Bind>,
    /// Unique constraints of the statements, so a violation reported at a later statement
    /// still names the input field at fault.
    unique: Vec<Constraints>,
}

impl Write {
    pub(crate) fn new(sql: String) -> Self {
        Self {
            sql,
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

    pub(crate) fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Appends `other` to run after this one.
    pub(crate) fn push(&mut self, other: Write) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.sql.push_str(&other.sql);
        self.binds.extend(other.binds);
        self.unique.extend(other.unique);
    }

    pub(crate) async fn execute(self, conn: &mut AnyConnection) -> Result<()> {
        let (query, unique) = self.into_parts();
        match query.execute(conn).await {
            Ok(_) => Ok(()),
            Err(error) => Err(duplicate(error, &unique)),
        }
    }

    pub(crate) async fn fetch_all(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>> {
        let (query, unique) = self.into_parts();
        query
            .fetch_all(conn)
            .await
            .map_err(|error| duplicate(error, &unique))
    }

    fn into_parts(self) -> (Query<'static, Any, AnyArguments>, Vec<Constraints>) {
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

/// The first of `unique` that `error` violates, as `Duplicate`; otherwise the error itself.
fn duplicate(error: sqlx::Error, unique: &[Constraints]) -> StoreError {
    let mut error = StoreError::Database(error);
    for constraints in unique {
        error = match error {
            StoreError::Database(inner) => StoreError::unique(inner, constraints),
            mapped => return mapped,
        };
    }
    error
}
