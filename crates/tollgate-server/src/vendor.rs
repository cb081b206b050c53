//! Vendor actions leaving the outbox for Microsoft Partner Center: subscription status, Azure
//! entitlement cancel/reactivate, fraud event status and spending budgets.
//!
//! The outbox action's id is sent as `MS-RequestId` (Partner Center's idempotency key) on every
//! attempt, so a retry after a timeout, or after a crash that lost the first answer, cannot
//! suspend twice. The connector is configured without retries of its own: the outbox's backoff
//! (which survives restarts) paces them.

use serde::Deserialize;
use serde_json::Value;
use tollgate_connectors::partner_center::{
    AzureEntitlementRef, CallIds, FraudEventTarget, FraudEventUpdate, PartnerCenter,
    PartnerCenterError, PcAttempt, PcErrorKind, ResolvedReason, SubscriptionChange,
    SubscriptionTarget,
};
use tollgate_core::{
    CustomerId, Money,
    customers::SubscriptionStatus,
    outbox::{ActionKind, AttemptResult},
};
use tollgate_store::ActionRow;

use crate::AppState;

/// `subscription_status` payload (written by the cases API, playbooks and dunning).
#[derive(Debug, Deserialize)]
struct StatusPayload {
    vendor_subscription_id: String,
    customer_id: CustomerId,
    /// Partner Center's id of the customer (its tenant id); the customer's `external_id` when
    /// absent.
    vendor_customer_id: Option<String>,
    status: SubscriptionStatus,
}

/// `azure_entitlement` payload.
#[derive(Debug, Deserialize)]
struct EntitlementPayload {
    customer_id: CustomerId,
    vendor_customer_id: Option<String>,
    /// The Azure plan subscription.
    vendor_subscription_id: String,
    /// The Azure subscription under it.
    entitlement_id: String,
    /// `cancel` or `reactivate`.
    operation: String,
    reason: Option<String>,
}

/// `fraud_event_status` payload.
#[derive(Debug, Deserialize)]
struct FraudStatusPayload {
    vendor_subscription_id: String,
    event_ids: Vec<String>,
    /// `Fraud` or `Ignore`.
    resolved_reason: String,
}

/// `spending_budget` payload.
#[derive(Debug, Deserialize)]
struct BudgetPayload {
    customer_id: CustomerId,
    vendor_customer_id: Option<String>,
    amount: Money,
}

/// One attempt at a vendor action.
pub async fn deliver(state: &AppState, action: &ActionRow) -> AttemptResult {
    let Some(pc) = state.connectors().partner_center.clone() else {
        return AttemptResult::Skipped {
            detail: format!(
                "no Partner Center connector is configured in this deployment; the {} action \
                 took effect inside Tollgate only",
                action.kind
            ),
        };
    };
    let ids = CallIds::new(action.id.uuid(), action.id.uuid());
    let result = match action.kind {
        ActionKind::SubscriptionStatus => subscription_status(state, &*pc, ids, action).await,
        ActionKind::AzureEntitlement => entitlement(state, &*pc, ids, action).await,
        ActionKind::FraudEventStatus => fraud_status(&*pc, ids, action).await,
        ActionKind::SpendingBudget => budget(state, &*pc, ids, action).await,
        ActionKind::Email | ActionKind::Webhook => {
            return AttemptResult::Permanent {
                detail: format!("{} is not a vendor action", action.kind),
            };
        }
    };
    match result {
        Ok(Ok(attempts)) => AttemptResult::Delivered {
            detail: format!("Partner Center accepted it ({})", trail(&attempts)),
        },
        Ok(Err(error)) => failure(state, error),
        Err(refusal) => refusal,
    }
}

/// What the call returned: the attempts of a success, or the failure; the outer `Err` is an
/// action that could not be sent at all.
type Sent = Result<Result<Vec<PcAttempt>, PartnerCenterError>, AttemptResult>;

fn payload<T: for<'de> Deserialize<'de>>(action: &ActionRow) -> Result<T, AttemptResult> {
    serde_json::from_value(action.payload.clone()).map_err(|e| AttemptResult::Permanent {
        detail: format!("the {} payload is malformed: {e}", action.kind),
    })
}

/// The customer's id at Partner Center: as written on the action, else its `external_id`.
async fn vendor_customer(
    state: &AppState,
    action: &ActionRow,
    customer: CustomerId,
    given: Option<String>,
) -> Result<String, AttemptResult> {
    if let Some(id) = given {
        return Ok(id);
    }
    let found = async {
        let mut tx = state.store().read().await?;
        tx.customer(action.tenant_id, customer).await
    }
    .await;
    found
        .map(|c| c.external_id)
        .map_err(|e| AttemptResult::Transient {
            detail: format!("could not read the customer: {e}"),
            retry_after: None,
        })
}

