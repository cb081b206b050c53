//! `/v1/webhooks`: the partner's endpoints for outbound events, each delivery and its attempts,
//! and a test event. Deliveries are outbox actions; a re-send is `POST /v1/actions/{id}/retry`.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_core::{
    WebhookId,
    outbox::{ActionKind, ActionStatus},
    validate,
    webhooks::{ALL_EVENTS, EndpointStatus, EventType},
};
use tollgate_store::{ActionFilter, WebhookRow};
use utoipa::ToSchema;

use super::{
    Checks, Id, ListOf, Paging, Q,
    actions::{ActionDetail, ActionOut, AttemptOut},
};
use crate::{
    ctx::{Administer, Ctx, Read},
    error::{ApiError, ApiResult},
    json::JsonBody,
    webhooks::{check_url, enqueue_to, new_secret},
};

/// At most this many entries in `event_types`; more is a sign of a mistake, `*` takes all.
const MAX_EVENT_TYPES: usize = 32;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// Where deliveries are POSTed: `https://…` (`http://` only for localhost), no credentials.
    pub url: String,
    /// Event types to receive (`decision.created`, `alert.created`, `case.updated`,
    /// `dunning.step`, `subscription.suspended`, `subscription.reactivated`,
    /// `subscription.terminated`), or `["*"]` for all.
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatchIn {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// `enabled` puts a disabled endpoint back in service; `disabled` stops deliveries to it.
    pub status: Option<EndpointStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    /// `whk_…`
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    /// Event type names, or `*` for all.
    pub event_types: Vec<String>,
    pub status: EndpointStatus,
    /// Why the endpoint is disabled: by a person, after a day of failed deliveries, or `410 Gone`.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookRow> for WebhookOut {
    fn from(row: WebhookRow) -> Self {
        Self {
            id: row.id,
            url: row.url,
            description: row.description,
            event_types: row.event_types,
            status: row.status,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown only here (at creation and rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookOut,
    /// `whsec_` + base64 of the HMAC-SHA256 key, as Standard Webhooks libraries expect it.
    pub secret: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub status: Option<ActionStatus>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

fn check_event_types(c: &mut Checks, types: &[String]) {
    if types.is_empty() {
        c.fail("event_types", "must name at least one event type, or `*`");
    }
    if types.len() > MAX_EVENT_TYPES {
        c.fail(
            "event_types",
            format_args!("must have at most {MAX_EVENT_TYPES} entries"),
        );
    }
    for (i, name) in types.iter().enumerate() {
        if name != ALL_EVENTS
            && let Err(e) = name.parse::<EventType>()
        {
            c.fail(&format!("event_types[{i}]"), e);
        }
    }
}

fn check_description(c: &mut Checks, description: Option<&str>) -> Option<String> {
    description.and_then(|d| c.take(validate::text("description", d, 500)))
}

fn check_endpoint_url(c: &mut Checks, url: &str, private_networks: bool) {
    if let Err(e) = check_url(url, private_networks) {
        c.fail("url", e);
    }
}

fn dedup(mut types: Vec<String>) -> Vec<String> {
    types.sort();
    types.dedup();
    types
}

/// Subscribe an endpoint to events. The answer carries the signing secret, once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = WebhookWithSecret), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<Administer>,
    JsonBody(input): JsonBody<WebhookIn>,
) -> ApiResult<Response> {
    let mut c = Checks::default();
    check_endpoint_url(
        &mut c,
        &input.url,
        ctx.state.config().webhooks_to_private_networks,
    );
    check_event_types(&mut c, &input.event_types);
    let description = check_description(&mut c, input.description.as_deref());
    c.finish()?;
    let now = ctx.now();
    let row = WebhookRow {
        id: WebhookId::generate(),
        url: input.url,
        description,
        event_types: dedup(input.event_types),
        secret: new_secret(),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = ctx.begin().await?;
    tx.insert_webhook(ctx.tenant(), &row).await?;
    let secret = row.secret.clone();
    let webhook = WebhookOut::from(row);
    ctx.audit(&mut tx, "webhook.created", webhook.id, &webhook)
        .await?;
    ctx.commit(
        tx,
        StatusCode::CREATED,
        &WebhookWithSecret { webhook, secret },
    )
    .await
}

/// List endpoints, oldest first (without secrets).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", params(Paging),
    responses((status = 200, body = ListOf<WebhookOut>)))]
pub async fn list(ctx: Ctx<Read>, Q(paging): Q<Paging>) -> ApiResult<Json<ListOf<WebhookOut>>> {
    let page = paging.request()?;
    let page = ctx.read().await?.list_webhooks(ctx.tenant(), &page).await?;
    Ok(Json(ListOf {
        data: page.data.into_iter().map(WebhookOut::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "`whk_…`")),
    responses((status = 200, body = WebhookOut), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<WebhookId>) -> ApiResult<Json<WebhookOut>> {
    let row = ctx.read().await?.webhook(ctx.tenant(), id).await?;
    Ok(Json(row.into()))
}

/// Change the URL, event types or description, or disable or re-enable the endpoint.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookPatchIn,
    params(("id" = String, Path, description = "`whk_…`")),
    responses((status = 200, body = WebhookOut), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn update(
    ctx: Ctx<Administer>,
    Id(id): Id<WebhookId>,
    JsonBody(input): JsonBody<WebhookPatchIn>,
) -> ApiResult<Response> {
    let mut c = Checks::default();
    if let Some(url) = &input.url {
        check_endpoint_url(&mut c, url, ctx.state.config().webhooks_to_private_networks);
    }
    if let Some(types) = &input.event_types {
        check_event_types(&mut c, types);
    }
    let description = check_description(&mut c, input.description.as_deref());
    c.finish()?;
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let before = tx.webhook(tenant, id).await?;
    let mut after = before.clone();
    if let Some(url) = input.url {
        after.url = url;
    }
    if let Some(types) = input.event_types {
        after.event_types = dedup(types);
    }
    if description.is_some() {
        after.description = description;
    }
    match input.status {
        Some(EndpointStatus::Enabled) => {
            after.status = EndpointStatus::Enabled;
            after.disabled_reason = None;
        }
        Some(EndpointStatus::Disabled) if before.status == EndpointStatus::Enabled => {
            after.status = EndpointStatus::Disabled;
            after.disabled_reason = Some(format!("disabled by {}", ctx.actor().label()));
        }
        Some(EndpointStatus::Disabled) | None => {}
    }
    after.updated_at = ctx.now();
    tx.update_webhook(tenant, &after).await?;
    let (before, after) = (WebhookOut::from(before), WebhookOut::from(after));
    ctx.audit(
        &mut tx,
        "webhook.updated",
        id,
        json!({ "before": before, "after": after }),
    )
    .await?;
    ctx.commit(tx, StatusCode::OK, &after).await
}

/// Remove an endpoint: nothing more is delivered to it; pending deliveries end as skipped.
#[utoipa::path(post, path = "/v1/webhooks/{id}/remove", tag = "webhooks",
    params(("id" = String, Path, description = "`whk_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = WebhookOut), (status = 404, body = crate::error::Problem)))]
pub async fn remove(ctx: Ctx<Administer>, Id(id): Id<WebhookId>) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let webhook = WebhookOut::from(tx.webhook(tenant, id).await?);
    tx.remove_webhook(tenant, id, ctx.now()).await?;
    ctx.audit(&mut tx, "webhook.removed", id, &webhook).await?;
    ctx.commit(tx, StatusCode::OK, &webhook).await
}

/// Replace the signing secret at once; the answer shows the new one, once. Deliveries already
/// queued are signed with the new secret when they are attempted.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate_secret", tag = "webhooks",
    params(("id" = String, Path, description = "`whk_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = WebhookWithSecret), (status = 404, body = crate::error::Problem)))]
pub async fn rotate_secret(ctx: Ctx<Administer>, Id(id): Id<WebhookId>) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let mut row = tx.webhook(tenant, id).await?;
    row.secret = new_secret();
    row.updated_at = ctx.now();
    tx.update_webhook(tenant, &row).await?;
    ctx.audit(&mut tx, "webhook.secret_rotated", id, json!({}))
        .await?;
    let secret = row.secret.clone();
    let webhook = WebhookOut::from(row);
    ctx.commit(tx, StatusCode::OK, &WebhookWithSecret { webhook, secret })
        .await
}

/// Send a `webhook.test` event to this endpoint (whatever it subscribes to).
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "`whk_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 202, body = ActionOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn test(ctx: Ctx<Administer>, Id(id): Id<WebhookId>) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let endpoint = tx.webhook(tenant, id).await?;
    if endpoint.status == EndpointStatus::Disabled {
        return Err(ApiError::Conflict {
            detail: "the endpoint is disabled; enable it first".into(),
            field: None,
        });
    }
    let data = json!({ "webhook_id": id, "message": "A test event from Tollgate." });
    let action = enqueue_to(&mut tx, tenant, id, EventType::WebhookTest, data, ctx.now()).await?;
    ctx.audit(
        &mut tx,
        "webhook.tested",
        id,
        json!({ "action_id": action }),
    )
    .await?;
    let out = ActionOut::from(tx.action(tenant, action).await?);
    ctx.commit(tx, StatusCode::ACCEPTED, &out).await
}

/// Every delivery to this endpoint, oldest first, each with all its attempts. Re-send one with
/// `POST /v1/actions/{id}/retry`.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "`whk_…`"), DeliveryQuery),
    responses((status = 200, body = ListOf<ActionDetail>), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn deliveries(
    ctx: Ctx<Read>,
    Id(id): Id<WebhookId>,
    Q(query): Q<DeliveryQuery>,
) -> ApiResult<Json<ListOf<ActionDetail>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let tenant = ctx.tenant();
    let mut tx = ctx.read().await?;
    tx.webhook(tenant, id).await?;
    let filter = ActionFilter {
        kind: Some(ActionKind::Webhook),
        status: query.status,
        object_id: Some(id.to_string()),
    };
    let page = tx.list_actions(tenant, &filter, &page).await?;
    let mut data = Vec::with_capacity(page.data.len());
    for action in page.data {
        let attempt_log = tx.action_attempts(action.id).await?;
        data.push(ActionDetail {
            action: action.into(),
            attempt_log: attempt_log.into_iter().map(AttemptOut::from).collect(),
        });
    }
    Ok(Json(ListOf {
        data,
        next_cursor: page.next_cursor,
    }))
}
