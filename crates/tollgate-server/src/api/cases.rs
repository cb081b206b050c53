//! `/v1/cases`: what is known about one customer's problem — its notices, alerts, decisions and
//! dunning episodes — with an assignee, a deadline, comments, actions and an outcome. Also the
//! glue that takes a notice in under the playbook in force (shared by `POST /v1/notices`, the
//! Partner Center webhook and poller, and raised alerts).

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tollgate_core::{
    ActionId, CaseId, CustomerId, NoticeId, SubscriptionId,
    cases::{
        Case, CaseEvent, CaseLink, CaseOutcome, CaseState, Confidence, Notice, NoticeKind, Plan,
        PlanInput, Playbook, PlaybookAction, Severity, respond_by,
    },
    customers::{Subscription, SubscriptionStatus},
    outbox::ActionKind,
    webhooks::EventType,
};
use tollgate_store::{CaseFilter, NewAction, NoticeFilter, Tx};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q, alerts::AlertOut};
use crate::{
    ctx::{Acting, Ctx, Operate, Read, audit_as},
    error::{ApiError, ApiResult},
    json::JsonBody,
};

/// The alert raised once when a live case passes its deadline.
pub const CASE_DEADLINE: &str = "case_deadline";

/// The playbook deciding for a tenant now: its active version, else the shipped one.
pub struct InForce {
    pub playbook: Playbook,
    /// `None` for the shipped playbook.
    pub version: Option<i64>,
}

impl InForce {
    /// How an automatic action names the playbook on the audit chain and the outbox.
    pub fn named(&self, rule: &str) -> Value {
        json!({ "version": self.version, "label": self.playbook.version, "rule": rule })
    }
}

pub async fn playbook_in_force(tx: &mut Tx, tenant: tollgate_core::TenantId) -> ApiResult<InForce> {
    match tx.active_playbook(tenant).await? {
        Some(row) => Ok(InForce {
            playbook: serde_json::from_str(&row.document)
                .map_err(|e| ApiError::Internal(format!("stored playbook: {e}")))?,
            version: Some(row.version),
        }),
        None => Ok(InForce {
            playbook: Playbook::shipped(),
            version: None,
        }),
    }
}

/// A notice to take in, its customer and subscription already resolved (or not: `unmatched`).
pub struct NoticeIn {
    pub source: &'static str,
    pub kind: NoticeKind,
    pub severity: Severity,
    pub confidence: Option<Confidence>,
    pub vendor_event_id: Option<String>,
    pub vendor_event_type: Option<String>,
    pub vendor_subscription_id: Option<String>,
    pub vendor_customer_id: Option<String>,
    pub customer_id: Option<CustomerId>,
    pub subscription: Option<Subscription>,
    pub summary: String,
    pub resources: Value,
    pub details: Value,
    pub first_seen_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// What taking a notice in did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Taken {
    pub notice: Notice,
    /// The case it opened or joined, if the playbook (or an unknown subscription) called for one.
    pub case: Option<Case>,
    /// The playbook rule that matched.
    pub plan: Option<Plan>,
    /// Outbox actions enqueued (suspensions at the vendor).
    pub actions: Vec<ActionId>,
}

