//! Prepaid balances: each customer's top-ups and draws per currency, with the running balance
//! kept on every entry.

use chrono::{DateTime, Utc};
use tollgate_core::{
    Currency, CustomerId, Money, PrepaidEntryId, TenantId,
    collections::{PrepaidBalance, PrepaidEntry},
};

use crate::{
    Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    statement::{Row, Statement},
};

/// A stored top-up or draw and the balance it left.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepaidEntryRow {
    pub id: PrepaidEntryId,
    pub customer_id: CustomerId,
    pub entry: PrepaidEntry,
    /// The balance in the entry's currency right after it.
    pub balance: Money,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, customer_id, currency, kind, amount_minor, balance_minor, reference, \
                       entered_at, created_at";

fn entry_row(row: &Row) -> Result<PrepaidEntryRow> {
    let currency: Currency = row.parsed("currency")?;
    Ok(PrepaidEntryRow {
        id: row.parsed("id")?,
        customer_id: row.parsed("customer_id")?,
        entry: PrepaidEntry {
            kind: row.parsed("kind")?,
            amount: Money::from_minor(row.int("amount_minor")?, currency),
            at: row.at("entered_at")?,
            reference: row.opt_text("reference")?,
        },
        balance: Money::from_minor(row.int("balance_minor")?, currency),
        created_at: row.at("created_at")?,
    })
}

fn minor(money: Money) -> Result<i64> {
    money
        .to_minor()
        .map_err(|e| StoreError::Conflict(format!("amount {money}: {e}")))
}

impl Tx {
    /// The customer's balance in `currency` (zero before the first entry). Callers that go on to
    /// write hold the customer's row lock.
    pub async fn prepaid_balance(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        currency: Currency,
    ) -> Result<PrepaidBalance> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "SELECT balance_minor FROM prepaid_entries \
             WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3 \
             ORDER BY seq DESC LIMIT 1",
                )
                .bind(tenant.to_string())
                .bind(customer.to_string())
                .bind(currency.to_string()),
            )
            .await?;
        let mut balance = PrepaidBalance::new(currency);
        if let Some(row) = row {
            balance.balance = Money::from_minor(row.int("balance_minor")?, currency).amount;
        }
        Ok(balance)
    }

    /// The customer's balance in every currency it has entries in, sorted by code.
    pub async fn prepaid_balances(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<PrepaidBalance>> {
        let currencies = self
            .fetch_all(
                Statement::new(
                    "SELECT DISTINCT currency FROM prepaid_entries \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY currency",
                )
                .bind(tenant.to_string())
                .bind(customer.to_string()),
            )
            .await?
            .iter()
            .map(|r| r.parsed("currency"))
            .collect::<Result<Vec<Currency>>>()?;
        let mut balances = Vec::with_capacity(currencies.len());
        for currency in currencies {
            balances.push(self.prepaid_balance(tenant, customer, currency).await?);
        }
        Ok(balances)
    }

    /// Appends `entry` with the balance it leaves; the caller checked it against the terms.
    pub async fn insert_prepaid_entry(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        id: PrepaidEntryId,
        entry: &PrepaidEntry,
        balance: Money,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let currency = entry.amount.currency;
        let next = self
            .fetch_one(
                Statement::new(
                    "SELECT COALESCE(MAX(seq), 0) AS seq FROM prepaid_entries \
             WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3",
                )
                .bind(tenant.to_string())
                .bind(customer.to_string())
                .bind(currency.to_string()),
            )
            .await?
            .int("seq")?
            + 1;
        let sql = format!(
            "INSERT INTO prepaid_entries ({COLUMNS}, tenant_id, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        self.execute(
            Statement::new(sql)
                .bind(id.to_string())
                .bind(customer.to_string())
                .bind(currency.to_string())
                .bind(entry.kind.as_str())
                .bind(minor(entry.amount)?)
                .bind(minor(balance)?)
                .bind(entry.reference.clone())
                .bind(micros(entry.at))
                .bind(micros(now))
                .bind(tenant.to_string())
                .bind(next),
        )
        .await?;
        Ok(())
    }

    /// The customer's entries in every currency, oldest first.
    pub async fn prepaid_entries(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        page: &PageRequest,
    ) -> Result<Page<PrepaidEntryRow>> {
        let listing = Listing::new(
            format!("SELECT {COLUMNS} FROM prepaid_entries"),
            tenant,
            page,
        )
        .condition(customer.to_string(), |p| format!("customer_id = {p}"));
        let rows = self.fetch_all(listing.statement()).await?;
        let entries = rows.iter().map(entry_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(entries, page, |e| e.id.to_string()))
    }
}
