//! Payment methods and orders as screened: stored with the status their decision gave them,
//! listed for the analysts' review queue, and released or declined by a person or by a later
//! decision.

use chrono::{DateTime, Utc};
use tollgate_core::{CustomerId, DecisionId, TenantId};

use crate::{
    Result, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    sql::Params,
    statement::{Row, Statement},
};

/// Which of the two screened things a statement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screened {
    PaymentMethod,
    Order,
}

impl Screened {
    fn table(self) -> &'static str {
        match self {
            Screened::PaymentMethod => "payment_methods",
            Screened::Order => "orders",
        }
    }
}

/// A person's verdict on a held payment method or order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The actor's label: an API key id, `cli`, `job:…`.
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

/// A payment method or order: its facts, its status after screening and the deciding decision.
#[derive(Debug, Clone)]
pub struct ScreenedRow {
    pub id: String,
    pub customer_id: CustomerId,
    pub facts: String,
    pub status: String,
    pub decision_id: DecisionId,
    pub created_at: DateTime<Utc>,
    /// Set once a person released or declined it.
    pub review: Option<Review>,
}

/// An order: screened, plus what it is paid with and its total.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub screened: ScreenedRow,
    pub payment_method_id: String,
    pub total_minor: i64,
    pub currency: String,
}

/// Where a payment method or order goes from where, under which decision, on whose word.
#[derive(Debug, Clone, Copy)]
pub struct Settlement<'a> {
    pub from: &'a str,
    pub status: &'a str,
    /// The decision that stands afterwards.
    pub decision_id: DecisionId,
    /// The person's review, when one settled it; None when a new decision did.
    pub review: Option<&'a Review>,
}

#[derive(Debug, Clone, Default)]
pub struct ScreenedFilter {
    pub customer_id: Option<CustomerId>,
    pub status: Option<String>,
}

const COLUMNS: &str = "id, customer_id, facts, status, decision_id, created_at, reviewed_by, reviewed_at, review_note";
const ORDER_COLUMNS: &str = "id, customer_id, facts, status, decision_id, created_at, reviewed_by, \
                             reviewed_at, review_note, payment_method_id, total_minor, currency";

fn screened(row: &Row) -> Result<ScreenedRow> {
    let review = match (row.opt_text("reviewed_by")?, row.opt_at("reviewed_at")?) {
        (Some(by), Some(at)) => Some(Review {
            by,
            at,
            note: row.opt_text("review_note")?,
        }),
        _ => None,
    };
    Ok(ScreenedRow {
        id: row.text("id")?,
        customer_id: row.parsed("customer_id")?,
        facts: row.text("facts")?,
        status: row.text("status")?,
        decision_id: row.parsed("decision_id")?,
        created_at: row.at("created_at")?,
        review,
    })
}

fn order(row: &Row) -> Result<OrderRow> {
    Ok(OrderRow {
        screened: screened(row)?,
        payment_method_id: row.text("payment_method_id")?,
        total_minor: row.int("total_minor")?,
        currency: row.text("currency")?,
    })
}