/// Stores the notice and applies the playbook in force, in `tx`: opens or joins the customer's
/// case and takes the automatic actions, each naming the playbook version. `None` when a notice
/// for the same vendor event exists (nothing written).
pub async fn take_notice(
    who: &impl Acting,
    tx: &mut Tx,
    input: NoticeIn,
) -> ApiResult<Option<Taken>> {
    let tenant = who.tenant();
    let now = who.now();
    let in_force = playbook_in_force(tx, tenant).await?;
    let trust_tier = match input.customer_id {
        Some(id) => Some(tx.customer(tenant, id).await?.trust_tier),
        None => None,
    };
    let plan = in_force.playbook.plan(PlanInput {
        kind: input.kind.as_str(),
        severity: input.severity,
        confidence: input.confidence,
        trust_tier,
    });
    let mut notice = Notice {
        id: NoticeId::generate(),
        source: input.source.to_owned(),
        kind: input.kind,
        severity: input.severity,
        confidence: input.confidence,
        vendor_event_id: input.vendor_event_id,
        vendor_event_type: input.vendor_event_type,
        vendor_subscription_id: input.vendor_subscription_id,
        vendor_customer_id: input.vendor_customer_id,
        customer_id: input.customer_id,
        subscription_id: input.subscription.as_ref().map(|s| s.id),
        summary: input.summary,
        resources: input.resources,
        details: input.details,
        first_seen_at: input.first_seen_at,
        last_seen_at: input.last_seen_at,
        respond_by: respond_by(&in_force.playbook, input.severity, now),
        case_id: None,
        created_at: now,
    };
    if !tx.insert_notice(tenant, &notice).await? {
        return Ok(None);
    }
    let named = plan.as_ref().map(|p| in_force.named(&p.rule));
    audit_as(
        who,
        tx,
        "notice.received",
        notice.id,
        json!({ "kind": notice.kind, "severity": notice.severity, "source": notice.source,
                "vendor_event_id": notice.vendor_event_id, "customer_id": notice.customer_id,
                "playbook": named }),
    )
    .await?;
    let unmatched = notice.customer_id.is_none();
    let wants_case = plan
        .as_ref()
        .is_some_and(|p| p.calls_for(PlaybookAction::OpenCase));
    if !wants_case && !unmatched {
        return Ok(Some(Taken {
            notice,
            case: None,
            plan,
            actions: Vec::new(),
        }));
    }
    let mut case = case_for(who, tx, notice.customer_id, &notice.summary, unmatched).await?;
    case.deadline_at = Some(
        case.deadline_at
            .map_or(notice.respond_by, |d| d.min(notice.respond_by)),
    );
    if let Some(event) = &notice.vendor_event_id
        && !case.vendor_event_ids.contains(event)
    {
        case.vendor_event_ids.push(event.clone());
        case.vendor_subscription_id = notice.vendor_subscription_id.clone();
    }
    tx.set_notice_case(tenant, notice.id, case.id).await?;
    notice.case_id = Some(case.id);
    link(who, tx, &case, "notice", &notice.id.to_string()).await?;
    let mut actions = Vec::new();
    if let (Some(plan), Some(named)) = (&plan, &named) {
        let by = json!({ "playbook": named, "reason": plan.reason });
        for action in &plan.actions {
            let taken = match (action, &input.subscription) {
                (PlaybookAction::SuspendSubscription, Some(sub))
                    if sub.status == SubscriptionStatus::Active =>
                {
                    Some(
                        change_service(
                            who,
                            tx,
                            &mut case,
                            sub,
                            ServiceChange::Status(SubscriptionStatus::Suspended),
                            &plan.reason,
                            notice.vendor_customer_id.clone(),
                            by.clone(),
                        )
                        .await?,
                    )
                }
                (PlaybookAction::CancelAzureEntitlement, Some(sub)) => {
                    let entitlement = notice
                        .vendor_subscription_id
                        .clone()
                        .unwrap_or_else(|| sub.vendor_subscription_id.clone());
                    Some(
                        change_service(
                            who,
                            tx,
                            &mut case,
                            sub,
                            ServiceChange::Entitlement {
                                operation: "cancel",
                                entitlement_id: entitlement,
                            },
                            &plan.reason,
                            notice.vendor_customer_id.clone(),
                            by.clone(),
                        )
                        .await?,
                    )
                }
                (
                    PlaybookAction::SuspendSubscription | PlaybookAction::CancelAzureEntitlement,
                    _,
                ) => {
                    timeline(
                        who,
                        tx,
                        case.id,
                        "action_skipped",
                        json!({ "action": action, "playbook": named,
                                "why": "no active subscription of the customer is known for this notice" }),
                    )
                    .await?;
                    None
                }
                (PlaybookAction::OpenCase | PlaybookAction::Notify, _) => None,
            };
            actions.extend(taken);
        }
    }
    let urgent = plan
        .as_ref()
        .is_some_and(|p| p.calls_for(PlaybookAction::Notify));
    touch(who, tx, &mut case, urgent).await?;
    Ok(Some(Taken {
        notice,
        case: Some(case),
        plan,
        actions,
    }))
}

