//! Collections facts (invoices, voids, credit notes, payments, refunds, chargebacks) and the ordered
//! log of what changed each customer's account, from which the core engine rebuilds it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use tollgate_core::{
    CreditNoteId, Currency, CustomerId, DisputeId, InvoiceId, Money, PaymentId, RefundId,
    SubscriptionId, TenantId,
    collections::{
        Account, AccountFact, AgingReport, AllocationRequest, Buckets, Chargeback, CreditNote,
        CurrencyAging, CustomerAging, Invoice, InvoiceLine, InvoiceVoid, Payment, Refund,
        bucket_edges,
    },
};

use crate::{
    Dialect, Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    sql::{Params, rows_per_statement},
    statement::{Row, Statement},
};

const INVOICE_COLUMNS: &str = "i.id, i.customer_id, i.number, i.currency, i.total_minor, \
                               i.open_minor, i.issued_at, i.due_at, v.reason AS void_reason, \
                               v.voided_at AS voided_at";
const INVOICE_FROM: &str = "FROM invoices i LEFT JOIN invoice_voids v ON v.invoice_id = i.id AND v.tenant_id = i.tenant_id";
const PAYMENT_COLUMNS: &str = "id, customer_id, amount_minor, currency, method, status, \
                               failure_code, external_ref, received_at";

/// How [`Tx::aging_rows`] groups open amounts: per customer (all, or one) and currency, or
/// per currency only.
enum AgingRows {
    PerCustomer(Option<CustomerId>),
    /// The customer rows with the most past due, at most this many.
    MostPastDue(u32),
    Totals,
}

const UNIQUE: &[(&str, &str, &str)] = &[
    (
        "invoices_number",
        "invoices.tenant_id, invoices.number",
        "number",
    ),
    (
        "payments_external_ref",
        "payments.tenant_id, payments.external_ref",
        "external_ref",
    ),
];

/// Customers (or accounts) per statement when many are read or locked at once.
const ACCOUNTS_PER_STATEMENT: usize = 500;

/// One customer's account in one currency.
pub type AccountKey = (CustomerId, Currency);

/// Picks a few accounts' rows: the tenant's, of their customers and their currencies. A
/// statement may return rows of a customer in another account's currency too; callers keep
/// only the accounts they asked for.
struct AccountsFilter {
    /// The tenant, then each customer, then each currency: the order the placeholders are in.
    values: Vec<String>,
    customers: usize,
}

impl AccountsFilter {
    fn new(tenant: TenantId, accounts: &[AccountKey]) -> Self {
        let mut customers: Vec<String> = accounts.iter().map(|(c, _)| c.to_string()).collect();
        customers.sort_unstable();
        customers.dedup();
        let mut currencies: Vec<String> = accounts.iter().map(|(_, c)| c.to_string()).collect();
        currencies.sort_unstable();
        currencies.dedup();
        let count = customers.len();
        let mut values = vec![tenant.to_string()];
        values.extend(customers);
        values.extend(currencies);
        Self {
            values,
            customers: count,
        }
    }

    /// The condition on the named columns, with placeholders for [`AccountsFilter::values`].
    fn sql(&self, dialect: Dialect, tenant: &str, customer: &str, currency: &str) -> String {
        let mut p = Params::new(dialect);
        format!(
            "{tenant} = {} AND {customer} IN ({}) AND {currency} IN ({})",
            p.next(),
            p.list(self.customers),
            p.list(self.values.len() - 1 - self.customers)
        )
    }
}

/// Where an invoice stands, derived from the facts about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Open,
    Paid,
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }
}

/// A stored invoice with what is still open on it and its void, if any.
#[derive(Debug, Clone)]
pub struct InvoiceRow {
    pub invoice: Invoice,
    pub open: Money,
    pub void: Option<InvoiceVoid>,
}

impl InvoiceRow {
    pub fn status(&self) -> InvoiceStatus {
        if self.void.is_some() {
            InvoiceStatus::Void
        } else if self.open.amount.is_zero() {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Open
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub customer_id: Option<CustomerId>,
    pub status: Option<InvoiceStatus>,
}

/// Which kind of fact an `account_facts` entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactKind {
    Invoice,
    Void,
    CreditNote,
    Payment,
    Refund,
    Chargeback,
}

impl FactKind {
    fn as_str(self) -> &'static str {
        match self {
            FactKind::Invoice => "invoice",
            FactKind::Void => "void",
            FactKind::CreditNote => "credit_note",
            FactKind::Payment => "payment",
            FactKind::Refund => "refund",
            FactKind::Chargeback => "chargeback",
        }
    }
}

fn minor(money: Money) -> Result<i64> {
    money
        .to_minor()
        .map_err(|e| StoreError::Conflict(format!("amount {money}: {e}")))
}

fn money(row: &Row, col: &str, currency: Currency) -> Result<Money> {
    Ok(Money::from_minor(row.int(col)?, currency))
}

