//! Writes whose outcome nobody waits for, sent together to PostgreSQL.
//!
//! On PostgreSQL each statement is a round trip to the server. A sign-up inserts its customer,
//! facts, link keys, velocity events, decision and audit events, and none of those inserts is
//! read back before the transaction ends. So [`Tx::write`](crate::Tx::write) keeps them
//! ([`Kept`]), and the next statement that does need an answer, or the transaction's end, takes
//! them along as data-modifying `WITH` parts of one statement. On SQLite a statement costs no
//! round trip (see [`crate::lite`]), so there writes run at once and nothing is kept.
//!
//! A write that fails reports its error at the statement that sent it; either way the
//! transaction fails and nothing of it is kept.

use crate::statement::Statement;

/// PostgreSQL refuses a statement with more bound parameters than this.
const POSTGRES_MAX_BINDS: usize = 65_535;

/// The writes a transaction keeps until its next statement that needs an answer.
#[derive(Default)]
pub(crate) struct Kept(Vec<Statement>);

impl Kept {
    pub(crate) fn keep(&mut self, write: Statement) {
        self.0.push(write);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The statements that run the kept writes: data-modifying `WITH` parts of one statement,
    /// the last write its main part, as few statements as the parameter limit allows. The parts
    /// do not see each other's changes, which is why only writes that nothing reads back are
    /// kept; foreign keys are checked when the whole statement is done, so a child may ride with
    /// its parent.
    pub(crate) fn into_statements(self) -> Vec<Statement> {
        let mut statements = Vec::new();
        let mut group: Vec<Statement> = Vec::new();
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

/// `WITH k1 AS (…), k2 AS (…) last`: one PostgreSQL statement, each part's `$n` moved past the
/// parameters of the parts before it.
fn with_parts(mut parts: Vec<Statement>) -> Statement {
    let last = parts.pop().expect("a group has a statement");
    if parts.is_empty() {
        return last;
    }
    let mut out = Statement {
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
        kept.keep(Statement::new("INSERT INTO a VALUES ($1)").bind(1_i64));
        kept.keep(
            Statement::new("INSERT INTO b VALUES ($1, $2)")
                .bind(2_i64)
                .bind(3_i64),
        );
        kept.keep(
            Statement::new("UPDATE c SET x = $1 WHERE y = $2")
                .bind(4_i64)
                .bind(5_i64),
        );
        let statements = kept.into_statements();
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
            let mut write = Statement::new("INSERT INTO a VALUES ($1)");
            for i in 0..30_000_i64 {
                write = write.bind(i);
            }
            kept.keep(write);
        }
        let statements = kept.into_statements();
        assert_eq!(statements.len(), 2);
        assert!(
            statements
                .iter()
                .all(|s| s.binds.len() <= POSTGRES_MAX_BINDS)
        );
    }
}