/// The customer's live case, or a new one (always new for an unmatched notice).
async fn case_for(
    who: &impl Acting,
    tx: &mut Tx,
    customer: Option<CustomerId>,
    title: &str,
    unmatched: bool,
) -> ApiResult<Case> {
    if let Some(customer) = customer {
        // Locking the customer first serialises two notices arriving at once for a customer
        // without a live case: the second waits, then finds the case the first opened (a lock
        // on the case row alone cannot, as there is no row yet).
        tx.customer_for_update(who.tenant(), customer).await?;
        if let Some(case) = tx.live_case_for_customer(who.tenant(), customer).await? {
            return Ok(case);
        }
    }
    let now = who.now();
    let case = Case {
        id: CaseId::generate(),
        customer_id: customer,
        state: CaseState::Open,
        outcome: None,
        assignee: None,
        title: title.chars().take(200).collect(),
        deadline_at: None,
        unmatched,
        vendor_event_ids: Vec::new(),
        vendor_subscription_id: None,
        breach_alert_id: None,
        created_at: now,
        updated_at: now,
        resolved_at: None,
    };
    tx.insert_case(who.tenant(), &case).await?;
    timeline(
        who,
        tx,
        case.id,
        "opened",
        json!({ "unmatched": unmatched }),
    )
    .await?;
    audit_as(
        who,
        tx,
        "case.opened",
        case.id,
        json!({ "customer_id": customer, "unmatched": unmatched }),
    )
    .await?;
    Ok(case)
}

async fn link(
    who: &impl Acting,
    tx: &mut Tx,
    case: &Case,
    kind: &str,
    object_id: &str,
) -> ApiResult<()> {
    tx.link_case(who.tenant(), case.id, kind, object_id, who.now())
        .await?;
    timeline(
        who,
        tx,
        case.id,
        "linked",
        json!({ "kind": kind, "object_id": object_id }),
    )
    .await?;
    audit_as(
        who,
        tx,
        "case.linked",
        case.id,
        json!({ "kind": kind, "object_id": object_id }),
    )
    .await
}

async fn timeline(
    who: &impl Acting,
    tx: &mut Tx,
    case: CaseId,
    kind: &str,
    data: Value,
) -> ApiResult<()> {
    tx.add_case_event(
        who.tenant(),
        case,
        who.now(),
        &who.actor().label(),
        kind,
        &data,
    )
    .await?;
    Ok(())
}

/// Writes the case back and announces it (`case.updated`).
async fn touch(who: &impl Acting, tx: &mut Tx, case: &mut Case, urgent: bool) -> ApiResult<()> {
    case.updated_at = who.now();
    tx.update_case(who.tenant(), case).await?;
    let data = json!({ "case": case, "urgent": urgent });
    crate::webhooks::publish(tx, who.tenant(), EventType::CaseUpdated, data, who.now()).await
}

/// What to do to a customer's service.
enum ServiceChange {
    Status(SubscriptionStatus),
    Entitlement {
        operation: &'static str,
        entitlement_id: String,
    },
}

