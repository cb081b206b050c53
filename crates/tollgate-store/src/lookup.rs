//! What a decision reads, in one statement.
//!
//! A decision looks at its neighbourhood: other customers sharing its link keys, velocity
//! windows, the tenant's block and allow lists, and for an existing customer its history
//! (sign-up facts, a cleared payment, passed verification steps). Asked one by one that is up to
//! six statements: six round trips on PostgreSQL, six read transactions to start on SQLite (and
//! under writes each finds its page cache emptied). The parts are independent reads, so they go
//! as one `UNION ALL` in a common row shape — `part` says which question a row answers, `k`
//! which key of it — and cost one statement on either engine.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use tollgate_core::{CustomerId, TenantId, signals::COUNT_CAP};

use crate::{
    Result, Tx,
    decisions::WindowCounts,
    row::{RowExt, micros},
    sql::Params,
    statement::{Bind, Statement},
};

/// How many of the customers sharing one key a decision names, the oldest first: enough to
/// show a ring, while a busy network's decisions stay small and every row the lookup returns
/// is one more value to copy out of the database.
pub const LINKED_IDS_PER_KEY: usize = 20;

/// The questions of one decision. Empty parts are not asked.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lookup<'a> {
    /// Link keys `(kind, value)`: which other customers share each.
    pub link_keys: &'a [(&'a str, String)],
    /// The customer whose own keys do not count as links.
    pub except: Option<CustomerId>,
    /// Velocity keys `(kind, key)`: their events over the sliding windows.
    pub velocity: &'a [(&'a str, &'a str)],
    /// List candidates `(kind, value)` in the lists' canonical form.
    pub list_candidates: &'a [(&'a str, String)],
    /// A customer whose history the decision weighs.
    pub history_of: Option<CustomerId>,
}

/// The answers, in the order of the questions.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// Per link key, the other customers sharing it.
    pub linked: Vec<Linked>,
    /// Per velocity key.
    pub velocity: Vec<WindowCounts>,
    /// The list items in force that match a candidate, by id.
    pub list_hits: Vec<ListHit>,
    /// Present when [`Lookup::history_of`] was asked.
    pub history: Option<History>,
}

/// The other customers sharing one link key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Linked {
    /// How many, counted up to [`COUNT_CAP`].
    pub count: u32,
    /// The oldest of them, at most [`LINKED_IDS_PER_KEY`].
    pub oldest: Vec<CustomerId>,
}

/// A list item a candidate matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListHit {
    pub id: String,
    pub kind: String,
    pub action: String,
    pub value: String,
}

/// What a customer has done since it signed up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct History {
    /// The sign-up facts as stored (JSON), when the customer came through `POST /v1/signups`.
    pub signup_facts: Option<String>,
    pub has_cleared_payment: bool,
    /// Verification steps passed, by name, sorted.
    pub completed_steps: Vec<String>,
}

/// Which question a row answers.
#[derive(Clone, Copy)]
enum Part {
    Link = 0,
    Velocity = 1,
    List = 2,
    SignupFacts = 3,
    ClearedPayments = 4,
    CompletedStep = 5,
    LinkCount = 6,
}

impl Part {
    fn of(value: i64) -> Option<Self> {
        [
            Part::Link,
            Part::Velocity,
            Part::List,
            Part::SignupFacts,
            Part::ClearedPayments,
            Part::CompletedStep,
            Part::LinkCount,
        ]
        .into_iter()
        .find(|part| *part as i64 == value)
    }
}

/// Builds the `UNION ALL`, binding each value where its placeholder is written.
struct Union {
    params: Params,
    sql: String,
    binds: Vec<Bind>,
    branches: usize,
}

impl Union {
    /// Placeholder for `value`.
    fn arg(&mut self, value: impl Into<Bind>) -> String {
        self.binds.push(value.into());
        self.params.next()
    }

