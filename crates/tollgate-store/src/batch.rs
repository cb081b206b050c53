//! Writes whose outcome nobody waits for, sent together.
//!
//! Each statement is a round trip: on SQLite to the connection's own thread, on PostgreSQL to
//! the server, and under load those hand-offs are where much of the time goes (BENCHMARKS.md).
//! A sign-up inserts its customer, facts, link keys, velocity events, decision and audit
//! events, and none of those inserts is read back before the transaction ends. So
//! [`Tx::write`](crate::Tx::write) keeps them ([`Kept`]), and the next statement that does
//! need an answer, or the transaction's end, takes them along: on SQLite as one multi-statement
//! query (with the savepoint's `RELEASE`), on PostgreSQL, which takes one statement per query,
//! as data-modifying `WITH` parts of one statement.
//!
//! A write that fails reports its error at the statement that sent it; either way the
//! transaction fails and nothing of it is kept.
//!
//! Statements for [`Write`] take their placeholders from [`crate::sql::Params`]: SQLite binds
//! the anonymous `?` of consecutive statements from one list, in order; PostgreSQL's `$n` are
//! moved past the parts before them. sqlx supports several statements in one query on SQLite
//! alone and calls the behaviour deprecated (launchbadge/sqlx#3108); the store's tests would
//! fail at once if an upgrade removed it (docs/architecture.md).

use sqlx::{
    Any, AnyConnection,
    any::{AnyArguments, AnyRow},
    query::Query,
};

use crate::{Dialect, Result, StoreError};

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

/// PostgreSQL refuses a statement with more bound parameters than this.
const POSTGRES_MAX_BINDS: usize = 65_535;

/// The writes a transaction keeps until its next statement that needs an answer.
#[derive(Default)]
pub(crate) struct Kept(Vec<Write>);

impl Kept {
    pub(crate) fn keep(&mut self, write: Write) {
        self.0.push(write);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// SQLite's form: the writes as one multi-statement query, in order (empty when none).
    pub(crate) fn joined(self) -> Write {
        let mut all = Write::default();
        for write in self.0 {
            all.push(write);
        }
        all
    }

    /// The statements that run the kept writes, in as few round trips as the engine allows.
    ///
    /// SQLite takes several statements in one query: one. PostgreSQL takes one statement per
    /// query, so there the writes become data-modifying `WITH` parts of one statement, the last
    /// write its main part. The parts do not see each other's changes, which is why only writes
    /// that nothing reads back are kept; foreign keys are checked when the whole statement is
    /// done, so a child may ride with its parent.
    pub(crate) fn into_statements(self, dialect: Dialect) -> Vec<Write> {
        match dialect {
            Dialect::Sqlite => {
                let all = self.joined();
                if all.is_empty() {
                    Vec::new()
                } else {
                    vec![all]
                }
            }
            Dialect::Postgres => {
                let mut statements = Vec::new();
                let mut group: Vec<Write> = Vec::new();
                let mut binds = 0;
                for write in self.0 {
                    if !group.is_empty() && binds + write.binds.len() > POSTGRES_MAX_BINDS {
                        statements.push(with_parts(std::mem::take(&mut group)));
                        binds = 0;
                    }
                    binds += write.binds.len();
                    group.push(write);
                }
                if !group.is_empty() {
                    statements.push(with_parts(group));
                }
                statements
            }
        }
    }
}

/// `WITH k1 AS (…), k2 AS (…) last`: one PostgreSQL statement, each part's `$n` moved past the
/// parameters of the parts before it.
fn with_parts(mut parts: Vec<Write>) -> Write {
    let last = parts.pop().expect("a group has a statement");
    if parts.is_empty() {
        return last;
    }
    let mut out = Write {
        sql: "WITH ".to_owned(),
        binds: Vec::new(),
        unique: Vec::new(),
    };
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            out.sql.push_str(", ");
        }
        out.sql.push_str(&format!("k{i} AS ("));
        out.sql.push_str(&renumber(&part.sql, out.binds.len()));
        out.sql.push(')');
        out.binds.extend(part.binds);
        out.unique.extend(part.unique);
    }
    out.sql.push(' ');
    out.sql.push_str(&renumber(&last.sql, out.binds.len()));
    out.binds.extend(last.binds);
    out.unique.extend(last.unique);
    out
}

/// `sql` with every placeholder `$n` outside string literals made `$(n + offset)`.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '\'' => quoted = !quoted,
            '$' if !quoted => {
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                if let Ok(n) = digits.parse::<usize>() {
                    out.push_str(&(n + offset).to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_move_past_the_parts_before_and_literals_stay() {
        assert_eq!(
            renumber("UPDATE t SET a = $1, b = '$2' WHERE c = $10", 3),
            "UPDATE t SET a = $4, b = '$2' WHERE c = $13"
        );
    }

    #[test]
    fn postgres_writes_are_with_parts_of_one_statement() {
        let mut kept = Kept::default();
        kept.keep(Write::new("INSERT INTO a VALUES ($1)".into()).bind(1));
        kept.keep(
            Write::new("INSERT INTO b VALUES ($1, $2)".into())
                .bind(2)
                .bind(3),
        );
        kept.keep(
            Write::new("UPDATE c SET x = $1 WHERE y = $2".into())
                .bind(4)
                .bind(5),
        );
        let statements = kept.into_statements(Dialect::Postgres);
        assert_eq!(statements.len(), 1);
        assert_eq!(
            statements[0].sql,
            "WITH k0 AS (INSERT INTO a VALUES ($1)), k1 AS (INSERT INTO b VALUES ($2, $3)) \
             UPDATE c SET x = $4 WHERE y = $5"
        );
        assert_eq!(statements[0].binds.len(), 5);
    }

    #[test]
    fn a_postgres_statement_never_carries_more_parameters_than_it_may() {
        let mut kept = Kept::default();
        for _ in 0..3 {
            let mut write = Write::new("INSERT INTO a VALUES ($1)".into());
            for i in 0..30_000 {
                write = write.bind(i);
            }
            kept.keep(write);
        }
        let statements = kept.into_statements(Dialect::Postgres);
        assert_eq!(statements.len(), 2);
        assert!(
            statements
                .iter()
                .all(|s| s.binds.len() <= POSTGRES_MAX_BINDS)
        );
    }

    #[test]
    fn sqlite_writes_are_one_multi_statement_query() {
        let mut kept = Kept::default();
        kept.keep(Write::new("INSERT INTO a VALUES (?)".into()).bind(1));
        kept.keep(Write::new("INSERT INTO b VALUES (?)".into()).bind(2));
        let statements = kept.into_statements(Dialect::Sqlite);
        assert_eq!(statements.len(), 1);
        assert_eq!(
            statements[0].sql,
            "INSERT INTO a VALUES (?);\nINSERT INTO b VALUES (?)"
        );
        assert!(Kept::default().into_statements(Dialect::Sqlite).is_empty());
    }
}
