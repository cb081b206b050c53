//! Partner Center fraud events into notices: shared by the webhook
//! (`POST /v1/connectors/partner-center/events/{tenant}`) and [`poll`], which reads
//! `GET /v1/fraudEvents` for a tenant. Each event is taken in its own transaction with the
//! playbook's consequences; an event already stored (by webhook or poll) is skipped, and one
//! that cannot be read is quarantined with the reason.

use serde_json::{Value, json};
use tollgate_connectors::partner_center::{
    CallIds, FraudEvent, FraudEventEntry, FraudEventQuery, FraudEventStatus,
};
use tollgate_core::{
    TenantId,
    cases::{Confidence, NoticeKind, Severity},
};
use tollgate_store::SubscriptionFilter;

use crate::{
    AppState,
    api::cases::{NoticeIn, take_notice},
    ctx::{Acting, Job},
    error::{ApiError, ApiResult},
};

/// What one batch of vendor events did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub notices: usize,
    /// Events already stored.
    pub duplicates: usize,
    pub quarantined: usize,
    /// Outbox actions the playbook enqueued.
    pub actions: usize,
}

/// Takes in fraud events for `tenant` as `job` (a webhook delivery or a poll).
pub async fn ingest(
    state: &AppState,
    job: &Job,
    entries: Vec<FraudEventEntry>,
) -> ApiResult<Ingested> {
    let mut done = Ingested::default();
    for entry in entries {
        match entry {
            FraudEventEntry::Event(event) => {
                let mut tx = state.store().begin().await?;
                let input = notice_in(&mut tx, job.tenant, *event).await?;
                match take_notice(job, &mut tx, input).await? {
                    Some(taken) => {
                        tx.commit().await?;
                        done.notices += 1;
                        done.actions += taken.actions.len();
                    }
                    None => done.duplicates += 1,
                }
            }
            FraudEventEntry::Quarantined { raw, reason } => {
                let mut tx = state.store().begin().await?;
                let id = tx
                    .quarantine_vendor_event(job.tenant, job.name, &raw, &reason, job.now())
                    .await?;
                job.audit(
                    &mut tx,
                    "vendor_event.quarantined",
                    &id,
                    json!({ "reason": reason }),
                )
                .await?;
                tx.commit().await?;
                done.quarantined += 1;
            }
        }
    }
    if done.actions > 0 {
        state.outbox_wakeup().wake();
    }
    Ok(done)
}

/// The notice for a fraud event, matched to Tollgate's subscription by the vendor's id.
async fn notice_in(
    tx: &mut tollgate_store::Tx,
    tenant: TenantId,
    event: FraudEvent,
) -> ApiResult<NoticeIn> {
    let filter = SubscriptionFilter {
        vendor_subscription_id: Some(event.subscription_id.clone()),
        ..SubscriptionFilter::default()
    };
    let page = tollgate_store::page::PageRequest {
        after: None,
        limit: 1,
    };
    let subscription = tx
        .list_subscriptions(tenant, &filter, &page)
        .await?
        .data
        .into_iter()
        .next();
    let event_type = event.event_type.clone();
    let kind = event_type
        .as_deref()
        .map_or(NoticeKind::Other, NoticeKind::from_vendor_event_type);
    let summary = event
        .display_name
        .clone()
        .or_else(|| event_type.clone())
        .unwrap_or_else(|| "Partner Center fraud event".to_owned());
    Ok(NoticeIn {
        source: "vendor",
        kind,
        severity: Severity::from_vendor(event.severity.as_deref()),
        confidence: Confidence::from_vendor(event.confidence_level.as_deref()),
        vendor_event_id: Some(event.event_id),
        vendor_event_type: event_type,
        vendor_subscription_id: Some(event.subscription_id),
        vendor_customer_id: event.customer_tenant_id,
        customer_id: subscription.as_ref().map(|s| s.customer_id),
        subscription,
        summary,
        resources: Value::Array(event.affected_resources),
        details: json!({
            "hit_count": event.hit_count,
            "is_test": event.is_test,
            "status": event.status.as_str(),
            "event_time": event.event_time,
            "additional_details": event.additional_details,
        }),
        first_seen_at: event.first_observed.or(event.event_time),
        last_seen_at: event
            .last_observed
            .filter(|t| t.timestamp() < 253_402_000_000),
    })
}

/// Reads the tenant's active fraud events from Partner Center and takes in the new ones; the
/// safety net for webhooks that never arrived.
pub async fn poll(state: &AppState, tenant: TenantId) -> ApiResult<Ingested> {
    let Some(pc) = state.connectors().partner_center.clone() else {
        return Err(ApiError::Unavailable(
            "no Partner Center connector is configured".into(),
        ));
    };
    let job = Job {
        tenant,
        name: "partner_center_poll",
        now: state.now(),
    };
    // A fresh request id per poll: a read has nothing to deduplicate.
    let id = tollgate_core::ActionId::generate().uuid();
    let query = FraudEventQuery {
        status: Some(FraudEventStatus::Active),
        ..FraudEventQuery::default()
    };
    let events = pc
        .fraud_events(CallIds::new(id, id), query)
        .await
        .map_err(|e| ApiError::Unavailable(format!("Partner Center: {e}")))?;
    ingest(state, &job, events.value.entries).await
}
