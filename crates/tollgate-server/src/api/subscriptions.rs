//! `/v1/subscriptions`: customers' cloud subscriptions and their status changes.

use axum::{Json, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};
use tollgate_core::{
    CustomerId, SubscriptionId,
    customers::{ProductKind, StatusChange, Subscription, SubscriptionStatus},
    validate,
    webhooks::EventType,
};
use tollgate_store::{NewSubscription, SubscriptionFilter};
use utoipa::ToSchema;

use super::{Checks, Id, ListOf, Paging, Q};
use crate::{
    ctx::{Ctx, Operate, Read, WriteFacts},
    error::ApiResult,
    json::JsonBody,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionIn {
    pub customer_id: CustomerId,
    /// The cloud vendor's subscription id, unique per tenant.
    pub vendor_subscription_id: String,
    pub offer_id: Option<String>,
    pub product_kind: ProductKind,
    /// Seats or units; at least 1.
    pub quantity: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatchIn {
    pub quantity: Option<u32>,
    pub offer_id: Option<String>,
}

/// Why a status changes; kept in the subscription's history and on the audit trail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChangeIn {
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionOut {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// Every status the subscription has had, oldest first.
    pub history: Vec<StatusChange>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionQuery {
    pub customer_id: Option<CustomerId>,
    pub status: Option<SubscriptionStatus>,
    pub product_kind: Option<ProductKind>,
    pub vendor_subscription_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

fn check_quantity(checks: &mut Checks, quantity: u32) {
    if quantity == 0 {
        checks.fail("quantity", "must be at least 1");
    }
}

/// Register a subscription a customer holds.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions", request_body = SubscriptionIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = SubscriptionOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<WriteFacts>,
    JsonBody(input): JsonBody<SubscriptionIn>,
) -> ApiResult<Response> {
    let mut c = Checks::default();
    let vendor_id = c.take(validate::text(
        "vendor_subscription_id",
        &input.vendor_subscription_id,
        128,
    ));
    let offer_id = input
        .offer_id
        .as_deref()
        .and_then(|o| c.take(validate::text("offer_id", o, 128)));
    check_quantity(&mut c, input.quantity);
    c.finish()?;
    let new = NewSubscription {
        id: SubscriptionId::generate(),
        customer_id: input.customer_id,
        vendor_subscription_id: vendor_id.unwrap_or_default(),
        offer_id,
        product_kind: input.product_kind,
        quantity: input.quantity,
    };
    let mut tx = ctx.begin().await?;
    let subscription = match tx
        .insert_subscription(ctx.tenant(), new, &ctx.actor().label(), ctx.now())
        .await
    {
        Err(tollgate_store::StoreError::NotFound) => {
            return Err(crate::error::ApiError::field(
                "customer_id",
                "no such customer",
            ));
        }
        other => other?,
    };
    ctx.audit(
        &mut tx,
        "subscription.created",
        subscription.id,
        &subscription,
    )
    .await?;
    let history = tx
        .subscription_history(ctx.tenant(), subscription.id)
        .await?;
    ctx.commit(
        tx,
        StatusCode::CREATED,
        &SubscriptionOut {
            subscription,
            history,
        },
    )
    .await
}

/// List subscriptions, oldest first.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions", params(SubscriptionQuery),
    responses((status = 200, body = ListOf<Subscription>)))]
pub async fn list(
    ctx: Ctx<Read>,
    Q(query): Q<SubscriptionQuery>,
) -> ApiResult<Json<ListOf<Subscription>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let filter = SubscriptionFilter {
        customer_id: query.customer_id,
        status: query.status,
        product_kind: query.product_kind,
        vendor_subscription_id: query.vendor_subscription_id,
    };
    Ok(Json(
        ctx.read()
            .await?
            .list_subscriptions(ctx.tenant(), &filter, &page)
            .await?
            .into(),
    ))
}

/// One subscription with its status history.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions",
    params(("id" = String, Path, description = "`sub_…`")),
    responses((status = 200, body = SubscriptionOut), (status = 404, body = crate::error::Problem)))]
