//! Activity detections: Azure Activity Log records, the per-customer state the built-in detectors
//! read (VM writes, principals and countries seen), and alert episodes. The state is updated in
//! the transaction that inserts the record, so detection never rescans raw records.

use chrono::{DateTime, Utc};
use tollgate_core::{AlertId, CustomerId, SubscriptionId, TenantId};

use crate::{
    Result, Tx,
    row::{RowExt, micros},
    statement::Statement,
};

/// One activity record, flattened to columns; `raw` is the record as received.
#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub record_id: String,
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub operation_name: String,
    pub caller: Option<String>,
    pub caller_ip: Option<String>,
    pub status: String,
    pub resource_id: Option<String>,
    pub event_at: DateTime<Utc>,
    /// The record's `properties` as JSON text.
    pub properties: Option<String>,
    pub raw: String,
}

/// A successful VM write with a known region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmWrite {
    pub record_id: String,
    pub customer_id: CustomerId,
    pub subscription_id: SubscriptionId,
    pub resource_id: String,
    pub region: String,
    pub event_at: DateTime<Utc>,
}

/// A detector's current episode on one scope, with the status of the alert it raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEpisode {
    pub alert_id: AlertId,
    pub alert_status: String,
    pub opened_at: DateTime<Utc>,
    pub last_match_at: DateTime<Utc>,
    pub matches: i64,
}

impl Tx {
    /// Inserts the record unless the tenant already has its `record_id`; `false` for a re-send.
    pub async fn insert_activity_record(
        &mut self,
        tenant: TenantId,
        r: &ActivityRow,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = self.execute(Statement::new("INSERT INTO activity_records (tenant_id, record_id, subscription_id, customer_id, \
             operation_name, caller, caller_ip, status, resource_id, event_at, properties, raw, \
             received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (tenant_id, record_id) DO NOTHING",)
        .bind(tenant.to_string())
        .bind(&r.record_id)
        .bind(r.subscription_id.to_string())
        .bind(r.customer_id.to_string())
        .bind(&r.operation_name)
        .bind(r.caller.as_deref())
        .bind(r.caller_ip.as_deref())
        .bind(&r.status)
        .bind(r.resource_id.as_deref())
        .bind(micros(r.event_at))
        .bind(r.properties.as_deref())
        .bind(&r.raw)
        .bind(micros(at)))
        .await?;
        Ok(done == 1)
    }

    /// How many activity records the tenant holds for a subscription.
    pub async fn count_activity_records(
        &mut self,
        tenant: TenantId,
        subscription: SubscriptionId,
    ) -> Result<i64> {
        let row = self
            .fetch_one(
                Statement::new(
                    "SELECT COUNT(*) AS n FROM activity_records WHERE tenant_id = $1 \
             AND subscription_id = $2",
                )
                .bind(tenant.to_string())
                .bind(subscription.to_string()),
            )
            .await?;
        row.int("n")
    }

    pub async fn add_vm_write(&mut self, tenant: TenantId, w: &VmWrite) -> Result<()> {
        self.execute(Statement::new("INSERT INTO activity_vm_writes (tenant_id, record_id, customer_id, subscription_id, \
             resource_id, region, event_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, record_id) DO NOTHING",)
        .bind(tenant.to_string())
        .bind(&w.record_id)
        .bind(w.customer_id.to_string())
        .bind(w.subscription_id.to_string())
        .bind(&w.resource_id)
        .bind(&w.region)
        .bind(micros(w.event_at)))
        .await?;
        Ok(())
    }

    /// The customer's VM writes with `from <= event_at <= to`, oldest first.
    pub async fn vm_writes(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VmWrite>> {
        let rows = self
            .fetch_all(
                Statement::new(
                    "SELECT record_id, customer_id, subscription_id, resource_id, region, event_at \
             FROM activity_vm_writes WHERE tenant_id = $1 AND customer_id = $2 \
             AND event_at >= $3 AND event_at <= $4 ORDER BY event_at, record_id",
                )
                .bind(tenant.to_string())
                .bind(customer.to_string())
                .bind(micros(from))
                .bind(micros(to)),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(VmWrite {
                    record_id: r.text("record_id")?,
                    customer_id: r.parsed("customer_id")?,
                    subscription_id: r.parsed("subscription_id")?,
                    resource_id: r.text("resource_id")?,
                    region: r.text("region")?,
                    event_at: r.at("event_at")?,
                })
            })
            .collect()
    }

