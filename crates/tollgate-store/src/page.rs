//! Cursor pagination: ids sort by creation time, so "after this id" is a stable cursor that
//! survives inserts and deletes between pages.

use serde::Serialize;
use tollgate_core::TenantId;

use crate::statement::{Bind, Statement};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// The last id of the previous page.
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, MAX_LIMIT)) + 1
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Trims the one extra row fetched to learn whether another page exists.
    pub(crate) fn from_rows(
        mut data: Vec<T>,
        request: &PageRequest,
        id: impl Fn(&T) -> String,
    ) -> Self {
        let limit = request.limit.clamp(1, MAX_LIMIT) as usize;
        let next_cursor = if data.len() > limit {
            data.truncate(limit);
            data.last().map(id)
        } else {
            None
        };
        Self { data, next_cursor }
    }
}

/// The statement for one page of a tenant's rows: the `SELECT … FROM …` given, narrowed to the
/// tenant and to ids after the cursor, then by each condition, in id order, one row more than
/// the page holds (see [`Page::from_rows`]).
pub(crate) struct Listing {
    statement: Statement,
    /// `i.` when the rows come through a join under that alias.
    qualifier: String,
    limit: i64,
}

impl Listing {
    pub(crate) fn new(select: impl Into<String>, tenant: TenantId, page: &PageRequest) -> Self {
        Self::aliased(select, "", tenant, page)
    }

    /// For a `select` whose listed table goes by `alias`.
    pub(crate) fn aliased(
        select: impl Into<String>,
        alias: &str,
        tenant: TenantId,
        page: &PageRequest,
    ) -> Self {
        let qualifier = if alias.is_empty() {
            String::new()
        } else {
            format!("{alias}.")
        };
        let mut sql = select.into();
        sql.push_str(&format!(
            " WHERE {qualifier}tenant_id = $1 AND {qualifier}id > $2"
        ));
        Self {
            statement: Statement::new(sql)
                .bind(tenant.to_string())
                .bind(page.after.clone().unwrap_or_default()),
            qualifier,
            limit: page.fetch_limit(),
        }
    }

    /// Rows whose `column` is `value`; no value (or an empty one) leaves them all.
    pub(crate) fn matching(self, column: &str, value: Option<impl ToString>) -> Self {
        match value.map(|v| v.to_string()).filter(|v| !v.is_empty()) {
            Some(value) => {
                let column = format!("{}{column}", self.qualifier);
                self.condition(value, |p| format!("{column} = {p}"))
            }
            None => self,
        }
    }

    /// A condition on one value, written by `sql` around the value's placeholder.
    pub(crate) fn condition(
        mut self,
        value: impl Into<Bind>,
        sql: impl FnOnce(&str) -> String,
    ) -> Self {
        let placeholder = format!("${}", self.statement.binds.len() + 1);
        self.statement.sql.push_str(" AND ");
        self.statement.sql.push_str(&sql(&placeholder));
        self.statement = self.statement.bind(value);
        self
    }

    /// A condition without values.
    pub(crate) fn and(mut self, condition: &str) -> Self {
        self.statement.sql.push_str(" AND ");
        self.statement.sql.push_str(condition);
        self
    }

    pub(crate) fn statement(mut self) -> Statement {
        let placeholder = self.statement.binds.len() + 1;
        self.statement.sql.push_str(&format!(
            " ORDER BY {}id LIMIT ${placeholder}",
            self.qualifier
        ));
        self.statement.bind(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_asks_only_for_the_filters_given_and_numbers_their_values() {
        let page = PageRequest {
            after: Some("c_1".into()),
            limit: 10,
        };
        let statement = Listing::aliased(
            "SELECT i.id FROM invoices i",
            "i",
            TenantId::generate(),
            &page,
        )
        .matching("customer_id", Some("c_9"))
        .matching("status", None::<&str>)
        .matching("kind", Some(""))
        .condition(5_i64, |p| format!("amount > {p}"))
        .and("void = 0")
        .statement();
        assert_eq!(
            statement.sql,
            "SELECT i.id FROM invoices i WHERE i.tenant_id = $1 AND i.id > $2 \
             AND i.customer_id = $3 AND amount > $4 AND void = 0 ORDER BY i.id LIMIT $5"
        );
        assert_eq!(statement.binds.len(), 5);
        assert_eq!(statement.binds[1], Bind::Text(Some("c_1".into())));
        assert_eq!(statement.binds[4], Bind::Int(Some(11)));
    }
}