pub async fn get(ctx: Ctx<Read>, Id(id): Id<SubscriptionId>) -> ApiResult<Json<SubscriptionOut>> {
    let mut tx = ctx.read().await?;
    let subscription = tx.subscription(ctx.tenant(), id).await?;
    let history = tx.subscription_history(ctx.tenant(), id).await?;
    Ok(Json(SubscriptionOut {
        subscription,
        history,
    }))
}

/// Change quantity or offer.
#[utoipa::path(patch, path = "/v1/subscriptions/{id}", tag = "subscriptions", request_body = SubscriptionPatchIn,
    params(("id" = String, Path, description = "`sub_…`")),
    responses((status = 200, body = Subscription), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    ctx: Ctx<WriteFacts>,
    Id(id): Id<SubscriptionId>,
    JsonBody(input): JsonBody<SubscriptionPatchIn>,
) -> ApiResult<Response> {
    let mut c = Checks::default();
    if let Some(quantity) = input.quantity {
        check_quantity(&mut c, quantity);
    }
    let offer_id = input
        .offer_id
        .as_deref()
        .and_then(|o| c.take(validate::text("offer_id", o, 128)));
    c.finish()?;
    let mut tx = ctx.begin().await?;
    let (before, after) = tx
        .update_subscription(ctx.tenant(), id, input.quantity, offer_id.map(Some))
        .await?;
    ctx.audit(
        &mut tx,
        "subscription.updated",
        id,
        serde_json::json!({ "before": before, "after": after }),
    )
    .await?;
    ctx.commit(tx, StatusCode::OK, &after).await
}

async fn change_status(
    ctx: Ctx<Operate>,
    id: SubscriptionId,
    status: SubscriptionStatus,
    input: StatusChangeIn,
) -> ApiResult<Response> {
    let reason = validate::text("reason", &input.reason, 500)
        .map_err(|e| crate::error::ApiError::Invalid(vec![e]))?;
    let mut tx = ctx.begin().await?;
    let (before, after) = tx
        .change_subscription_status(
            ctx.tenant(),
            id,
            status,
            Some(reason.clone()),
            &ctx.actor().label(),
            ctx.now(),
        )
        .await?;
    let event = match status {
        SubscriptionStatus::Active => EventType::SubscriptionReactivated,
        SubscriptionStatus::Suspended => EventType::SubscriptionSuspended,
        SubscriptionStatus::Terminated => EventType::SubscriptionTerminated,
    };
    ctx.audit(
        &mut tx,
        event.as_str(),
        id,
        serde_json::json!({ "from": before.status, "to": after.status, "reason": reason }),
    )
    .await?;
    let data =
        serde_json::json!({ "subscription": after, "from": before.status, "reason": reason });
    crate::webhooks::publish(&mut tx, ctx.tenant(), event, data, ctx.now()).await?;
    let history = tx.subscription_history(ctx.tenant(), id).await?;
    ctx.commit(
        tx,
        StatusCode::OK,
        &SubscriptionOut {
            subscription: after,
            history,
        },
    )
    .await
}

/// Suspend: the customer keeps its data but loses service.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/suspend", tag = "subscriptions", request_body = StatusChangeIn,
    params(("id" = String, Path, description = "`sub_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = SubscriptionOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn suspend(
    ctx: Ctx<Operate>,
    Id(id): Id<SubscriptionId>,
    JsonBody(input): JsonBody<StatusChangeIn>,
) -> ApiResult<Response> {
    change_status(ctx, id, SubscriptionStatus::Suspended, input).await
}

/// Reactivate a suspended subscription.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/reactivate", tag = "subscriptions", request_body = StatusChangeIn,
    params(("id" = String, Path, description = "`sub_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = SubscriptionOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn reactivate(
    ctx: Ctx<Operate>,
    Id(id): Id<SubscriptionId>,
    JsonBody(input): JsonBody<StatusChangeIn>,
) -> ApiResult<Response> {
    change_status(ctx, id, SubscriptionStatus::Active, input).await
}

/// Terminate for good.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/terminate", tag = "subscriptions", request_body = StatusChangeIn,
    params(("id" = String, Path, description = "`sub_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = SubscriptionOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn terminate(
    ctx: Ctx<Operate>,
    Id(id): Id<SubscriptionId>,
    JsonBody(input): JsonBody<StatusChangeIn>,
) -> ApiResult<Response> {
    change_status(ctx, id, SubscriptionStatus::Terminated, input).await
}
