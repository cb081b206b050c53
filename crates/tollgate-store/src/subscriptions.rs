use chrono::{DateTime, Utc};
use tollgate_core::{
    CustomerId, SubscriptionId, TenantId,
    customers::{ProductKind, StatusChange, Subscription, SubscriptionStatus},
};

use crate::{
    Result, StoreError, Tx,
    page::{Listing, Page, PageRequest},
    row::{RowExt, micros},
    statement::{Row, Statement},
};

const COLUMNS: &str = "id, customer_id, vendor_subscription_id, offer_id, product_kind, quantity, \
                       status, status_reason, status_changed_at, created_at";

#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub id: SubscriptionId,
    pub customer_id: CustomerId,
    pub vendor_subscription_id: String,
    pub offer_id: Option<String>,
    pub product_kind: ProductKind,
    pub quantity: u32,
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub customer_id: Option<CustomerId>,
    pub status: Option<SubscriptionStatus>,
    pub product_kind: Option<ProductKind>,
    pub vendor_subscription_id: Option<String>,
}

fn subscription(row: &Row) -> Result<Subscription> {
    let quantity = row.int("quantity")?;
    Ok(Subscription {
        id: row.parsed("id")?,
        customer_id: row.parsed("customer_id")?,
        vendor_subscription_id: row.text("vendor_subscription_id")?,
        offer_id: row.opt_text("offer_id")?,
        product_kind: row.parsed("product_kind")?,
        quantity: u32::try_from(quantity)
            .map_err(|_| StoreError::Corrupt(format!("quantity {quantity}")))?,
        status: row.parsed("status")?,
        status_reason: row.opt_text("status_reason")?,
        status_changed_at: row.at("status_changed_at")?,
        created_at: row.at("created_at")?,
    })
}

const UNIQUE: &[(&str, &str, &str)] = &[(
    "subscriptions_vendor_id",
    "subscriptions.tenant_id, subscriptions.vendor_subscription_id",
    "vendor_subscription_id",
)];

impl Tx {
    /// Creates an active subscription; the customer must belong to the tenant.
    pub async fn insert_subscription(
        &mut self,
        tenant: TenantId,
        new: NewSubscription,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Subscription> {
        // Checked inside the transaction so a customer of another tenant reads as absent.
        self.customer(tenant, new.customer_id).await?;
        let sql = format!(
            "INSERT INTO subscriptions (tenant_id, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9)"
        );
        self.execute(
            Statement::new(sql)
                .bind(tenant.to_string())
                .bind(new.id.to_string())
                .bind(new.customer_id.to_string())
                .bind(&new.vendor_subscription_id)
                .bind(new.offer_id.clone())
                .bind(new.product_kind.as_str())
                .bind(i64::from(new.quantity))
                .bind(SubscriptionStatus::Active.as_str())
                .bind(micros(at)),
        )
        .await
        .map_err(|e| e.unique(UNIQUE))?;
        self.record_status(tenant, new.id, SubscriptionStatus::Active, None, actor, at)
            .await?;
        self.subscription(tenant, new.id).await
    }

    pub async fn subscription(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<Subscription> {
        let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        subscription(&row)
    }

    pub async fn list_subscriptions(
        &mut self,
        tenant: TenantId,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let listing = Listing::new(format!("SELECT {COLUMNS} FROM subscriptions"), tenant, page)
            .matching("customer_id", filter.customer_id)
            .matching("status", filter.status.map(|s| s.as_str()))
            .matching("product_kind", filter.product_kind.map(|k| k.as_str()))
            .matching(
                "vendor_subscription_id",
                filter.vendor_subscription_id.as_deref(),
            );
        let rows = self.fetch_all(listing.statement()).await?;
        let subs = rows.iter().map(subscription).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(subs, page, |s| s.id.to_string()))
    }

    /// The tenant's subscriptions among `ids` and among `vendor_ids` (vendor subscription
    /// ids), read a few hundred per statement: a usage batch names many of them.
    pub async fn subscriptions_among(
        &mut self,
        tenant: TenantId,
        ids: &[String],
        vendor_ids: &[String],
    ) -> Result<Vec<Subscription>> {
        // Binding `$n` on SQLite costs the square of a statement's parameters (see usage.rs).
        const PER_STATEMENT: usize = 100;
        let mut found = Vec::new();
        for (column, keys) in [("id", ids), ("vendor_subscription_id", vendor_ids)] {
            for chunk in keys.chunks(PER_STATEMENT) {
                let list = (2..chunk.len() + 2)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1 \
                     AND {column} IN ({list})"
                );
                let mut query = Statement::new(sql).bind(tenant.to_string());
                for key in chunk {
                    query = query.bind(key);
                }
                for row in self.fetch_all(query).await? {
                    found.push(subscription(&row)?);
                }
            }
        }
        Ok(found)
    }

    pub async fn update_subscription(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
        quantity: Option<u32>,
        offer_id: Option<Option<String>>,
    ) -> Result<(Subscription, Subscription)> {
        let before = self.subscription(tenant, id).await?;
        let quantity = quantity.unwrap_or(before.quantity);
        let offer_id = offer_id.unwrap_or_else(|| before.offer_id.clone());
        self.execute(Statement::new("UPDATE subscriptions SET quantity = $3, offer_id = $4 WHERE tenant_id = $1 AND id = $2",)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(i64::from(quantity))
        .bind(offer_id))
        .await?;
        let after = self.subscription(tenant, id).await?;
        Ok((before, after))
    }

    /// Moves a subscription to `status`, keeping the history. Refuses moves out of
    /// `terminated` and no-op moves, so a caller cannot record a change that did not happen.
    pub async fn change_subscription_status(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
        status: SubscriptionStatus,
        reason: Option<String>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(Subscription, Subscription)> {
        let lock = self.dialect.for_update();
        let sql =
            format!("SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2{lock}");
        let row = self.row_by_id(sql, tenant, &id.to_string()).await?;
        let before = subscription(&row)?;
        if !before.status.can_become(status) {
            return Err(StoreError::Conflict(format!(
                "subscription is {} and cannot become {status}",
                before.status
            )));
        }
        self.execute(
            Statement::new(
                "UPDATE subscriptions SET status = $3, status_reason = $4, status_changed_at = $5 \
             WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.to_string())
            .bind(id.to_string())
            .bind(status.as_str())
            .bind(reason.clone())
            .bind(micros(at)),
        )
        .await?;
        self.record_status(tenant, id, status, reason, actor, at)
            .await?;
        let after = self.subscription(tenant, id).await?;
        Ok((before, after))
    }

    async fn record_status(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
        status: SubscriptionStatus,
        reason: Option<String>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(Statement::new("INSERT INTO subscription_status_changes (id, tenant_id, subscription_id, at, status, reason, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",)
        // A UUIDv7 orders changes made within the same instant.
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(micros(at))
        .bind(status.as_str())
        .bind(reason)
        .bind(actor))
        .await?;
        Ok(())
    }

    pub async fn subscription_history(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<Vec<StatusChange>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT status, reason, actor, at FROM subscription_status_changes \
             WHERE tenant_id = $1 AND subscription_id = $2 ORDER BY id",
                )
                .bind(tenant.to_string())
                .bind(id.to_string()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StatusChange {
                    status: row.parsed("status")?,
                    reason: row.opt_text("reason")?,
                    actor: row.text("actor")?,
                    at: row.at("at")?,
                })
            })
            .collect()
    }
}
