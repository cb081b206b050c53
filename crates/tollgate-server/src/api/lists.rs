//! `/v1/lists/items`: block and allow lists the rules see as `lists.blocked` / `lists.allowed`.

use std::collections::{HashMap, hash_map::Entry};

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_core::{
    ListItemId,
    validate::{self, FieldError},
};
use tollgate_store::{ListItem, ListItemFilter, Tx};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Ctx, Operate, Read},
    error::{ApiError, ApiResult},
    json::{Batch, JsonBody},
};

tollgate_core::str_enum!(
    /// What a list item matches.
    ListKind {
        Email = "email",
        Domain = "domain",
        /// The PSP's card fingerprint.
        Card = "card",
        /// The PSP's bank-account fingerprint.
        BankAccount = "bank_account",
        Bin = "bin",
        /// An address or a CIDR range.
        Ip = "ip",
        Device = "device",
        Phone = "phone",
        Country = "country",
    }
);

tollgate_core::str_enum!(
    ListAction {
        Block = "block",
        Allow = "allow",
    }
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListItemIn {
    pub kind: ListKind,
    pub action: ListAction,
    pub value: String,
    pub note: Option<String>,
    /// The item stops matching at this instant.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListItemOut {
    pub id: String,
    pub kind: String,
    pub action: String,
    pub value: String,
    pub note: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<ListItem> for ListItemOut {
    fn from(i: ListItem) -> Self {
        Self {
            id: i.id,
            kind: i.kind,
            action: i.action,
            value: i.value,
            note: i.note,
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub kind: Option<ListKind>,
    pub action: Option<ListAction>,
    pub value: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// The canonical form the matcher compares, or why the value cannot be one of `kind`.
fn canonical(kind: ListKind, value: &str) -> Result<String, validate::FieldError> {
    let value = value.trim();
    let bad = |what: &str| validate::FieldError::new("value", format_args!("must be {what}"));
    match kind {
        ListKind::Email => validate::email("value", value).map(|v| v.to_ascii_lowercase()),
        ListKind::Domain => validate::domain_name("value", value),
        ListKind::Card | ListKind::BankAccount | ListKind::Device => {
            validate::text("value", value, 200)
        }
        ListKind::Bin => (matches!(value.len(), 6..=8)
            && value.bytes().all(|b| b.is_ascii_digit()))
        .then(|| value.to_owned())
        .ok_or_else(|| bad("6 to 8 digits")),
        ListKind::Ip => value
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_string())
            .or_else(|_| {
                value
                    .parse::<ipnet::IpNet>()
                    .map(|net| net.trunc().to_string())
            })
            .map_err(|_| bad("an IP address or CIDR range")),
        ListKind::Phone => validate::phone_e164("value", value),
        ListKind::Country => value
            .parse::<validate::CountryCode>()
            .map(|c| c.to_string())
            .map_err(|e| validate::FieldError::new("value", e)),
    }
}

/// The item `input` adds at `now`, or every fault of it, each field named after `prefix`.
fn new_item(
    input: ListItemIn,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<ListItem, Vec<FieldError>> {
    let named = |mut error: FieldError| {
        error.field = format!("{prefix}{}", error.field);
        error
    };
    let mut errors = Vec::new();
    let value = canonical(input.kind, &input.value)
        .map_err(|e| errors.push(named(e)))
        .ok();
    let note = match input
        .note
        .as_deref()
        .map(|n| validate::text("note", n, 500))
    {
        Some(Err(e)) => {
            errors.push(named(e));
            None
        }
        other => other.and_then(Result::ok),
    };
    if input.expires_at.is_some_and(|t| t <= now) {
        errors.push(named(FieldError::new(
            "expires_at",
            "must be in the future",
        )));
    }
    match value {
        Some(value) if errors.is_empty() => Ok(ListItem {
            id: ListItemId::generate().to_string(),
            kind: input.kind.as_str().to_owned(),
            action: input.action.as_str().to_owned(),
            value,
            note,
            expires_at: input.expires_at,
            created_at: now,
        }),
        _ => Err(errors),
    }
}

/// Adds `items` and puts each on the audit chain, as `list_item.added` whichever route it came by.
async fn add<P>(ctx: &Ctx<P>, tx: &mut Tx, items: Vec<ListItem>) -> ApiResult<Vec<ListItemOut>> {
    tx.insert_list_items(ctx.tenant(), &items).await?;
    let mut added = Vec::with_capacity(items.len());
    for item in items {
        let out = ListItemOut::from(item);
        ctx.audit(tx, "list_item.added", &out.id, &out).await?;
        added.push(out);
    }
    Ok(added)
}

/// Add an item to a block or allow list.
#[utoipa::path(post, path = "/v1/lists/items", tag = "rules", request_body = ListItemIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = ListItemOut), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    ctx: Ctx<Operate>,
    JsonBody(input): JsonBody<ListItemIn>,
) -> ApiResult<Response> {
    let item = new_item(input, "", ctx.now()).map_err(ApiError::Invalid)?;
    let mut tx = ctx.begin().await?;
    let out = add(&ctx, &mut tx, vec![item]).await?.remove(0);
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// Items added by one batch, in the batch's order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListItemsAdded {
    pub added: usize,
    pub data: Vec<ListItemOut>,
}

/// Add many items at once, all or none: a block list exported from another system, as a JSON
/// array or one item per line (NDJSON). Faults name `[i].field`; an item that repeats an earlier
/// one of the batch is refused rather than added twice.
#[utoipa::path(post, path = "/v1/lists/items/batch", tag = "rules",
    request_body(content(
        (Vec<ListItemIn> = "application/json"),
        (ListItemIn = "application/x-ndjson"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 201, body = ListItemsAdded), (status = 422, body = crate::error::Problem)))]
pub async fn create_batch(
    ctx: Ctx<Operate>,
    Batch(inputs): Batch<ListItemIn>,
) -> ApiResult<Response> {
    validate::batch_size(inputs.len(), validate::MAX_BATCH, "items", "items")
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    let now = ctx.now();
    let mut items = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    let mut first_of = HashMap::new();
    for (i, input) in inputs.into_iter().enumerate() {
        match new_item(input, &format!("[{i}]."), now) {
            Ok(item) => {
                let key = (item.kind.clone(), item.action.clone(), item.value.clone());
                match first_of.entry(key) {
                    Entry::Occupied(first) => errors.push(FieldError::new(
                        format!("[{i}].value"),
                        format_args!("repeats item [{}] of this batch", first.get()),
                    )),
                    Entry::Vacant(slot) => {
                        slot.insert(i);
                        items.push(item);
                    }
                }
            }
            Err(faults) => errors.extend(faults),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let mut tx = ctx.begin().await?;
    let data = add(&ctx, &mut tx, items).await?;
    let out = ListItemsAdded {
        added: data.len(),
        data,
    };
    ctx.commit(tx, StatusCode::CREATED, &out).await
}

/// Items in force (not removed, not expired), oldest first.
#[utoipa::path(get, path = "/v1/lists/items", tag = "rules", params(ListQuery), responses((status = 200, body = ListOf<ListItemOut>)))]
pub async fn list(ctx: Ctx<Read>, Q(query): Q<ListQuery>) -> ApiResult<Json<ListOf<ListItemOut>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let filter = ListItemFilter {
        kind: query.kind.map(|k| k.as_str().to_owned()),
        action: query.action.map(|a| a.as_str().to_owned()),
        value: query.value,
    };
    let items = ctx
        .read()
        .await?
        .list_items(ctx.tenant(), &filter, &page, ctx.now())
        .await?;
    Ok(Json(ListOf {
        data: items.data.into_iter().map(ListItemOut::from).collect(),
        next_cursor: items.next_cursor,
    }))
}

/// Take an item off its list.
#[utoipa::path(post, path = "/v1/lists/items/{id}/remove", tag = "rules",
    params(("id" = String, Path, description = "`lst_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = ListItemOut), (status = 404, body = crate::error::Problem)))]
pub async fn remove(ctx: Ctx<Operate>, Id(id): Id<ListItemId>) -> ApiResult<Response> {
    let mut tx = ctx.begin().await?;
    let item = ListItemOut::from(
        tx.remove_list_item(ctx.tenant(), &id.to_string(), ctx.now())
            .await?,
    );
    ctx.audit(&mut tx, "list_item.removed", &item.id, &item)
        .await?;
    ctx.commit(tx, StatusCode::OK, &item).await
}