fn invoice_row(row: &Row, lines: Vec<InvoiceLine>) -> Result<InvoiceRow> {
    let currency: Currency = row.parsed("currency")?;
    let id: InvoiceId = row.parsed("id")?;
    let void = match row.opt_at("voided_at")? {
        Some(voided_at) => Some(InvoiceVoid {
            invoice_id: id,
            voided_at,
            reason: row.opt_text("void_reason")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(InvoiceRow {
        invoice: Invoice {
            id,
            number: row.text("number")?,
            customer_id: row.parsed("customer_id")?,
            issued_at: row.at("issued_at")?,
            due_at: row.at("due_at")?,
            currency,
            lines,
            total: money(row, "total_minor", currency)?,
        },
        open: money(row, "open_minor", currency)?,
        void,
    })
}

fn payment_row(row: &Row, allocations: Vec<AllocationRequest>) -> Result<Payment> {
    let currency: Currency = row.parsed("currency")?;
    Ok(Payment {
        id: row.parsed("id")?,
        customer_id: row.parsed("customer_id")?,
        amount: money(row, "amount_minor", currency)?,
        method: row.parsed("method")?,
        status: row.parsed("status")?,
        failure_code: row.opt_text("failure_code")?,
        external_ref: row.opt_text("external_ref")?,
        received_at: row.at("received_at")?,
        allocations,
    })
}

impl Tx {
    /// Locks the tenant's customers among `ids` until the transaction ends (on PostgreSQL, in id
    /// order, as one customer's writers lock it) and returns those the tenant has.
    pub async fn lock_customers(
        &mut self,
        tenant: TenantId,
        ids: &[CustomerId],
    ) -> Result<HashSet<CustomerId>> {
        let lock = format!(" ORDER BY id{}", self.dialect.for_update());
        self.rows_by_id("id FROM customers", &lock, tenant, ids)
            .await?
            .iter()
            .map(|row| row.parsed("id"))
            .collect()
    }

    /// The customer of each of the tenant's subscriptions among `ids` (which invoice lines
    /// name); an id the tenant does not have is left out.
    pub async fn subscription_customers(
        &mut self,
        tenant: TenantId,
        ids: &[SubscriptionId],
    ) -> Result<HashMap<SubscriptionId, CustomerId>> {
        self.rows_by_id("id, customer_id FROM subscriptions", "", tenant, ids)
            .await?
            .iter()
            .map(|row| Ok((row.parsed("id")?, row.parsed("customer_id")?)))
            .collect()
    }

    /// `SELECT {what} WHERE tenant_id = … AND id IN (…){tail}` for the distinct `ids` in id
    /// order, a few hundred per statement.
    async fn rows_by_id(
        &mut self,
        what: &str,
        tail: &str,
        tenant: TenantId,
        ids: &[impl ToString],
    ) -> Result<Vec<Row>> {
        let mut ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut rows = Vec::new();
        for chunk in ids.chunks(ACCOUNTS_PER_STATEMENT) {
            let mut p = Params::new(self.dialect);
            let sql = format!(
                "SELECT {what} WHERE tenant_id = {} AND id IN ({}){tail}",
                p.next(),
                p.list(chunk.len())
            );
            let mut query = Statement::new(sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id);
            }
            rows.extend(self.fetch_all(query).await?);
        }
        Ok(rows)
    }

    /// Stores invoices (open in full) and enters each in its customer's account log, in the
    /// order given. Multi-row statements: on PostgreSQL every statement is a round trip, and
    /// one per invoice, line and log entry made an import of many invoices wait on the network.
    /// Callers hold each customer's row lock, so the log's next numbers are not raced.
    pub async fn insert_invoices(
        &mut self,
        tenant: TenantId,
        invoices: &[Invoice],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let t = tenant.to_string();
        let created = micros(at);
        for chunk in invoices.chunks(rows_per_statement(10, 0)) {
            let sql = format!(
                "INSERT INTO invoices (id, tenant_id, customer_id, number, currency, total_minor, \
                 open_minor, issued_at, due_at, created_at) VALUES {}",
                Params::new(self.dialect).rows(chunk.len(), 10)
            );
            let mut query = Statement::new(sql);
            for invoice in chunk {
                let total = minor(invoice.total)?;
                query = query
                    .bind(invoice.id.to_string())
                    .bind(&t)
                    .bind(invoice.customer_id.to_string())
                    .bind(&invoice.number)
                    .bind(invoice.currency.to_string())
                    .bind(total)
                    .bind(total)
                    .bind(micros(invoice.issued_at))
                    .bind(micros(invoice.due_at))
                    .bind(created);
            }
            self.execute(query).await.map_err(|e| e.unique(UNIQUE))?;
        }
        let lines: Vec<(InvoiceId, i64, &InvoiceLine)> = invoices
            .iter()
            .flat_map(|invoice| {
                invoice.lines.iter().enumerate().map(|(position, line)| {
                    (
                        invoice.id,
                        i64::try_from(position).unwrap_or(i64::MAX),
                        line,
                    )
                })
            })
            .collect();
        for chunk in lines.chunks(rows_per_statement(6, 0)) {
            let sql = format!(
                "INSERT INTO invoice_lines (invoice_id, position, description, subscription_id, \
                 quantity, amount_minor) VALUES {}",
                Params::new(self.dialect).rows(chunk.len(), 6)
            );
            let mut query = Statement::new(sql);
            for (invoice, position, line) in chunk {
                query = query
                    .bind(invoice.to_string())
                    .bind(*position)
                    .bind(&line.description)
                    .bind(line.subscription_id.map(|s| s.to_string()))
                    .bind(line.quantity.to_string())
                    .bind(minor(line.amount)?);
            }
            self.execute(query).await?;
        }
        let accounts: Vec<AccountKey> = invoices
            .iter()
            .map(|i| (i.customer_id, i.currency))
            .collect();
        let mut seqs = self.last_fact_seqs(tenant, &accounts).await?;
        let facts: Vec<(&Invoice, i64)> = invoices
            .iter()
            .map(|invoice| {
                let seq = seqs
                    .entry((invoice.customer_id, invoice.currency))
                    .or_insert(0);
                *seq += 1;
                (invoice, *seq)
            })
            .collect();
        for chunk in facts.chunks(rows_per_statement(7, 0)) {
            let sql = format!(
                "INSERT INTO account_facts (tenant_id, customer_id, currency, seq, kind, ref_id, \
                 created_at) VALUES {}",
                Params::new(self.dialect).rows(chunk.len(), 7)
            );
            let mut query = Statement::new(sql);
            for (invoice, seq) in chunk {
                query = query
                    .bind(&t)
                    .bind(invoice.customer_id.to_string())
                    .bind(invoice.currency.to_string())
                    .bind(*seq)
                    .bind(FactKind::Invoice.as_str())
                    .bind(invoice.id.to_string())
                    .bind(created);
            }
            self.execute(query).await?;
        }
        Ok(())
    }

    /// The last place taken in each of `accounts`' logs; an account with no facts is left out.
    async fn last_fact_seqs(
        &mut self,
        tenant: TenantId,
        accounts: &[AccountKey],
    ) -> Result<HashMap<AccountKey, i64>> {
        let mut accounts = accounts.to_vec();
        accounts.sort_unstable();
        accounts.dedup();
        let mut last = HashMap::new();
        for chunk in accounts.chunks(ACCOUNTS_PER_STATEMENT) {
            let filter = AccountsFilter::new(tenant, chunk);
            let sql = format!(
                "SELECT customer_id, currency, MAX(seq) AS seq FROM account_facts WHERE {} \
                 GROUP BY customer_id, currency",
                filter.sql(self.dialect, "tenant_id", "customer_id", "currency")
            );
            let mut query = Statement::new(sql);
            for value in &filter.values {
                query = query.bind(value);
            }
            for row in self.fetch_all(query).await? {
                last.insert(
                    (row.parsed("customer_id")?, row.parsed("currency")?),
                    row.int("seq")?,
                );
            }
        }
        Ok(last)
    }

    pub async fn invoice(&mut self, tenant: TenantId, id: InvoiceId) -> Result<InvoiceRow> {
        let sql =
            format!("SELECT {INVOICE_COLUMNS} {INVOICE_FROM} WHERE i.tenant_id = $1 AND i.id = $2");
        let row = self
            .fetch_optional(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(id.to_string()),
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut found = self.with_lines(&[row]).await?;
        found.pop().ok_or(StoreError::NotFound)
    }

    /// The tenant's invoices with any of `numbers`, by number (for an import to tell new
    /// invoices from ones it already holds, a few hundred numbers per statement).
    pub async fn invoices_by_number(
        &mut self,
        tenant: TenantId,
        numbers: &[&str],
    ) -> Result<HashMap<String, InvoiceRow>> {
        const PER_STATEMENT: usize = 200;
        let mut found = HashMap::new();
        for chunk in numbers.chunks(PER_STATEMENT) {
            let placeholders = (0..chunk.len())
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {INVOICE_COLUMNS} {INVOICE_FROM} \
                 WHERE i.tenant_id = $1 AND i.number IN ({placeholders})"
            );
            let mut query = Statement::new(sql).bind(tenant.to_string());
            for number in chunk {
                query = query.bind(*number);
            }
            let rows = self.fetch_all(query).await?;
            for invoice in self.with_lines(&rows).await? {
                found.insert(invoice.invoice.number.clone(), invoice);
            }
        }
        Ok(found)
    }

    /// The invoice with this number, if the tenant has one: a bulk import skips what it stored
    /// before.
    pub async fn invoice_by_number(
        &mut self,
        tenant: TenantId,
        number: &str,
    ) -> Result<Option<InvoiceRow>> {
        Ok(self
            .invoices_by_number(tenant, &[number])
            .await?
            .remove(number))
    }

    pub async fn list_invoices(
        &mut self,
        tenant: TenantId,
        filter: &InvoiceFilter,
        page: &PageRequest,
    ) -> Result<Page<InvoiceRow>> {
        let status = filter.status.map(|status| match status {
            InvoiceStatus::Open => "v.invoice_id IS NULL AND i.open_minor > 0",
            InvoiceStatus::Paid => "v.invoice_id IS NULL AND i.open_minor = 0",
            InvoiceStatus::Void => "v.invoice_id IS NOT NULL",
        });
        let mut listing = Listing::aliased(
            format!("SELECT {INVOICE_COLUMNS} {INVOICE_FROM}"),
            "i",
            tenant,
            page,
        )
        .matching("customer_id", filter.customer_id);
        if let Some(status) = status {
            listing = listing.and(status);
        }
        let rows = self.fetch_all(listing.statement()).await?;
        let invoices = self.with_lines(&rows).await?;
        Ok(Page::from_rows(invoices, page, |i| {
            i.invoice.id.to_string()
        }))
    }

    /// Invoice rows (selected with `INVOICE_COLUMNS`) with their lines, in the rows' order.
    async fn with_lines(&mut self, rows: &[Row]) -> Result<Vec<InvoiceRow>> {
        let keys = rows
            .iter()
            .map(|r| {
                Ok((
                    r.parsed::<InvoiceId>("id")?,
                    r.parsed::<Currency>("currency")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut lines = self.invoice_lines(&keys).await?;
        rows.iter()
            .zip(&keys)
            .map(|(row, (id, _))| invoice_row(row, lines.remove(id).unwrap_or_default()))
            .collect()
    }

    /// The lines of `invoices`, read by the primary key alone (the caller knows each
    /// invoice's currency, so no join: its plan cannot go wrong on a large table).
    async fn invoice_lines(
        &mut self,
        invoices: &[(InvoiceId, Currency)],
    ) -> Result<HashMap<InvoiceId, Vec<InvoiceLine>>> {
        const PER_STATEMENT: usize = 500;
        let currencies: HashMap<InvoiceId, Currency> = invoices.iter().copied().collect();
        let mut lines: HashMap<InvoiceId, Vec<InvoiceLine>> = HashMap::new();
        for chunk in invoices.chunks(PER_STATEMENT) {
            let sql = format!(
                "SELECT invoice_id, description, subscription_id, quantity, amount_minor \
                 FROM invoice_lines WHERE invoice_id IN ({}) ORDER BY invoice_id, position",
                Params::new(self.dialect).list(chunk.len())
            );
            let mut query = Statement::new(sql);
            for (id, _) in chunk {
                query = query.bind(id.to_string());
            }
            for row in self.fetch_all(query).await? {
                let invoice_id: InvoiceId = row.parsed("invoice_id")?;
                let currency = currencies.get(&invoice_id).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("a line of {invoice_id}, which was not asked for"))
                })?;
                let line = InvoiceLine {
                    description: row.text("description")?,
                    subscription_id: row
                        .opt_text("subscription_id")?
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("subscription_id: {e}")))?,
                    quantity: row.parsed("quantity")?,
                    amount: money(&row, "amount_minor", currency)?,
                };
                lines.entry(invoice_id).or_default().push(line);
            }
        }
        Ok(lines)
    }

    /// Records a void; the caller has checked the account accepts it.
    pub async fn insert_invoice_void(
        &mut self,
        tenant: TenantId,
        invoice: &Invoice,
        void: &InvoiceVoid,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "INSERT INTO invoice_voids (invoice_id, tenant_id, reason, voided_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(invoice.id.to_string())
            .bind(tenant.to_string())
            .bind(&void.reason)
            .bind(micros(void.voided_at))
            .bind(micros(at)),
        )
        .await?;
        self.log_fact(
            tenant,
            invoice.customer_id,
            invoice.currency,
            FactKind::Void,
            &invoice.id.to_string(),
            at,
        )
        .await
        .map(drop)
    }

    /// Records a credit note against `invoice`; the caller has checked the account accepts it.
    pub async fn insert_credit_note(
        &mut self,
        tenant: TenantId,
        invoice: &Invoice,
        note: &CreditNote,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(Statement::new("INSERT INTO credit_notes (id, tenant_id, invoice_id, amount_minor, currency, reason, \
             issued_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",)
        .bind(note.id.to_string())
        .bind(tenant.to_string())
        .bind(note.invoice_id.to_string())
        .bind(minor(note.amount)?)
        .bind(note.amount.currency.to_string())
        .bind(&note.reason)
        .bind(micros(note.issued_at))
        .bind(micros(at)))
        .await?;
        self.log_fact(
            tenant,
            invoice.customer_id,
            note.amount.currency,
            FactKind::CreditNote,
            &note.id.to_string(),
            at,
        )
        .await
        .map(drop)
    }

    /// Records a payment of any status with the allocations the payer asked for.
    pub async fn insert_payment(
        &mut self,
        tenant: TenantId,
        payment: &Payment,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "INSERT INTO payments (id, tenant_id, customer_id, amount_minor, currency, status, \
             received_at, created_at, method, failure_code, external_ref) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(payment.id.to_string())
            .bind(tenant.to_string())
            .bind(payment.customer_id.to_string())
            .bind(minor(payment.amount)?)
            .bind(payment.amount.currency.to_string())
            .bind(payment.status.as_str())
            .bind(micros(payment.received_at))
            .bind(micros(at))
            .bind(payment.method.as_str())
            .bind(payment.failure_code.clone())
            .bind(payment.external_ref.clone()),
        )
        .await
        .map_err(|e| e.unique(UNIQUE))?;
        let currency = payment.amount.currency;
        for (position, request) in payment.allocations.iter().enumerate() {
            let amount = Money::new(request.amount, currency)
                .map_err(|e| StoreError::Conflict(e.to_string()))?;
            self.execute(Statement::new("INSERT INTO payment_allocations (payment_id, position, invoice_id, amount_minor) \
                 VALUES ($1, $2, $3, $4)",)
            .bind(payment.id.to_string())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(request.invoice_id.to_string())
            .bind(minor(amount)?))
            .await?;
        }
        self.log_fact(
            tenant,
            payment.customer_id,
            currency,
            FactKind::Payment,
            &payment.id.to_string(),
            at,
        )
        .await
        .map(drop)
    }

    pub async fn payment(&mut self, tenant: TenantId, id: PaymentId) -> Result<Payment> {
        let sql =
            format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id = $1 AND id = $2");
        let row = self
            .fetch_optional(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(id.to_string()),
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        let currency: Currency = row.parsed("currency")?;
        let allocations = self.fetch_all(Statement::new("SELECT invoice_id, amount_minor FROM payment_allocations WHERE payment_id = $1 \
             ORDER BY position",)
        .bind(id.to_string()))
        .await?
        .iter()
        .map(|r| {
            Ok(AllocationRequest {
                invoice_id: r.parsed("invoice_id")?,
                amount: money(r, "amount_minor", currency)?.amount,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        payment_row(&row, allocations)
    }

    /// Records a refund out of a payment of `customer`.
    pub async fn insert_refund(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        id: RefundId,
        refund: &Refund,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "INSERT INTO refunds (id, tenant_id, payment_id, amount_minor, currency, reason, \
             refunded_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id.to_string())
            .bind(tenant.to_string())
            .bind(refund.payment_id.to_string())
            .bind(minor(refund.amount)?)
            .bind(refund.amount.currency.to_string())
            .bind(reason.map(str::to_owned))
            .bind(micros(refund.refunded_at))
            .bind(micros(at)),
        )
        .await?;
        self.log_fact(
            tenant,
            customer,
            refund.amount.currency,
            FactKind::Refund,
            &id.to_string(),
            at,
        )
        .await
        .map(drop)
    }

    /// Records one status report of a chargeback against a payment of `customer`.
    pub async fn insert_chargeback(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        chargeback: &Chargeback,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let currency = chargeback.amount.currency;
        let seq = self
            .log_fact(
                tenant,
                customer,
                currency,
                FactKind::Chargeback,
                &chargeback.id.to_string(),
                at,
            )
            .await?;
        self.execute(
            Statement::new(
                "INSERT INTO chargebacks (id, seq, tenant_id, payment_id, amount_minor, currency, \
             reason, status, updated_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(chargeback.id.to_string())
            .bind(seq)
            .bind(tenant.to_string())
            .bind(chargeback.payment_id.to_string())
            .bind(minor(chargeback.amount)?)
            .bind(currency.to_string())
            .bind(&chargeback.reason)
            .bind(chargeback.status.as_str())
            .bind(micros(chargeback.updated_at))
            .bind(micros(at)),
        )
        .await?;
        Ok(())
    }

    /// Appends to the customer's account log and returns the entry's place in it. Callers hold
    /// the customer's row lock, so the next number is not raced.
    async fn log_fact(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        currency: Currency,
        kind: FactKind,
        ref_id: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let row = self
            .fetch_one(
                Statement::new(
                    "SELECT COALESCE(MAX(seq), 0) AS seq FROM account_facts \
             WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3",
                )
                .bind(tenant.to_string())
                .bind(customer.to_string())
                .bind(currency.to_string()),
            )
            .await?;
        let seq = row.int("seq")? + 1;
        self.execute(
            Statement::new(
                "INSERT INTO account_facts (tenant_id, customer_id, currency, seq, kind, ref_id, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant.to_string())
            .bind(customer.to_string())
            .bind(currency.to_string())
            .bind(seq)
            .bind(kind.as_str())
            .bind(ref_id)
            .bind(micros(at)),
        )
        .await?;
        Ok(seq)
    }

    /// The currencies the customer has facts in, sorted by code.
    pub async fn account_currencies(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Currency>> {
        let rows = self.fetch_all(Statement::new("SELECT DISTINCT currency FROM account_facts WHERE tenant_id = $1 AND customer_id = $2 \
             ORDER BY currency",)
        .bind(tenant.to_string())
        .bind(customer.to_string()))
        .await?;
        rows.iter().map(|r| r.parsed("currency")).collect()
    }

    /// The facts of one customer's account in one currency, in the order they were recorded.
    pub async fn account_facts(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        currency: Currency,
    ) -> Result<Vec<AccountFact>> {
        let key = (customer, currency);
        let mut facts = self.accounts_facts(tenant, &[key]).await?;
        Ok(facts.remove(&key).unwrap_or_default())
    }

    /// The facts of each of `accounts`, in the order they were recorded, read for a few hundred
    /// accounts per statement; an account with no facts is left out.
    pub async fn accounts_facts(
        &mut self,
        tenant: TenantId,
        accounts: &[AccountKey],
    ) -> Result<HashMap<AccountKey, Vec<AccountFact>>> {
        let mut accounts = accounts.to_vec();
        accounts.sort_unstable();
        accounts.dedup();
        let mut facts = HashMap::new();
        for chunk in accounts.chunks(ACCOUNTS_PER_STATEMENT) {
            self.some_accounts_facts(tenant, chunk, &mut facts).await?;
        }
        Ok(facts)
    }

    async fn some_accounts_facts(
        &mut self,
        tenant: TenantId,
        accounts: &[AccountKey],
        facts: &mut HashMap<AccountKey, Vec<AccountFact>>,
    ) -> Result<()> {
        let wanted: HashSet<AccountKey> = accounts.iter().copied().collect();
        let filter = AccountsFilter::new(tenant, accounts);
        let dialect = self.dialect;
        let condition = |tenant: &str, customer: &str, currency: &str| {
            filter.sql(dialect, tenant, customer, currency)
        };
        let log = self
            .fetch_filtered(
                format!(
                    "SELECT customer_id, currency, seq, kind, ref_id FROM account_facts \
                     WHERE {} ORDER BY customer_id, currency, seq",
                    condition("tenant_id", "customer_id", "currency")
                ),
                &filter,
            )
            .await?;

        let invoice_rows = self
            .fetch_filtered(
                format!(
                    "SELECT {INVOICE_COLUMNS} {INVOICE_FROM} WHERE {}",
                    condition("i.tenant_id", "i.customer_id", "i.currency")
                ),
                &filter,
            )
            .await?;
        let invoices: HashMap<InvoiceId, InvoiceRow> = self
            .with_lines(&invoice_rows)
            .await?
            .into_iter()
            .map(|row| (row.invoice.id, row))
            .collect();

        let notes = self
            .fetch_filtered(
                format!(
                    "SELECT n.id, n.invoice_id, n.amount_minor, n.currency, n.reason, n.issued_at \
                     FROM credit_notes n \
                     JOIN invoices i ON i.id = n.invoice_id AND i.tenant_id = n.tenant_id \
                     WHERE {}",
                    condition("i.tenant_id", "i.customer_id", "n.currency")
                ),
                &filter,
            )
            .await?
            .iter()
            .map(|r| {
                let note = CreditNote {
                    id: r.parsed("id")?,
                    invoice_id: r.parsed("invoice_id")?,
                    amount: money(r, "amount_minor", r.parsed("currency")?)?,
                    issued_at: r.at("issued_at")?,
                    reason: r.text("reason")?,
                };
                Ok((note.id, note))
            })
            .collect::<Result<HashMap<CreditNoteId, CreditNote>>>()?;

        let payment_rows = self
            .fetch_filtered(
                format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments WHERE {}",
                    condition("tenant_id", "customer_id", "currency")
                ),
                &filter,
            )
            .await?;
        let mut requested: HashMap<PaymentId, Vec<AllocationRequest>> = HashMap::new();
        for r in self
            .fetch_filtered(
                format!(
                    "SELECT a.payment_id, a.invoice_id, a.amount_minor, p.currency \
                     FROM payment_allocations a JOIN payments p ON p.id = a.payment_id \
                     WHERE {} ORDER BY a.payment_id, a.position",
                    condition("p.tenant_id", "p.customer_id", "p.currency")
                ),
                &filter,
            )
            .await?
        {
            requested
                .entry(r.parsed("payment_id")?)
                .or_default()
                .push(AllocationRequest {
                    invoice_id: r.parsed("invoice_id")?,
                    amount: money(&r, "amount_minor", r.parsed("currency")?)?.amount,
                });
        }
        let mut payments = HashMap::new();
        for row in &payment_rows {
            let id: PaymentId = row.parsed("id")?;
            payments.insert(
                id,
                payment_row(row, requested.remove(&id).unwrap_or_default())?,
            );
        }

        let refunds = self
            .fetch_filtered(
                format!(
                    "SELECT r.id, r.payment_id, r.amount_minor, r.currency, r.refunded_at \
                     FROM refunds r \
                     JOIN payments p ON p.id = r.payment_id AND p.tenant_id = r.tenant_id \
                     WHERE {}",
                    condition("p.tenant_id", "p.customer_id", "r.currency")
                ),
                &filter,
            )
            .await?
            .iter()
            .map(|r| {
                let refund = Refund {
                    payment_id: r.parsed("payment_id")?,
                    amount: money(r, "amount_minor", r.parsed("currency")?)?,
                    refunded_at: r.at("refunded_at")?,
                };
                Ok((r.parsed("id")?, refund))
            })
            .collect::<Result<HashMap<RefundId, Refund>>>()?;

        // A chargeback's reports are told apart by their place in the account's log.
        let chargebacks = self
            .fetch_filtered(
                format!(
                    "SELECT b.id, b.seq, b.payment_id, b.amount_minor, b.currency, b.reason, \
                     b.status, b.updated_at, p.customer_id \
                     FROM chargebacks b \
                     JOIN payments p ON p.id = b.payment_id AND p.tenant_id = b.tenant_id \
                     WHERE {}",
                    condition("p.tenant_id", "p.customer_id", "b.currency")
                ),
                &filter,
            )
            .await?
            .iter()
            .map(|r| {
                let currency: Currency = r.parsed("currency")?;
                let chargeback = Chargeback {
                    id: r.parsed("id")?,
                    payment_id: r.parsed("payment_id")?,
                    amount: money(r, "amount_minor", currency)?,
                    reason: r.text("reason")?,
                    status: r.parsed("status")?,
                    updated_at: r.at("updated_at")?,
                };
                Ok((
                    (r.parsed("customer_id")?, currency, r.int("seq")?),
                    chargeback,
                ))
            })
            .collect::<Result<HashMap<(CustomerId, Currency, i64), Chargeback>>>()?;

        let missing = |what: &str, id: &str| {
            StoreError::Corrupt(format!(
                "account log names {what} {id}, which is not stored"
            ))
        };
        for entry in &log {
            let key: AccountKey = (entry.parsed("customer_id")?, entry.parsed("currency")?);
            if !wanted.contains(&key) {
                continue;
            }
            let kind = entry.text("kind")?;
            let ref_id = entry.text("ref_id")?;
            let fact = match kind.as_str() {
                "invoice" | "void" => {
                    let id: InvoiceId = entry.parsed("ref_id")?;
                    let row = invoices
                        .get(&id)
                        .ok_or_else(|| missing("invoice", &ref_id))?;
                    if kind == "invoice" {
                        AccountFact::InvoiceIssued(row.invoice.clone())
                    } else {
                        let void = row.void.clone().ok_or_else(|| missing("void", &ref_id))?;
                        AccountFact::InvoiceVoided(void)
                    }
                }
                "credit_note" => {
                    let id: CreditNoteId = entry.parsed("ref_id")?;
                    let note = notes
                        .get(&id)
                        .ok_or_else(|| missing("credit note", &ref_id))?;
                    AccountFact::CreditNoteIssued(note.clone())
                }
                "payment" => {
                    let id: PaymentId = entry.parsed("ref_id")?;
                    let payment = payments
                        .get(&id)
                        .ok_or_else(|| missing("payment", &ref_id))?;
                    AccountFact::PaymentReceived(payment.clone())
                }
                "refund" => {
                    let id: RefundId = entry.parsed("ref_id")?;
                    let refund = refunds.get(&id).ok_or_else(|| missing("refund", &ref_id))?;
                    AccountFact::PaymentRefunded(refund.clone())
                }
                "chargeback" => {
                    let _: DisputeId = entry.parsed("ref_id")?;
                    let report = chargebacks
                        .get(&(key.0, key.1, entry.int("seq")?))
                        .ok_or_else(|| missing("chargeback", &ref_id))?;
                    AccountFact::Chargeback(report.clone())
                }
                other => {
                    return Err(StoreError::Corrupt(format!("account fact kind `{other}`")));
                }
            };
            facts.entry(key).or_default().push(fact);
        }
        Ok(())
    }

    /// Runs `sql`, whose placeholders are `filter`'s.
    async fn fetch_filtered(&mut self, sql: String, filter: &AccountsFilter) -> Result<Vec<Row>> {
        let mut query = Statement::new(sql);
        for value in &filter.values {
            query = query.bind(value);
        }
        self.fetch_all(query).await
    }

    /// Stores what `account` leaves open on each of its invoices, writing only the invoices
    /// whose cached amount changed: a new invoice is stored open already, and a payment
    /// touches a few invoices, so most writes update one row or none however long the
    /// customer's history.
    pub async fn save_open_amounts(&mut self, tenant: TenantId, account: &Account) -> Result<()> {
        self.save_all_open_amounts(tenant, std::slice::from_ref(account))
            .await
    }

    /// [`Tx::save_open_amounts`] for many accounts, reading a few hundred per statement.
    pub async fn save_all_open_amounts(
        &mut self,
        tenant: TenantId,
        accounts: &[Account],
    ) -> Result<()> {
        let mut changed: Vec<(InvoiceId, i64)> = Vec::new();
        for chunk in accounts.chunks(ACCOUNTS_PER_STATEMENT) {
            let keys: Vec<AccountKey> = chunk
                .iter()
                .map(|a| (a.customer_id(), a.currency()))
                .collect();
            let filter = AccountsFilter::new(tenant, &keys);
            let keys: HashSet<AccountKey> = keys.into_iter().collect();
            let sql = format!(
                "SELECT id, customer_id, currency, open_minor FROM invoices \
                 WHERE {} AND open_minor <> 0",
                filter.sql(self.dialect, "tenant_id", "customer_id", "currency")
            );
            let mut stored: HashMap<InvoiceId, i64> = HashMap::new();
            for r in self.fetch_filtered(sql, &filter).await? {
                let key: AccountKey = (r.parsed("customer_id")?, r.parsed("currency")?);
                if keys.contains(&key) {
                    stored.insert(r.parsed("id")?, r.int("open_minor")?);
                }
            }
            let mut wanted: HashMap<InvoiceId, i64> = stored.keys().map(|id| (*id, 0)).collect();
            for open in chunk.iter().flat_map(Account::open_invoices) {
                wanted.insert(open.invoice_id, minor(open.open)?);
            }
            changed.extend(
                wanted
                    .into_iter()
                    .filter(|(id, open)| stored.get(id).copied().unwrap_or(0) != *open),
            );
        }
        // Invoice order, so concurrent writers lock rows in the same order on PostgreSQL.
        changed.sort_unstable();
        let t = tenant.to_string();
        for (id, open) in changed {
            self.execute(
                Statement::new(
                    "UPDATE invoices SET open_minor = $3 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(&t)
                .bind(id.to_string())
                .bind(open),
            )
            .await?;
        }
        Ok(())
    }

    /// The aging report as of `as_of` in `tz`, summed by the database: each open invoice is
    /// put in its bucket by comparing its due instant with the bucket edges (midnights in
    /// `tz`), so one row per customer and currency leaves the database instead of one per
    /// invoice.
    /// `customer`: only that customer's rows (and totals), else every customer's.
    pub async fn aging(
        &mut self,
        tenant: TenantId,
        as_of: NaiveDate,
        tz: Tz,
        customer: Option<CustomerId>,
    ) -> Result<AgingReport> {
        let customers = self
            .customer_aging(tenant, as_of, tz, AgingRows::PerCustomer(customer))
            .await?;
        Ok(AgingReport::from_customers(as_of, customers))
    }

    /// Only the per-currency totals of [`Tx::aging`], summed in SQL: a dashboard's question,
    /// answered without a row per customer.
    pub async fn aging_totals(
        &mut self,
        tenant: TenantId,
        as_of: NaiveDate,
        tz: Tz,
    ) -> Result<AgingReport> {
        let totals = self
            .aging_rows(tenant, as_of, tz, AgingRows::Totals)
            .await?
            .into_iter()
            .map(|(_, currency, buckets)| CurrencyAging { currency, buckets })
            .collect();
        Ok(AgingReport {
            as_of,
            customers: Vec::new(),
            totals,
        })
    }

    /// The `limit` customer rows with the most past due (largest first), beside the totals of
    /// every customer: what a collections desk works through first, without the whole book.
    pub async fn aging_most_past_due(
        &mut self,
        tenant: TenantId,
        as_of: NaiveDate,
        tz: Tz,
        limit: u32,
    ) -> Result<AgingReport> {
        let customers = self
            .customer_aging(tenant, as_of, tz, AgingRows::MostPastDue(limit))
            .await?;
        let totals = self.aging_totals(tenant, as_of, tz).await?.totals;
        Ok(AgingReport {
            as_of,
            customers,
            totals,
        })
    }

    async fn customer_aging(
        &mut self,
        tenant: TenantId,
        as_of: NaiveDate,
        tz: Tz,
        rows: AgingRows,
    ) -> Result<Vec<CustomerAging>> {
        self.aging_rows(tenant, as_of, tz, rows)
            .await?
            .into_iter()
            .map(|(customer_id, currency, buckets)| {
                Ok(CustomerAging {
                    customer_id: customer_id.ok_or_else(|| {
                        StoreError::Corrupt("aging row without its customer".into())
                    })?,
                    currency,
                    buckets,
                })
            })
            .collect()
    }

    /// Open amounts summed per bucket of days past due, grouped and ordered as `rows` asks.
    async fn aging_rows(
        &mut self,
        tenant: TenantId,
        as_of: NaiveDate,
        tz: Tz,
        rows: AgingRows,
    ) -> Result<Vec<(Option<CustomerId>, Currency, Buckets)>> {
        let [current, days_30, days_60, days_90] = bucket_edges(as_of, tz).map(micros);
        const PER_CUSTOMER: &str = "customer_id, currency";
        let (customer, group, order, limit) = match rows {
            AgingRows::PerCustomer(customer) => (customer, PER_CUSTOMER, PER_CUSTOMER, None),
            AgingRows::MostPastDue(limit) => (
                None,
                PER_CUSTOMER,
                "SUM(CASE WHEN due_at < $2 THEN open_minor ELSE 0 END) DESC, customer_id, currency",
                Some(i64::from(limit)),
            ),
            AgingRows::Totals => (None, "currency", "currency", None),
        };
        let per_customer = group == PER_CUSTOMER;
        let sql = format!(
            "SELECT {group}, \
               CAST(SUM(CASE WHEN due_at >= $2 THEN open_minor ELSE 0 END) AS BIGINT) AS b0, \
               CAST(SUM(CASE WHEN due_at < $2 AND due_at >= $3 THEN open_minor ELSE 0 END) AS BIGINT) AS b1, \
               CAST(SUM(CASE WHEN due_at < $3 AND due_at >= $4 THEN open_minor ELSE 0 END) AS BIGINT) AS b2, \
               CAST(SUM(CASE WHEN due_at < $4 AND due_at >= $5 THEN open_minor ELSE 0 END) AS BIGINT) AS b3, \
               CAST(SUM(CASE WHEN due_at < $5 THEN open_minor ELSE 0 END) AS BIGINT) AS b4 \
             FROM invoices WHERE tenant_id = $1 AND open_minor > 0 \
             AND ($6 = '' OR customer_id = $6) \
             GROUP BY {group} ORDER BY {order}{}",
            if limit.is_some() { " LIMIT $7" } else { "" }
        );
        let mut query = Statement::new(sql)
            .bind(tenant.to_string())
            .bind(current)
            .bind(days_30)
            .bind(days_60)
            .bind(days_90)
            .bind(customer.map(|c| c.to_string()).unwrap_or_default());
        if let Some(limit) = limit {
            query = query.bind(limit);
        }
        let rows = self.fetch_all(query).await?;
        rows.iter()
            .map(|r| {
                let currency: Currency = r.parsed("currency")?;
                let [b0, b1, b2, b3, b4] = ["b0", "b1", "b2", "b3", "b4"]
                    .map(|col| money(r, col, currency).map(|m| m.amount));
                let customer_id = if per_customer {
                    Some(r.parsed("customer_id")?)
                } else {
                    None
                };
                Ok((
                    customer_id,
                    currency,
                    Buckets::from_amounts([b0?, b1?, b2?, b3?, b4?]),
                ))
            })
            .collect()
    }
}