impl Tx {
    /// Stores a payment method with the status its screening gave it.
    pub async fn insert_payment_method(
        &mut self,
        tenant: TenantId,
        pm: &ScreenedRow,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO payment_methods (tenant_id, id, customer_id, facts, status, decision_id, \
             created_at) VALUES {}",
            Params::new(self.dialect).rows(1, 7)
        );
        self.write(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(&pm.id)
                .bind(pm.customer_id.to_string())
                .bind(&pm.facts)
                .bind(&pm.status)
                .bind(pm.decision_id.to_string())
                .bind(micros(pm.created_at)),
        )
        .await
    }

    pub async fn payment_method(&mut self, tenant: TenantId, id: &str) -> Result<ScreenedRow> {
        let sql = format!("SELECT {COLUMNS} FROM payment_methods WHERE tenant_id = $1 AND id = $2");
        screened(&self.row_by_id(sql, tenant, id).await?)
    }

    pub async fn insert_order(&mut self, tenant: TenantId, order: &OrderRow) -> Result<()> {
        let screened = &order.screened;
        let sql = format!(
            "INSERT INTO orders (tenant_id, id, customer_id, payment_method_id, facts, total_minor, \
             currency, status, decision_id, created_at) VALUES {}",
            Params::new(self.dialect).rows(1, 10)
        );
        self.write(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(&screened.id)
                .bind(screened.customer_id.to_string())
                .bind(&order.payment_method_id)
                .bind(&screened.facts)
                .bind(order.total_minor)
                .bind(&order.currency)
                .bind(&screened.status)
                .bind(screened.decision_id.to_string())
                .bind(micros(screened.created_at)),
        )
        .await
    }

    pub async fn order(&mut self, tenant: TenantId, id: &str) -> Result<OrderRow> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND id = $2");
        order(&self.row_by_id(sql, tenant, id).await?)
    }

    /// Payment methods oldest first; `status = held` is the review queue.
    pub async fn list_payment_methods(
        &mut self,
        tenant: TenantId,
        filter: &ScreenedFilter,
        page: &PageRequest,
    ) -> Result<Page<ScreenedRow>> {
        let rows = self
            .screened_rows(Screened::PaymentMethod, COLUMNS, tenant, filter, page)
            .await?;
        let data = rows.iter().map(screened).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(data, page, |pm| pm.id.clone()))
    }

    /// Orders oldest first; `status = held` is the review queue.
    pub async fn list_orders(
        &mut self,
        tenant: TenantId,
        filter: &ScreenedFilter,
        page: &PageRequest,
    ) -> Result<Page<OrderRow>> {
        let rows = self
            .screened_rows(Screened::Order, ORDER_COLUMNS, tenant, filter, page)
            .await?;
        let data = rows.iter().map(order).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(data, page, |o| o.screened.id.clone()))
    }

    async fn screened_rows(
        &mut self,
        what: Screened,
        columns: &str,
        tenant: TenantId,
        filter: &ScreenedFilter,
        page: &PageRequest,
    ) -> Result<Vec<Row>> {
        let listing = Listing::new(
            format!("SELECT {columns} FROM {}", what.table()),
            tenant,
            page,
        )
        .matching("customer_id", filter.customer_id)
        .matching("status", filter.status.as_deref());
        self.fetch_all(listing.statement()).await
    }

    /// Moves a payment method or order as `settlement` says if it still has the status the
    /// settlement starts from. False when it had left it: whoever came first decided.
    pub async fn settle_screened(
        &mut self,
        what: Screened,
        tenant: TenantId,
        id: &str,
        settlement: &Settlement<'_>,
    ) -> Result<bool> {
        let Settlement {
            from,
            status,
            decision_id,
            review,
        } = *settlement;
        let sql = format!(
            "UPDATE {} SET status = $4, decision_id = $5, reviewed_by = $6, reviewed_at = $7, \
             review_note = $8 WHERE tenant_id = $1 AND id = $2 AND status = $3",
            what.table()
        );
        let done = self
            .execute(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(id)
                    .bind(from)
                    .bind(status)
                    .bind(decision_id.to_string())
                    .bind(review.map(|r| r.by.clone()))
                    .bind(review.map(|r| micros(r.at)))
                    .bind(review.and_then(|r| r.note.clone())),
            )
            .await?;
        Ok(done == 1)
    }

    /// Held orders, of every tenant or of one customer, whose standing decision waited for a
    /// first payment (hold code `awaiting_first_payment`) that has cleared since, after order
    /// id `after`, in id order: `(tenant, order id)`, and the last order id looked at (the
    /// cursor for the next call; None when there is nothing after it).
    pub async fn orders_awaiting_cleared_payment(
        &mut self,
        only: Option<(TenantId, CustomerId)>,
        after: &str,
        limit: u32,
    ) -> Result<(Vec<(TenantId, String)>, Option<String>)> {
        let (tenant, customer) = only
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .unwrap_or_default();
        // The LIKE only narrows the scan to decisions that mention the code anywhere;
        // `held_for` reads the hold codes themselves.
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT o.tenant_id, o.id, d.decision FROM orders o \
             JOIN decisions d ON d.tenant_id = o.tenant_id AND d.id = o.decision_id \
             WHERE o.status = 'held' AND o.id > $1 \
             AND ($2 = '' OR (o.tenant_id = $2 AND o.customer_id = $3)) \
             AND d.decision LIKE '%\"awaiting_first_payment\"%' \
             AND EXISTS (SELECT 1 FROM payments p WHERE p.tenant_id = o.tenant_id \
                         AND p.customer_id = o.customer_id AND p.status = 'succeeded') \
             ORDER BY o.id LIMIT $4",
                )
                .bind(after)
                .bind(tenant)
                .bind(customer)
                .bind(i64::from(limit)),
            )
            .await?;
        let mut due = Vec::new();
        let mut last = None;
        for row in &rows {
            let id = row.text("id")?;
            if held_for(row, &["awaiting_first_payment"])? {
                due.push((row.parsed("tenant_id")?, id.clone()));
            }
            last = Some(id);
        }
        Ok((due, last))
    }

    /// A payment method's facts changed (the PSP verified a bank account): the new facts, and
    /// the status and decision of screening them again.
    pub async fn restate_payment_method(
        &mut self,
        tenant: TenantId,
        id: &str,
        facts: &str,
        status: &str,
        decision_id: DecisionId,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "UPDATE payment_methods SET facts = $3, status = $4, decision_id = $5 \
             WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.to_string())
            .bind(id)
            .bind(facts)
            .bind(status)
            .bind(decision_id.to_string()),
        )
        .await?;
        Ok(())
    }

    /// Held orders paid with `payment_method_id` whose standing decision held them for one of
    /// `hold_codes`, in id order.
    pub async fn orders_held_on(
        &mut self,
        tenant: TenantId,
        payment_method_id: &str,
        hold_codes: &[&str],
    ) -> Result<Vec<String>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT o.id, d.decision FROM orders o \
             JOIN decisions d ON d.tenant_id = o.tenant_id AND d.id = o.decision_id \
             WHERE o.tenant_id = $1 AND o.payment_method_id = $2 AND o.status = 'held' \
             ORDER BY o.id",
                )
                .bind(tenant.to_string())
                .bind(payment_method_id),
            )
            .await?;
        let mut held = Vec::new();
        for row in &rows {
            if held_for(row, hold_codes)? {
                held.push(row.text("id")?);
            }
        }
        Ok(held)
    }
}

/// Whether the row's `decision` (a stored decision's JSON) holds for one of `hold_codes`.
fn held_for(row: &Row, hold_codes: &[&str]) -> Result<bool> {
    let decision: serde_json::Value = row.json("decision")?;
    Ok(decision["hold_codes"].as_array().is_some_and(|codes| {
        codes
            .iter()
            .any(|c| c.as_str().is_some_and(|c| hold_codes.contains(&c)))
    }))
}