    /// Whether the customer's activity has shown `value` in `dimension` before.
    pub async fn activity_seen(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        dimension: &str,
        value: &str,
    ) -> Result<bool> {
        let row = self
            .fetch_optional(
                Statement::new(
                    "SELECT 1 AS seen FROM activity_seen WHERE tenant_id = $1 AND customer_id = $2 \
             AND dimension = $3 AND value = $4",
                )
                .bind(tenant.to_string())
                .bind(customer.to_string())
                .bind(dimension)
                .bind(value),
            )
            .await?;
        Ok(row.is_some())
    }

    /// Records `value` as seen; `false` if it already was (by this batch or a concurrent one).
    pub async fn mark_activity_seen(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        dimension: &str,
        value: &str,
        record_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = self.execute(Statement::new("INSERT INTO activity_seen (tenant_id, customer_id, dimension, value, first_seen, \
             record_id) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, customer_id, dimension, value) DO NOTHING",)
        .bind(tenant.to_string())
        .bind(customer.to_string())
        .bind(dimension)
        .bind(value)
        .bind(micros(at))
        .bind(record_id))
        .await?;
        Ok(done == 1)
    }

    /// The detector's episode on `scope_id`, locked on PostgreSQL so two batches cannot both
    /// decide to open a new one.
    pub async fn activity_episode(
        &mut self,
        tenant: TenantId,
        scope_id: &str,
        detector: &str,
    ) -> Result<Option<ActivityEpisode>> {
        let sql = format!(
            "SELECT e.alert_id, e.opened_at, e.last_match_at, e.matches, a.status \
             FROM activity_episodes e JOIN alerts a ON a.tenant_id = e.tenant_id \
             AND a.id = e.alert_id WHERE e.tenant_id = $1 AND e.scope_id = $2 \
             AND e.detector = $3{}",
            self.dialect.for_update()
        );
        let row = self
            .fetch_optional(
                Statement::new(sql)
                    .bind(tenant.to_string())
                    .bind(scope_id)
                    .bind(detector),
            )
            .await?;
        row.map(|r| {
            Ok(ActivityEpisode {
                alert_id: r.parsed("alert_id")?,
                alert_status: r.text("status")?,
                opened_at: r.at("opened_at")?,
                last_match_at: r.at("last_match_at")?,
                matches: r.int("matches")?,
            })
        })
        .transpose()
    }

    /// Starts an episode raising `alert`: a first one when `replacing` is `None`, else in place
    /// of the episode of `replacing`. `false` when another batch got there first, in which
    /// case no alert may be raised.
    pub async fn open_activity_episode(
        &mut self,
        tenant: TenantId,
        scope_id: &str,
        detector: &str,
        alert: AlertId,
        replacing: Option<AlertId>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = match replacing {
            None => {
                self.execute(
                    Statement::new(
                        "INSERT INTO activity_episodes (tenant_id, scope_id, detector, alert_id, \
                     opened_at, last_match_at, matches) VALUES ($1, $2, $3, $4, $5, $5, 1) \
                     ON CONFLICT (tenant_id, scope_id, detector) DO NOTHING",
                    )
                    .bind(tenant.to_string())
                    .bind(scope_id)
                    .bind(detector)
                    .bind(alert.to_string())
                    .bind(micros(at)),
                )
                .await?
            }
            Some(previous) => {
                self.execute(
                    Statement::new(
                        "UPDATE activity_episodes SET alert_id = $4, opened_at = $5, \
                     last_match_at = $5, matches = 1 WHERE tenant_id = $1 AND scope_id = $2 \
                     AND detector = $3 AND alert_id = $6",
                    )
                    .bind(tenant.to_string())
                    .bind(scope_id)
                    .bind(detector)
                    .bind(alert.to_string())
                    .bind(micros(at))
                    .bind(previous.to_string()),
                )
                .await?
            }
        };
        Ok(done == 1)
    }

    /// Counts one more match in the open episode of `alert`.
    pub async fn extend_activity_episode(
        &mut self,
        tenant: TenantId,
        scope_id: &str,
        detector: &str,
        alert: AlertId,
        last_match_at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            Statement::new(
                "UPDATE activity_episodes SET matches = matches + 1, \
             last_match_at = CASE WHEN last_match_at < $5 THEN $5 ELSE last_match_at END \
             WHERE tenant_id = $1 AND scope_id = $2 AND detector = $3 AND alert_id = $4",
            )
            .bind(tenant.to_string())
            .bind(scope_id)
            .bind(detector)
            .bind(alert.to_string())
            .bind(micros(last_match_at)),
        )
        .await?;
        Ok(())
    }
}