async fn subscription_status(
    state: &AppState,
    pc: &dyn PartnerCenter,
    ids: CallIds,
    action: &ActionRow,
) -> Sent {
    let p: StatusPayload = payload(action)?;
    let target = match p.status {
        SubscriptionStatus::Suspended => SubscriptionTarget::Suspended,
        SubscriptionStatus::Active => SubscriptionTarget::Active,
        SubscriptionStatus::Terminated => SubscriptionTarget::Deleted,
    };
    let customer_id = vendor_customer(state, action, p.customer_id, p.vendor_customer_id).await?;
    let change = SubscriptionChange {
        customer_id,
        subscription_id: p.vendor_subscription_id,
        target,
    };
    Ok(pc
        .change_subscription(ids, change)
        .await
        .map(|outcome| outcome.attempts))
}

async fn entitlement(
    state: &AppState,
    pc: &dyn PartnerCenter,
    ids: CallIds,
    action: &ActionRow,
) -> Sent {
    let p: EntitlementPayload = payload(action)?;
    let customer_id = vendor_customer(state, action, p.customer_id, p.vendor_customer_id).await?;
    let entitlement = AzureEntitlementRef {
        customer_id,
        subscription_id: p.vendor_subscription_id,
        entitlement_id: p.entitlement_id,
    };
    let result = match p.operation.as_str() {
        "cancel" => {
            pc.cancel_azure_entitlement(ids, entitlement, p.reason)
                .await
        }
        "reactivate" => pc.reactivate_azure_entitlement(ids, entitlement).await,
        other => {
            return Err(AttemptResult::Permanent {
                detail: format!("unknown entitlement operation `{other}`"),
            });
        }
    };
    Ok(result.map(|outcome| outcome.attempts))
}

async fn fraud_status(pc: &dyn PartnerCenter, ids: CallIds, action: &ActionRow) -> Sent {
    let p: FraudStatusPayload = payload(action)?;
    let reason = match p.resolved_reason.as_str() {
        "Fraud" => ResolvedReason::Fraud,
        "Ignore" => ResolvedReason::Ignore,
        other => {
            return Err(AttemptResult::Permanent {
                detail: format!("unknown resolved reason `{other}`"),
            });
        }
    };
    let update = FraudEventUpdate {
        subscription_id: p.vendor_subscription_id,
        event_ids: p.event_ids,
        target: FraudEventTarget::Resolved(reason),
    };
    Ok(pc
        .update_fraud_events(ids, update)
        .await
        .map(|outcome| outcome.attempts))
}

async fn budget(
    state: &AppState,
    pc: &dyn PartnerCenter,
    ids: CallIds,
    action: &ActionRow,
) -> Sent {
    let p: BudgetPayload = payload(action)?;
    let customer_id = vendor_customer(state, action, p.customer_id, p.vendor_customer_id).await?;
    Ok(pc
        .set_usage_budget(ids, customer_id, p.amount)
        .await
        .map(|outcome| outcome.attempts))
}

/// 429, 5xx, timeouts, an open breaker and a resource that kept changing are worth another
/// try; any other refusal needs a person.
fn failure(state: &AppState, error: PartnerCenterError) -> AttemptResult {
    let detail = format!("{} ({})", error.kind, trail(&error.attempts));
    match error.kind {
        PcErrorKind::RateLimited(_)
        | PcErrorKind::ServerError(_)
        | PcErrorKind::Timeout
        | PcErrorKind::Unreachable(_)
        | PcErrorKind::EtagConflict { .. } => AttemptResult::Transient {
            detail,
            retry_after: None,
        },
        PcErrorKind::CircuitOpen { until } => AttemptResult::Transient {
            detail,
            retry_after: until.and_then(|until| (until - state.now()).to_std().ok()),
        },
        PcErrorKind::Unauthorized(_)
        | PcErrorKind::TokenRejected(_)
        | PcErrorKind::UserCredentialsMissing
        | PcErrorKind::NotFound(_)
        | PcErrorKind::PreconditionFailed(_)
        | PcErrorKind::Rejected(_)
        | PcErrorKind::Malformed(_)
        | PcErrorKind::ForeignResource(_) => AttemptResult::Permanent { detail },
    }
}

/// `PATCH /v1/…: 429, PATCH /v1/…: 200` — what each request got, for the attempt log.
fn trail(attempts: &[PcAttempt]) -> String {
    if attempts.is_empty() {
        return "no request sent".into();
    }
    attempts
        .iter()
        .map(|a| {
            let status = a
                .attempt
                .status
                .map_or_else(|| a.attempt.outcome.as_str().to_owned(), |s| s.to_string());
            format!("{}: {status}", a.request)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The payload of a `fraud_event_status` action resolving `event_ids` of one subscription.
pub fn fraud_status_payload(
    vendor_subscription_id: &str,
    event_ids: &[String],
    reason: tollgate_core::cases::VendorResolution,
) -> Value {
    let reason = match reason {
        tollgate_core::cases::VendorResolution::Fraud => "Fraud",
        tollgate_core::cases::VendorResolution::Ignore => "Ignore",
    };
    serde_json::json!({
        "vendor_subscription_id": vendor_subscription_id,
        "event_ids": event_ids,
        "status": "Resolved",
        "resolved_reason": reason,
    })
}