    /// Adds one branch selecting `part`, key `k`, up to four text columns and four numbers,
    /// with `tail` (from `FROM` on). Unused columns are typed `NULL`s and zeros, so every
    /// branch has the shape PostgreSQL's `UNION` needs.
    fn branch(&mut self, part: Part, k: usize, texts: &[&str], numbers: &[String], tail: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(" UNION ALL ");
        }
        let mut columns = format!(
            "CAST({} AS BIGINT) AS part, CAST({k} AS BIGINT) AS k",
            part as i64
        );
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            let text = texts.get(i).copied().unwrap_or("CAST(NULL AS TEXT)");
            columns.push_str(&format!(", {text} AS {name}"));
        }
        for (i, name) in ["n1", "n2", "n3", "n4"].iter().enumerate() {
            let number = numbers.get(i).map_or("CAST(0 AS BIGINT)", String::as_str);
            columns.push_str(&format!(", {number} AS {name}"));
        }
        // A subquery of its own, so a branch may order and limit its rows.
        self.branches += 1;
        self.sql.push_str(&format!(
            "SELECT * FROM (SELECT {columns} {tail}) AS q{}",
            self.branches
        ));
    }
}

impl Tx {
    /// Asks every question of `lookup` at `now` in one statement.
    pub async fn look_up(
        &mut self,
        tenant: TenantId,
        lookup: &Lookup<'_>,
        now: DateTime<Utc>,
    ) -> Result<Found> {
        let mut union = Union {
            params: Params::new(self.dialect),
            sql: String::new(),
            binds: Vec::new(),
            branches: 0,
        };
        let tenant = tenant.to_string();
        let except = lookup.except.map(|c| c.to_string()).unwrap_or_default();
        for (k, (kind, value)) in lookup.link_keys.iter().enumerate() {
            // Each part is its own range of the (tenant, kind, value) index.
            let sharing = |union: &mut Union| {
                format!(
                    "FROM link_keys WHERE tenant_id = {} AND kind = {} AND value = {} \
                     AND customer_id <> {}",
                    union.arg(tenant.as_str()),
                    union.arg(*kind),
                    union.arg(value),
                    union.arg(except.as_str()),
                )
            };
            let tail = format!(
                "FROM (SELECT customer_id {} LIMIT {COUNT_CAP}) AS shared",
                sharing(&mut union)
            );
            let count = ["CAST(COUNT(*) AS BIGINT)".to_owned()];
            union.branch(Part::LinkCount, k, &[], &count, &tail);
            // Customer ids are UUIDv7, so their order is the customers' age, and it is the
            // key's own index order: naming the oldest reads 20 entries, however many share it.
            let tail = format!(
                "{} ORDER BY customer_id LIMIT {LINKED_IDS_PER_KEY}",
                sharing(&mut union)
            );
            union.branch(Part::Link, k, &["customer_id"], &[], &tail);
        }
        for (k, (kind, key)) in lookup.velocity.iter().enumerate() {
            let hour = union.arg(micros(now - Duration::hours(1)));
            let day = union.arg(micros(now - Duration::hours(24)));
            let day_again = union.arg(micros(now - Duration::hours(24)));
            let numbers = [
                format!(
                    "CAST(COALESCE(SUM(CASE WHEN at > {hour} THEN 1 ELSE 0 END), 0) AS BIGINT)"
                ),
                format!("CAST(COALESCE(SUM(CASE WHEN at > {day} THEN 1 ELSE 0 END), 0) AS BIGINT)"),
                "CAST(COUNT(*) AS BIGINT)".to_owned(),
                format!(
                    "CAST(COALESCE(SUM(CASE WHEN at > {day_again} THEN amount_minor ELSE 0 END), 0) AS BIGINT)"
                ),
            ];
            // At most the newest `COUNT_CAP` events, so a key every sign-up shares (a free-mail
            // domain, a network under a bot burst) costs a bounded scan, not one that grows
            // with the attack the rule is there for. Newest first: while the 7-day count is
            // below the cap, the shorter windows within it are exact too.
            let tail = format!(
                "FROM (SELECT at, amount_minor FROM velocity_events \
                 WHERE tenant_id = {} AND kind = {} AND key = {} AND at > {} AND at <= {} \
                 ORDER BY at DESC LIMIT {COUNT_CAP}) AS recent",
                union.arg(tenant.as_str()),
                union.arg(*kind),
                union.arg(*key),
                union.arg(micros(now - Duration::days(7))),
                union.arg(micros(now)),
            );
            union.branch(Part::Velocity, k, &[], &numbers, &tail);
        }
        if !lookup.list_candidates.is_empty() {
            let mut tail = format!(
                "FROM list_items WHERE tenant_id = {} AND removed_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > {}) AND (",
                union.arg(tenant.as_str()),
                union.arg(micros(now)),
            );
            // Grouped by kind, so each kind is one `IN` on the (tenant, kind, value) index.
            let mut by_kind = BTreeMap::<&str, BTreeSet<&str>>::new();
            for (kind, value) in lookup.list_candidates {
                by_kind.entry(kind).or_default().insert(value);
            }
            for (i, (kind, values)) in by_kind.into_iter().enumerate() {
                if i > 0 {
                    tail.push_str(" OR ");
                }
                let kind = union.arg(kind);
                let values: Vec<_> = values.into_iter().map(|v| union.arg(v)).collect();
                tail.push_str(&format!(
                    "(kind = {kind} AND value IN ({}))",
                    values.join(", ")
                ));
            }
            tail.push(')');
            union.branch(
                Part::List,
                0,
                &["id", "kind", "action", "value"],
                &[],
                &tail,
            );
        }
        if let Some(customer) = lookup.history_of {
            let customer = customer.to_string();
            let tail = format!(
                "FROM signups WHERE tenant_id = {} AND customer_id = {}",
                union.arg(tenant.as_str()),
                union.arg(customer.as_str()),
            );
            union.branch(Part::SignupFacts, 0, &["facts"], &[], &tail);
            // One cleared payment answers the question; a long-standing customer has hundreds.
            let tail = format!(
                "FROM (SELECT 1 AS cleared FROM payments WHERE tenant_id = {} AND customer_id = {} \
                 AND status = 'succeeded' LIMIT 1) AS first_cleared",
                union.arg(tenant.as_str()),
                union.arg(customer.as_str()),
            );
            union.branch(
                Part::ClearedPayments,
                0,
                &[],
                &["CAST(COUNT(*) AS BIGINT)".to_owned()],
                &tail,
            );
            let tail = format!(
                "FROM verifications WHERE tenant_id = {} AND customer_id = {} AND status = 'passed'",
                union.arg(tenant.as_str()),
                union.arg(customer.as_str()),
            );
            union.branch(Part::CompletedStep, 0, &["kind"], &[], &tail);
        }

        let mut found = Found {
            linked: vec![Linked::default(); lookup.link_keys.len()],
            velocity: vec![WindowCounts::default(); lookup.velocity.len()],
            list_hits: Vec::new(),
            history: lookup.history_of.map(|_| History::default()),
        };
        if union.sql.is_empty() {
            return Ok(found);
        }
        let mut query = Statement::new(union.sql);
        for bind in union.binds {
            query = query.bind(bind);
        }
        let rows = self.fetch_all(query).await?;
        for row in rows {
            let k = usize::try_from(row.int("k")?).unwrap_or(usize::MAX);
            match Part::of(row.int("part")?) {
                Some(Part::Link) => {
                    if let Some(linked) = found.linked.get_mut(k) {
                        linked.oldest.push(row.parsed("a")?);
                    }
                }
                Some(Part::LinkCount) => {
                    if let Some(linked) = found.linked.get_mut(k) {
                        linked.count = count(row.int("n1")?);
                    }
                }
                Some(Part::Velocity) => {
                    if let Some(slot) = found.velocity.get_mut(k) {
                        *slot = WindowCounts {
                            last_1h: count(row.int("n1")?),
                            last_24h: count(row.int("n2")?),
                            last_7d: count(row.int("n3")?),
                            amount_24h: row.int("n4")?,
                        };
                    }
                }
                Some(Part::List) => found.list_hits.push(ListHit {
                    id: row.text("a")?,
                    kind: row.text("b")?,
                    action: row.text("c")?,
                    value: row.text("d")?,
                }),
                Some(Part::SignupFacts) => {
                    if let Some(history) = &mut found.history {
                        history.signup_facts = Some(row.text("a")?);
                    }
                }
                Some(Part::ClearedPayments) => {
                    if let Some(history) = &mut found.history {
                        history.has_cleared_payment = row.int("n1")? > 0;
                    }
                }
                Some(Part::CompletedStep) => {
                    if let Some(history) = &mut found.history {
                        history.completed_steps.push(row.text("a")?);
                    }
                }
                None => {}
            }
        }
        found.list_hits.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(history) = &mut found.history {
            history.completed_steps.sort();
            history.completed_steps.dedup();
        }
        Ok(found)
    }
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