/// Changes the service inside Tollgate (subscription status) and enqueues the vendor call, in
/// `tx`; the case moves to `actioned`. `by` says who decided (a playbook version, an analyst).
#[allow(clippy::too_many_arguments)]
async fn change_service(
    who: &impl Acting,
    tx: &mut Tx,
    case: &mut Case,
    sub: &Subscription,
    change: ServiceChange,
    reason: &str,
    vendor_customer_id: Option<String>,
    by: Value,
) -> ApiResult<ActionId> {
    let tenant = who.tenant();
    let now = who.now();
    let (kind, payload, what) = match &change {
        ServiceChange::Status(status) => {
            let (before, after) = tx
                .change_subscription_status(
                    tenant,
                    sub.id,
                    *status,
                    Some(reason.to_owned()),
                    &who.actor().label(),
                    now,
                )
                .await?;
            let event = match status {
                SubscriptionStatus::Active => EventType::SubscriptionReactivated,
                SubscriptionStatus::Suspended => EventType::SubscriptionSuspended,
                SubscriptionStatus::Terminated => EventType::SubscriptionTerminated,
            };
            audit_as(
                who,
                tx,
                event.as_str(),
                sub.id,
                json!({ "from": before.status, "to": after.status, "reason": reason,
                        "case_id": case.id, "by": by }),
            )
            .await?;
            let data = json!({ "subscription": after, "from": before.status, "reason": reason });
            crate::webhooks::publish(tx, tenant, event, data, now).await?;
            (
                ActionKind::SubscriptionStatus,
                json!({ "subscription_id": sub.id, "vendor_subscription_id": sub.vendor_subscription_id,
                        "customer_id": sub.customer_id, "vendor_customer_id": vendor_customer_id,
                        "status": status, "reason": reason, "case_id": case.id, "by": by }),
                status.as_str().to_owned(),
            )
        }
        ServiceChange::Entitlement {
            operation,
            entitlement_id,
        } => (
            ActionKind::AzureEntitlement,
            json!({ "subscription_id": sub.id, "vendor_subscription_id": sub.vendor_subscription_id,
                    "customer_id": sub.customer_id, "vendor_customer_id": vendor_customer_id,
                    "entitlement_id": entitlement_id, "operation": operation, "reason": reason,
                    "case_id": case.id, "by": by }),
            format!("entitlement_{operation}"),
        ),
    };
    let id = ActionId::generate();
    tx.enqueue_action(
        tenant,
        &NewAction {
            id,
            kind,
            source: "cases".into(),
            object_id: sub.id.to_string(),
            payload,
            not_before: now,
        },
        now,
    )
    .await?;
    timeline(
        who,
        tx,
        case.id,
        "action",
        json!({ "change": what, "subscription_id": sub.id, "action_id": id, "by": by }),
    )
    .await?;
    audit_as(
        who,
        tx,
        "case.actioned",
        case.id,
        json!({ "change": what, "subscription_id": sub.id, "action_id": id, "by": by }),
    )
    .await?;
    if case.state.can_become(CaseState::Actioned) {
        case.state = CaseState::Actioned;
    }
    Ok(id)
}

/// A raised alert joins the customer's live case, or opens one when the playbook says so.
/// Called by `alerts::raise`; deadline alerts are about cases and never open one.
pub async fn on_alert(who: &impl Acting, tx: &mut Tx, alert: &AlertOut) -> ApiResult<()> {
    let Some(customer) = alert.customer_id else {
        return Ok(());
    };
    if alert.kind == CASE_DEADLINE {
        return Ok(());
    }
    let tenant = who.tenant();
    let mut case = match tx.live_case_for_customer(tenant, customer).await? {
        Some(case) => case,
        None => {
            let in_force = playbook_in_force(tx, tenant).await?;
            let trust_tier = tx.customer(tenant, customer).await?.trust_tier;
            let plan = in_force.playbook.plan(PlanInput {
                kind: &alert.kind,
                severity: Severity::Medium,
                confidence: None,
                trust_tier: Some(trust_tier),
            });
            let Some(plan) = plan.filter(|p| p.calls_for(PlaybookAction::OpenCase)) else {
                return Ok(());
            };
            let mut case = case_for(who, tx, Some(customer), &alert.sentence, false).await?;
            case.deadline_at = Some(respond_by(&in_force.playbook, Severity::Medium, who.now()));
            timeline(
                who,
                tx,
                case.id,
                "playbook",
                json!({ "playbook": in_force.named(&plan.rule), "reason": plan.reason }),
            )
            .await?;
            case
        }
    };
    link(who, tx, &case, "alert", &alert.id.to_string()).await?;
    touch(who, tx, &mut case, false).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: Case,
    /// The deadline passed and the case is not resolved.
    pub overdue: bool,
    /// Notices, alerts, decisions and dunning episodes gathered.
    pub links: Vec<CaseLink>,
    /// Everything that happened to the case, oldest first.
    pub timeline: Vec<CaseEvent>,
}

