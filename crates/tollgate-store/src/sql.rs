//! Placeholders for statements whose parameter count depends on the data (multi-row `VALUES`,
//! `IN` lists), written the way each engine binds them fastest.
//!
//! PostgreSQL numbers its parameters `$1, $2, …`. SQLite reads a `$n` as a named parameter, so
//! the store binds it by name (`lite.rs`), and SQLite finds a name by scanning the list of the
//! statement's named parameters: binding n of them costs n², and 5,500 took longer than running
//! the statement. Anonymous `?` are not in that list and cost the same however many there
//! are — but they are numbered by position, so a statement must not mix them with `$n` (its
//! first placeholder decides how all are bound), and a value used twice is bound twice.
//!
//! [`Params`] hands out placeholders in the order the values are bound:
//!
//! ```text
//! let mut p = Params::new(dialect);
//! let sql = format!("SELECT … WHERE tenant_id = {} AND id IN ({})", p.next(), p.list(ids.len()));
//! // then bind the tenant, then each id
//! ```

use crate::Dialect;

/// The most bind parameters one statement carries: SQLite's limit (PostgreSQL's is 65,535).
const MAX_PARAMS: usize = 32_766;

/// Writes placeholders in bind order for one statement.
#[derive(Debug)]
pub(crate) struct Params {
    dialect: Dialect,
    written: usize,
}

impl Params {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            written: 0,
        }
    }

    /// The next placeholder: `?` on SQLite, `$n` on PostgreSQL.
    pub(crate) fn next(&mut self) -> String {
        let mut out = String::new();
        self.push(&mut out);
        out
    }

    /// `n` placeholders separated by commas, for `IN (…)`.
    pub(crate) fn list(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n * 4);
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            self.push(&mut out);
        }
        out
    }

    /// `rows` tuples of `width` placeholders, `(…), (…)`, for `VALUES`: bind row by row.
    pub(crate) fn rows(&mut self, rows: usize, width: usize) -> String {
        let mut out = String::with_capacity(rows * (width * 4 + 4));
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            out.push('(');
            out.push_str(&self.list(width));
            out.push(')');
        }
        out
    }

    fn push(&mut self, out: &mut String) {
        self.written += 1;
        match self.dialect {
            Dialect::Sqlite => out.push('?'),
            Dialect::Postgres => {
                out.push('$');
                out.push_str(&self.written.to_string());
            }
        }
    }
}

/// How many rows of `width` parameters one statement can carry beside `fixed` other
/// parameters: split a longer list into chunks of this size.
pub(crate) fn rows_per_statement(width: usize, fixed: usize) -> usize {
    (MAX_PARAMS - fixed) / width.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_placeholders_are_anonymous() {
        let mut p = Params::new(Dialect::Sqlite);
        assert_eq!(p.next(), "?");
        assert_eq!(p.rows(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(p.list(2), "?, ?");
    }

    #[test]
    fn postgres_placeholders_are_numbered_in_bind_order() {
        let mut p = Params::new(Dialect::Postgres);
        assert_eq!(p.next(), "$1");
        assert_eq!(p.rows(2, 2), "($2, $3), ($4, $5)");
        assert_eq!(p.list(3), "$6, $7, $8");
    }

    #[test]
    fn a_statement_stays_within_the_parameter_limit() {
        assert_eq!(rows_per_statement(13, 0), 2_520);
        assert_eq!(rows_per_statement(3, 1), 10_921);
    }
}
