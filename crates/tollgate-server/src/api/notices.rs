//! `/v1/notices`: what the vendor or an abuse desk tells the partner about a customer, and
//! `POST /v1/connectors/partner-center/events/{tenant}`, where Partner Center's webhooks arrive.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_connectors::partner_center::{
    CallIds, FraudEventQuery, FraudEventStatus, PcErrorKind,
    webhook::{WebhookError, WebhookEventKind},
};
use tollgate_core::{
    CaseId, CustomerId, NoticeId, SubscriptionId, TenantId,
    cases::{Confidence, Notice, NoticeKind, Severity},
};
use tollgate_store::NoticeFilter;
use utoipa::ToSchema;

use super::{
    Id, ListOf, Paging, Q,
    cases::{NoticeIn, Taken, take_notice},
};
use crate::{
    AppState,
    ctx::{Ctx, Job, Operate, Read},
    error::{ApiError, ApiResult, Problem},
    json::JsonBody,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeBody {
    pub kind: NoticeKind,
    pub severity: Severity,
    pub confidence: Option<Confidence>,
    /// The customer concerned; optional when `subscription_id` names it.
    pub customer_id: Option<CustomerId>,
    /// `sub_…`, the affected subscription.
    pub subscription_id: Option<SubscriptionId>,
    /// What happened, 1–500 characters.
    pub summary: String,
    /// The affected resources (a list).
    #[schema(value_type = Option<Vec<Object>>)]
    pub resources: Option<Value>,
    /// Anything else the reporter knows (an object).
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    pub first_seen_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// Record a notice (an abuse desk's report); the playbook in force decides what follows.
#[utoipa::path(post, path = "/v1/notices", tag = "notices", request_body = NoticeBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = Taken), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<Operate>,
    JsonBody(input): JsonBody<NoticeBody>,
) -> ApiResult<Response> {
    let summary = input.summary.trim().to_owned();
    if summary.is_empty() || summary.chars().count() > 500 {
        return Err(ApiError::field("summary", "must be 1 to 500 characters"));
    }
    let resources = input.resources.unwrap_or_else(|| json!([]));
    if !resources.is_array() {
        return Err(ApiError::field("resources", "must be a list"));
    }
    let details = input.details.unwrap_or_else(|| json!({}));
    if !details.is_object() {
        return Err(ApiError::field("details", "must be an object"));
    }
    if let (Some(first), Some(last)) = (input.first_seen_at, input.last_seen_at)
        && last < first
    {
        return Err(ApiError::field(
            "last_seen_at",
            "must not be before first_seen_at",
        ));
    }
    let mut tx = ctx.begin().await?;
    let subscription = match input.subscription_id {
        Some(id) => Some(
            tx.subscription(ctx.tenant(), id)
                .await
                .map_err(|e| match e {
                    tollgate_store::StoreError::NotFound => {
                        ApiError::field("subscription_id", "no such subscription")
                    }
                    other => other.into(),
                })?,
        ),
        None => None,
    };
    let customer_id = match (input.customer_id, &subscription) {
        (Some(c), Some(s)) if c != s.customer_id => {
            return Err(ApiError::field(
                "subscription_id",
                "belongs to another customer than customer_id",
            ));
        }
        (_, Some(s)) => s.customer_id,
        (Some(c), None) => {
            tx.customer(ctx.tenant(), c).await.map_err(|e| match e {
                tollgate_store::StoreError::NotFound => {
                    ApiError::field("customer_id", "no such customer")
                }
                other => other.into(),
            })?;
            c
        }
        (None, None) => {
            return Err(ApiError::field(
                "customer_id",
                "a notice names a customer_id or a subscription_id",
            ));
        }
    };
    let taken = take_notice(
        &ctx,
        &mut tx,
        NoticeIn {
            source: "api",
            kind: input.kind,
            severity: input.severity,
            confidence: input.confidence,
            vendor_event_id: None,
            vendor_event_type: None,
            vendor_subscription_id: subscription
                .as_ref()
                .map(|s| s.vendor_subscription_id.clone()),
            vendor_customer_id: None,
            customer_id: Some(customer_id),
            subscription,
            summary,
            resources,
            details,
            first_seen_at: input.first_seen_at,
            last_seen_at: input.last_seen_at,
        },
    )
    .await?
    .ok_or_else(|| ApiError::Internal("a notice without a vendor event was a duplicate".into()))?;
    ctx.commit(tx, StatusCode::CREATED, &taken).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoticeQuery {
    pub customer_id: Option<CustomerId>,
    pub kind: Option<NoticeKind>,
    pub case_id: Option<CaseId>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// List notices, oldest first.
#[utoipa::path(get, path = "/v1/notices", tag = "notices", params(NoticeQuery),
    responses((status = 200, body = ListOf<Notice>), (status = 422, body = crate::error::Problem)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<NoticeQuery>) -> ApiResult<Json<ListOf<Notice>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let filter = NoticeFilter {
        customer_id: query.customer_id,
        kind: query.kind.map(|k| k.as_str().to_owned()),
        case_id: query.case_id,
    };
    let page = ctx
        .read()
        .await?
        .list_notices(ctx.tenant(), &filter, &page)
        .await?;
    Ok(Json(page.into()))
}

/// One notice.
#[utoipa::path(get, path = "/v1/notices/{id}", tag = "notices", params(("id" = String, Path)),
    responses((status = 200, body = Notice), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<NoticeId>) -> ApiResult<Json<Notice>> {
    Ok(Json(ctx.read().await?.notice(ctx.tenant(), id).await?))
}

fn refused(status: StatusCode, slug: &str, detail: String) -> Response {
    let problem = Problem {
        kind: format!("/problems/{slug}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors: Vec::new(),
    };
    let mut response = (status, Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Partner Center's webhook (`azure-fraud-event-detected`, `usagerecords-thresholdExceeded`,
/// `subscription-updated`, `invoice-ready`) for the tenant in the path. Not API-key
/// authenticated: the RSA-SHA256 signature is checked against Partner Center's certificate
/// (fetched only from an allow-listed host), and a forged request is refused with 401 before
/// anything is stored. The resource the event points to is then read from Partner Center.
#[utoipa::path(post, path = "/v1/connectors/partner-center/events/{tenant}", tag = "notices",
    params(("tenant" = String, Path, description = "The receiving tenant's id (`ten_…`)")),
    security(()),
    responses((status = 202, description = "Taken in"), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 503, body = crate::error::Problem)))]
pub async fn partner_center_event(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match receive(&state, &tenant, &headers, &body).await {
        Ok(report) => (StatusCode::ACCEPTED, Json(report)).into_response(),
        Err(Refusal::Signature(e)) => refused(
            StatusCode::UNAUTHORIZED,
            "bad-signature",
            format!("the webhook signature was not accepted: {e}"),
        ),
        Err(Refusal::Certificate(e)) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "certificate-unavailable",
            e.to_string(),
        ),
        Err(Refusal::Api(e)) => e.into_response(),
    }
}

enum Refusal {
    Signature(WebhookError),
    Certificate(WebhookError),
    Api(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl From<tollgate_store::StoreError> for Refusal {
    fn from(e: tollgate_store::StoreError) -> Self {
        Refusal::Api(e.into())
    }
}

async fn receive(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Refusal> {
    let (Some(verifier), Some(pc)) = (
        state.connectors().partner_center_webhooks.clone(),
        state.connectors().partner_center.clone(),
    ) else {
        return Err(ApiError::NotFound.into());
    };
    let verified = verifier.verify(headers, body).await;
    let tenant: TenantId = tenant.parse().map_err(|_| ApiError::NotFound)?;
    // The signature is Partner Center's, so the body is worth keeping even when unreadable;
    // the tenant must exist before anything is written for it.
    state.store().read().await?.tenant(tenant).await?;
    let job = Job {
        tenant,
        name: "partner_center_webhook",
        now: state.now(),
    };
    let event = match verified {
        Ok(event) => event,
        Err(WebhookError::MalformedEvent(reason)) => {
            return quarantine(state, &job, body, &reason).await;
        }
        Err(e @ WebhookError::CertificateUnavailable(_)) => return Err(Refusal::Certificate(e)),
        Err(e) => return Err(Refusal::Signature(e)),
    };
    let request = tollgate_core::ActionId::generate().uuid();
    let ids = CallIds::new(request, request);
    match event.kind {
        WebhookEventKind::AzureFraudEventDetected => {
            // The event names the subscription; its fraud events are read with app+user
            // credentials, as the resource URI's API requires.
            let subscription = event
                .resource_name
                .clone()
                .or_else(|| subscription_in(event.resource_uri.as_deref()));
            let query = FraudEventQuery {
                status: Some(FraudEventStatus::Active),
                subscription_id: subscription,
                ..FraudEventQuery::default()
            };
            let events = pc.fraud_events(ids, query).await.map_err(|e| {
                ApiError::Unavailable(format!("could not read the fraud events: {e}"))
            })?;
            let done =
                crate::jobs::vendor_events::ingest(state, &job, events.value.entries).await?;
            Ok(json!({ "event": event.event_name, "notices": done.notices,
                       "duplicates": done.duplicates, "quarantined": done.quarantined,
                       "actions": done.actions }))
        }
        _ => {
            let resource = match &event.resource_uri {
                Some(uri) => match pc.fetch_resource(ids, uri.clone()).await {
                    Ok(resource) => Some(resource),
                    // Signed, but pointing off the API: kept for a person, never fetched.
                    Err(e) if matches!(e.kind, PcErrorKind::ForeignResource(_)) => {
                        return quarantine(state, &job, body, &e.kind.to_string()).await;
                    }
                    Err(e) => {
                        return Err(ApiError::Unavailable(format!(
                            "could not read the resource: {e}"
                        ))
                        .into());
                    }
                },
                None => None,
            };
            let mut tx = state.store().begin().await?;
            job.audit(
                &mut tx,
                "vendor_event.received",
                event.resource_name.clone().unwrap_or_default(),
                json!({ "event": event.event_name, "resource_uri": event.resource_uri,
                        "resource": resource.map(|r| r.value) }),
            )
            .await?;
            tx.commit().await?;
            Ok(json!({ "event": event.event_name }))
        }
    }
}

/// Keeps a signed vendor event Tollgate cannot use, with the reason, and answers `202` so the
/// vendor does not send it again.
async fn quarantine(
    state: &AppState,
    job: &Job,
    body: &[u8],
    reason: &str,
) -> Result<Value, Refusal> {
    let mut tx = state.store().begin().await?;
    let raw = String::from_utf8_lossy(body).into_owned();
    let id = tx
        .quarantine_vendor_event(job.tenant, job.name, &raw, reason, job.now)
        .await?;
    job.audit(
        &mut tx,
        "vendor_event.quarantined",
        &id,
        json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({ "quarantined": 1 }))
}

/// `SubscriptionId` (any case) from a resource URI's query.
fn subscription_in(uri: Option<&str>) -> Option<String> {
    let query = uri?.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.eq_ignore_ascii_case("subscriptionId")
            .then(|| value.to_owned())
    })
}