async fn detail(tx: &mut Tx, who: &impl Acting, case: Case) -> ApiResult<CaseDetail> {
    let links = tx.case_links(who.tenant(), case.id).await?;
    let timeline = tx.case_events(who.tenant(), case.id).await?;
    Ok(CaseDetail {
        overdue: case.is_overdue(who.now()),
        case,
        links,
        timeline,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// `open`, `investigating`, `actioned` or `resolved`.
    pub state: Option<CaseState>,
    pub customer_id: Option<CustomerId>,
    pub assignee: Option<String>,
    /// `true`: only live cases past their deadline.
    pub overdue: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// List cases, oldest first.
#[utoipa::path(get, path = "/v1/cases", tag = "cases", params(CaseQuery),
    responses((status = 200, body = ListOf<Case>), (status = 422, body = crate::error::Problem)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<CaseQuery>) -> ApiResult<Json<ListOf<Case>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let filter = CaseFilter {
        state: query.state,
        customer_id: query.customer_id,
        assignee: query.assignee,
        overdue_at: query.overdue.filter(|o| *o).map(|_| ctx.now()),
    };
    let page = ctx
        .read()
        .await?
        .list_cases(ctx.tenant(), &filter, &page)
        .await?;
    Ok(Json(page.into()))
}

/// One case with what it gathers and its timeline.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases", params(("id" = String, Path)),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<CaseId>) -> ApiResult<Json<CaseDetail>> {
    let mut tx = ctx.read().await?;
    let case = tx.case(ctx.tenant(), id).await?;
    Ok(Json(detail(&mut tx, &ctx, case).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignIn {
    /// Who works the case (a name or e-mail, 1–200 characters).
    pub assignee: String,
}

fn live(case: &Case) -> ApiResult<()> {
    match case.state.is_live() {
        true => Ok(()),
        false => Err(ApiError::Conflict {
            detail: "the case is resolved; a new problem opens a new case".into(),
            field: None,
        }),
    }
}

/// Assign the case; an open case moves to `investigating`.
#[utoipa::path(post, path = "/v1/cases/{id}/assign", tag = "cases", request_body = AssignIn,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn assign(
    ctx: Ctx<Operate>,
    Id(id): Id<CaseId>,
    JsonBody(input): JsonBody<AssignIn>,
) -> ApiResult<Response> {
    let assignee = input.assignee.trim().to_owned();
    if assignee.is_empty() || assignee.chars().count() > 200 {
        return Err(ApiError::field("assignee", "must be 1 to 200 characters"));
    }
    let mut tx = ctx.begin().await?;
    let mut case = tx.case_for_update(ctx.tenant(), id).await?;
    live(&case)?;
    let from = case.assignee.replace(assignee.clone());
    if case.state == CaseState::Open {
        case.state = CaseState::Investigating;
    }
    let data = json!({ "from": from, "to": assignee, "state": case.state });
    timeline(&ctx, &mut tx, id, "assigned", data.clone()).await?;
    ctx.audit(&mut tx, "case.assigned", id, data).await?;
    touch(&ctx, &mut tx, &mut case, false).await?;
    respond(ctx, tx, case).await
}

async fn respond(ctx: Ctx<Operate>, mut tx: Tx, case: Case) -> ApiResult<Response> {
    let out = detail(&mut tx, &ctx, case).await?;
    ctx.commit(tx, StatusCode::OK, &out).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentIn {
    /// 1–10,000 characters.
    pub body: String,
}

/// Add a comment to the timeline (also on a resolved case).
#[utoipa::path(post, path = "/v1/cases/{id}/comment", tag = "cases", request_body = CommentIn,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn comment(
    ctx: Ctx<Operate>,
    Id(id): Id<CaseId>,
    JsonBody(input): JsonBody<CommentIn>,
) -> ApiResult<Response> {
    let body = input.body.trim();
    if body.is_empty() || body.chars().count() > 10_000 {
        return Err(ApiError::field("body", "must be 1 to 10000 characters"));
    }
    let mut tx = ctx.begin().await?;
    let mut case = tx.case_for_update(ctx.tenant(), id).await?;
    timeline(&ctx, &mut tx, id, "comment", json!({ "body": body })).await?;
    ctx.audit(
        &mut tx,
        "case.commented",
        id,
        json!({ "length": body.len() }),
    )
    .await?;
    touch(&ctx, &mut tx, &mut case, false).await?;
    respond(ctx, tx, case).await
}

tollgate_core::str_enum!(
    /// What an analyst does to a customer's service from a case.
    CaseAction {
        SuspendSubscription = "suspend_subscription",
        ReactivateSubscription = "reactivate_subscription",
        CancelAzureEntitlement = "cancel_azure_entitlement",
        ReactivateAzureEntitlement = "reactivate_azure_entitlement",
    }
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActIn {
    pub action: CaseAction,
    /// `sub_…`, a subscription of the case's customer.
    pub subscription_id: SubscriptionId,
    /// The Azure subscription under the Azure plan; required for the entitlement actions.
    pub entitlement_id: Option<String>,
    pub reason: Option<String>,
}

/// Suspend or reactivate a subscription, or cancel or reactivate an Azure entitlement: the
/// status changes in Tollgate now and the vendor call leaves through the outbox.
#[utoipa::path(post, path = "/v1/cases/{id}/act", tag = "cases", request_body = ActIn,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn act(
    ctx: Ctx<Operate>,
    Id(id): Id<CaseId>,
    JsonBody(input): JsonBody<ActIn>,
) -> ApiResult<Response> {
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("analyst action from the case")
        .to_owned();
    let entitlement = |operation: &'static str| match input.entitlement_id.clone() {
        Some(entitlement_id) if !entitlement_id.trim().is_empty() => {
            Ok(ServiceChange::Entitlement {
                operation,
                entitlement_id,
            })
        }
        _ => Err(ApiError::field(
            "entitlement_id",
            "is required for an Azure entitlement action",
        )),
    };
    let change = match input.action {
        CaseAction::SuspendSubscription => ServiceChange::Status(SubscriptionStatus::Suspended),
        CaseAction::ReactivateSubscription => ServiceChange::Status(SubscriptionStatus::Active),
        CaseAction::CancelAzureEntitlement => entitlement("cancel")?,
        CaseAction::ReactivateAzureEntitlement => entitlement("reactivate")?,
    };
    let mut tx = ctx.begin().await?;
    let mut case = tx.case_for_update(ctx.tenant(), id).await?;
    let sub = match tx.subscription(ctx.tenant(), input.subscription_id).await {
        Ok(sub) if Some(sub.customer_id) == case.customer_id => sub,
        Ok(_) | Err(tollgate_store::StoreError::NotFound) => {
            return Err(ApiError::field(
                "subscription_id",
                "is not a subscription of the case's customer",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    live(&case)?;
    let vendor_customer = vendor_customer_of(&mut tx, &ctx, case.id).await?;
    let by = json!({ "analyst": ctx.actor().label() });
    change_service(
        &ctx,
        &mut tx,
        &mut case,
        &sub,
        change,
        &reason,
        vendor_customer,
        by,
    )
    .await?;
    touch(&ctx, &mut tx, &mut case, false).await?;
    respond(ctx, tx, case).await
}

/// The customer's id at the vendor, as its notices named it.
async fn vendor_customer_of(
    tx: &mut Tx,
    who: &impl Acting,
    case: CaseId,
) -> ApiResult<Option<String>> {
    Ok(case_notices(tx, who, case)
        .await?
        .into_iter()
        .find_map(|n| n.vendor_customer_id))
}

async fn case_notices(tx: &mut Tx, who: &impl Acting, case: CaseId) -> ApiResult<Vec<Notice>> {
    let filter = NoticeFilter {
        case_id: Some(case),
        ..NoticeFilter::default()
    };
    let mut page = tollgate_store::page::PageRequest {
        after: None,
        limit: tollgate_store::page::MAX_LIMIT,
    };
    let mut all = Vec::new();
    loop {
        let got = tx.list_notices(who.tenant(), &filter, &page).await?;
        all.extend(got.data);
        match got.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => return Ok(all),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// `fraud`, `abuse`, `false_positive` or `paid`.
    pub outcome: CaseOutcome,
    pub note: Option<String>,
}

/// Resolve with an outcome. A case answering vendor fraud events tells the vendor through the
/// outbox: Resolved/Fraud for `fraud` and `abuse`, Resolved/Ignore for `false_positive`.
#[utoipa::path(post, path = "/v1/cases/{id}/resolve", tag = "cases", request_body = ResolveIn,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn resolve(
    ctx: Ctx<Operate>,
    Id(id): Id<CaseId>,
    JsonBody(input): JsonBody<ResolveIn>,
) -> ApiResult<Response> {
    let mut tx = ctx.begin().await?;
    let mut case = tx.case_for_update(ctx.tenant(), id).await?;
    if !case.state.can_become(CaseState::Resolved) {
        return Err(ApiError::Conflict {
            detail: format!("the case is {} and cannot be resolved again", case.state),
            field: None,
        });
    }
    let now = ctx.now();
    case.state = CaseState::Resolved;
    case.outcome = Some(input.outcome);
    case.resolved_at = Some(now);
    let mut actions = Vec::new();
    if let Some(resolution) = input.outcome.vendor_resolution() {
        // One status update per vendor subscription: Partner Center takes them by subscription.
        let mut by_subscription: std::collections::BTreeMap<String, Vec<String>> =
            std::collections::BTreeMap::new();
        for notice in case_notices(&mut tx, &ctx, id).await? {
            if let (Some(event), Some(sub)) =
                (notice.vendor_event_id, notice.vendor_subscription_id)
            {
                by_subscription.entry(sub).or_default().push(event);
            }
        }
        for (sub, events) in by_subscription {
            let action = ActionId::generate();
            tx.enqueue_action(
                ctx.tenant(),
                &NewAction {
                    id: action,
                    kind: ActionKind::FraudEventStatus,
                    source: "cases".into(),
                    object_id: id.to_string(),
                    payload: crate::vendor::fraud_status_payload(&sub, &events, resolution),
                    not_before: now,
                },
                now,
            )
            .await?;
            actions.push(
                json!({ "action_id": action, "vendor_subscription_id": sub, "event_ids": events }),
            );
        }
    }
    let data = json!({ "outcome": input.outcome, "note": input.note, "vendor_updates": actions });
    timeline(&ctx, &mut tx, id, "resolved", data.clone()).await?;
    ctx.audit(&mut tx, "case.resolved", id, data).await?;
    touch(&ctx, &mut tx, &mut case, false).await?;
    respond(ctx, tx, case).await
}
