//! The customer page (the 360 view) and the changes an analyst makes from it, each through the
//! API handler that makes it over HTTP.

use std::collections::BTreeMap;

use axum::{
    Extension, Form, Json,
    extract::{Path, State},
    response::Response,
};
use chrono::Duration;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};
use tollgate_core::{CustomerId, SubscriptionId};

use super::{Fail, Session, changed, charts, data, overview::number, query, render, see_other};
use crate::{
    AppState,
    api::{
        Id, alerts, audit, budgets, collections, customers, decisions, dunning, lists, orders,
        payment_methods, subscriptions,
    },
    ctx::{Ctx, Operate, Read},
    error::ApiError,
    json::JsonBody,
};

/// Days of spend in a subscription's sparkline.
const SPARK_DAYS: i64 = 30;

pub fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, Fail> {
    text.parse().map_err(|_| Fail::Api(ApiError::NotFound))
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, Fail> {
    let id: CustomerId = parse_id(&id)?;
    let read = || Ctx::<Read>::for_caller(&state, session.caller);
    let Json(customer) = customers::get(read()?, Id(id)).await?;
    let by_customer = json!({ "customer_id": id, "limit": 200 });

    let Json(decisions) = decisions::list(read()?, query(by_customer.clone())?).await?;
    let mut linked: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for decision in &decisions.data {
        let Json(detail) = decisions::get(read()?, Id(decision.decision.id)).await?;
        let relation = match detail.decision.kind.as_str() {
            "payment_method" | "order" => "same payment method",
            _ => "same device, network or contact",
        };
        let ids = detail.features["links"]["linked_customer_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for other in ids.iter().filter_map(Value::as_str) {
            let relations = linked.entry(other.to_owned()).or_default();
            if !relations.contains(&relation) {
                relations.push(relation);
            }
        }
    }
    let mut neighbours = Vec::new();
    for (other, relations) in &linked {
        let Ok(other_id) = other.parse::<CustomerId>() else {
            continue;
        };
        let name = match customers::get(read()?, Id(other_id)).await {
            Ok(Json(c)) => c.legal_name,
            Err(ApiError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        neighbours.push(charts::Neighbour {
            id: other.clone(),
            name,
            relation: relations.join(", "),
        });
    }
    let graph = charts::link_graph(&customer.legal_name, &neighbours);

    let Json(account) = collections::account(read()?, Id(id)).await?;
    let Json(budget_list) = budgets::list(read()?, query(by_customer.clone())?).await?;
    let mut currencies: Vec<String> = account
        .currencies
        .iter()
        .map(|c| c.currency.to_string())
        .collect();
    let mut gauges = Vec::new();
    for budget in &budget_list.data {
        let Json(detail) = budgets::get(read()?, Id(budget.id)).await?;
        let detail = data(detail)?;
        let limit = number(&detail["amount"]["amount"]);
        let spent = number(&detail["current"]["spent"]["amount"]);
        let currency = text(&detail["amount"]["currency"]);
        if !currencies.contains(&currency) {
            currencies.push(currency.clone());
        }
        gauges.push(json!({
            "svg": charts::gauge(spent, limit),
            "text": format!(
                "{} budget: {spent:.2} of {limit:.2} {currency} spent ({:.0} %)",
                detail["period"]["kind"].as_str().unwrap_or(""),
                if limit > 0.0 { spent / limit * 100.0 } else { 0.0 },
            ),
        }));
    }

    let Json(subscription_list) = subscriptions::list(read()?, query(by_customer.clone())?).await?;
    let now = state.now();
    let from = (now - Duration::days(SPARK_DAYS - 1)).date_naive();
    let days: Vec<String> = (0..SPARK_DAYS)
        .map(|d| (from + Duration::days(d)).to_string())
        .collect();
    let mut tx = read()?.read().await?;
    let mut subscription_rows = Vec::new();
    let mut audit_objects = vec![id.to_string()];
    for subscription in &subscription_list.data {
        let mut series = Vec::new();
        let mut currency = String::new();
        for c in &currencies {
            let spend = tx
                .daily_spend(
                    session.caller.tenant,
                    &subscription.id.to_string(),
                    c,
                    &days[0],
                    &days[days.len() - 1],
                )
                .await?;
            if !spend.is_empty() {
                series = spend;
                currency = c.clone();
                break;
            }
        }
        let by_day: BTreeMap<String, i64> = series.into_iter().collect();
        let values: Vec<i64> = days
            .iter()
            .map(|d| by_day.get(d).copied().unwrap_or(0))
            .collect();
        let total: i64 = values.iter().sum();
        subscription_rows.push(json!({
            "subscription": data(subscription)?,
            "sparkline": charts::sparkline(&values),
            "spend_total": format!("{}.{:02}", total / 100, total % 100),
            "currency": currency,
        }));
        audit_objects.push(subscription.id.to_string());
    }
    drop(tx);

    let Json(methods) = payment_methods::list(read()?, query(by_customer.clone())?).await?;
    let Json(order_list) = orders::list(read()?, query(by_customer.clone())?).await?;
    let Json(alert_list) = alerts::list(read()?, query(by_customer.clone())?).await?;
    let Json(invoices) = collections::list_invoices(read()?, query(by_customer)?).await?;
    let Json(dunning_state) = dunning::customer(read()?, Id(id)).await?;
    let mut trail = Vec::new();
    for object in &audit_objects {
        let Json(events) = audit::list(
            read()?,
            query(json!({ "object_id": object, "limit": 200 }))?,
        )
        .await?;
        trail.extend(
            data(events)?["data"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    trail.sort_by_key(|e| std::cmp::Reverse(e["seq"].as_i64().unwrap_or(0)));

    let links_table: Vec<Value> = neighbours
        .iter()
        .map(|n| json!({"id": n.id, "name": n.name, "relation": n.relation}))
        .collect();
    render(
        &session,
        "customer.html",
        json!({
            "customer": data(customer)?,
            "decisions": data(decisions)?["data"],
            "links": links_table,
            "graph": graph,
            "subscriptions": subscription_rows,
            "gauges": gauges,
            "payment_methods": data(methods)?["data"],
            "orders": data(order_list)?["data"],
            "alerts": data(alert_list)?["data"],
            "invoices": data(invoices)?["data"],
            "account": data(account)?,
            "dunning": data(dunning_state)?,
            "audit": trail,
            "list_kinds": ["email", "domain", "phone", "device", "ip", "card", "bank_account"],
        }),
    )
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    reason: String,
}

/// Suspend, reactivate or terminate a subscription, as `POST /v1/subscriptions/{id}/{action}`.
pub async fn change_subscription(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    let id: SubscriptionId = parse_id(&id)?;
    let customer = subscriptions::get(Ctx::<Read>::for_caller(&state, session.caller)?, Id(id))
        .await?
        .0
        .subscription
        .customer_id;
    let input = json_input(json!({ "reason": form.reason }))?;
    let answer = match action.as_str() {
        "suspend" => subscriptions::suspend(ctx, Id(id), input).await,
        "reactivate" => subscriptions::reactivate(ctx, Id(id), input).await,
        "terminate" => subscriptions::terminate(ctx, Id(id), input).await,
        _ => return Err(Fail::Api(ApiError::NotFound)),
    };
    changed(answer)?;
    Ok(see_other(&format!(
        "/console/customers/{customer}#subscriptions"
    )))
}

#[derive(Deserialize)]
pub struct ListForm {
    csrf: String,
    kind: String,
    action: String,
    value: String,
    note: Option<String>,
}

/// Add one of the customer's identifiers to the block or allow list (`POST /v1/lists/items`).
pub async fn add_to_list(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<ListForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    let id: CustomerId = parse_id(&id)?;
    // The customer must be the caller's: another tenant's id is not found here either.
    let _customer =
        customers::get(Ctx::<Read>::for_caller(&state, session.caller)?, Id(id)).await?;
    let note = form
        .note
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("from the console, customer {id}"));
    let input = json_input(json!({
        "kind": form.kind, "action": form.action, "value": form.value, "note": note
    }))?;
    changed(lists::create(ctx, input).await)?;
    Ok(see_other(&format!("/console/customers/{id}#identity")))
}

/// A form's fields as the API's JSON body, refused with the field's name like the API would.
pub fn json_input<T: DeserializeOwned>(value: Value) -> Result<JsonBody<T>, Fail> {
    serde_path_to_error::deserialize(value)
        .map(JsonBody)
        .map_err(|e| Fail::Api(ApiError::field(e.path().to_string(), e.inner())))
}
