//! The work queues: sign-ups waiting for an analyst, payment methods and orders screening held,
//! and open alerts, with the actions taken on them (approve or decline a customer, suspend or
//! reactivate it, request a verification step, release or decline what was held, acknowledge or
//! resolve an alert), each through the API's handler.

use axum::{
    Extension, Form, Json,
    extract::{Path, Query, State},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_core::{AlertId, CustomerId, OrderId, PaymentMethodId};

use super::{Fail, Session, changed, customer::json_input, data, given, query, render, see_other};
use crate::{
    AppState,
    api::{Id, alerts, customers, decisions, orders, payment_methods, verifications},
    ctx::{Ctx, Operate, Read, WriteFacts},
    error::ApiError,
};

/// Sign-up verdicts that wait for an analyst; held payment methods and orders have their own
/// section.
const VERDICTS: [&str; 2] = ["review", "challenge"];
const ALERT_KINDS: [&str; 4] = [
    "usage_anomaly",
    "budget_threshold",
    "activity",
    "webhook_disabled",
];

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// One of [`VERDICTS`]; empty for all of them.
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    alert_kind: String,
    #[serde(default)]
    alert_status: String,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(filters): Query<Filters>,
) -> Result<Response, Fail> {
    let read = || Ctx::<Read>::for_caller(&state, session.caller);
    let verdicts: Vec<&str> = if filters.verdict.is_empty() {
        VERDICTS.to_vec()
    } else if VERDICTS.contains(&filters.verdict.as_str()) {
        vec![filters.verdict.as_str()]
    } else {
        return Err(ApiError::field("verdict", "is not a verdict waiting for an analyst").into());
    };
    let mut waiting = Vec::new();
    for verdict in verdicts {
        let Json(page) =
            decisions::list(read()?, query(json!({ "verdict": verdict, "limit": 200 }))?).await?;
        waiting.extend(data(page)?["data"].as_array().cloned().unwrap_or_default());
    }
    waiting.sort_by(|a, b| b["decided_at"].as_str().cmp(&a["decided_at"].as_str()));
    // Only customers still waiting: a decision whose customer was since approved or closed is
    // history, not work.
    let mut rows = Vec::new();
    for decision in waiting {
        let Some(customer_id) = decision["customer_id"]
            .as_str()
            .and_then(|c| c.parse::<CustomerId>().ok())
        else {
            continue;
        };
        let Json(customer) = customers::get(read()?, Id(customer_id)).await?;
        if customer.status.as_str() != "review" {
            continue;
        }
        rows.push(json!({ "decision": decision, "customer": data(customer)? }));
    }

    let held = json!({ "status": "held", "limit": 200 });
    let Json(methods) = payment_methods::list(read()?, query(held.clone())?).await?;
    let Json(held_orders) = orders::list(read()?, query(held)?).await?;
    let mut holds = Vec::new();
    for (what, item) in data(methods)?["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| ("payment_methods", m))
        .chain(
            data(held_orders)?["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| ("orders", o)),
        )
    {
        // A hold waiting only for the first payment lifts itself when the payment clears.
        if item["decision"]["hold_codes"] == json!(["awaiting_first_payment"]) {
            continue;
        }
        let Some(customer_id) = item["customer_id"]
            .as_str()
            .and_then(|c| c.parse::<CustomerId>().ok())
        else {
            continue;
        };
        let Json(customer) = customers::get(read()?, Id(customer_id)).await?;
        holds.push(json!({ "what": what, "item": item, "customer": data(customer)? }));
    }
    holds.sort_by(|a, b| {
        b["item"]["created_at"]
            .as_str()
            .cmp(&a["item"]["created_at"].as_str())
    });

    let mut alert_query = json!({ "limit": 200 });
    let status = if filters.alert_status.is_empty() {
        "open"
    } else {
        filters.alert_status.as_str()
    };
    alert_query["status"] = json!(status);
    if !filters.alert_kind.is_empty() {
        alert_query["kind"] = json!(filters.alert_kind);
    }
    let Json(alert_list) = alerts::list(read()?, query_or_field(alert_query)?).await?;
    render(
        &session,
        "queues.html",
        json!({
            "decisions": rows,
            "holds": holds,
            "alerts": data(alert_list)?["data"],
            "filters": {
                "verdict": filters.verdict, "alert_kind": filters.alert_kind,
                "alert_status": status,
            },
            "verdicts": VERDICTS,
            "alert_kinds": ALERT_KINDS,
            "alert_statuses": ["open", "acknowledged", "resolved"],
        }),
    )
}

/// A query built from the page's filters: a bad value names its field like the API does.
fn query_or_field<T: serde::de::DeserializeOwned>(value: Value) -> Result<crate::api::Q<T>, Fail> {
    serde_path_to_error::deserialize(value)
        .map(crate::api::Q)
        .map_err(|e| Fail::Api(ApiError::field(e.path().to_string(), e.inner())))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `acknowledge` or `resolve`, as `POST /v1/alerts/{id}/{action}`.
pub async fn alert_action(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    let id: AlertId = id.parse().map_err(|_| Fail::Api(ApiError::NotFound))?;
    let answer = match action.as_str() {
        "acknowledge" => alerts::acknowledge(ctx, Id(id)).await,
        "resolve" => alerts::resolve(ctx, Id(id)).await,
        _ => return Err(Fail::Api(ApiError::NotFound)),
    };
    changed(answer)?;
    Ok(see_other("/console/queues#alerts"))
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    /// `approve`, `decline`, `suspend` or `reactivate`.
    to: String,
    /// Where to go back to: `queues` or the customer page.
    #[serde(default)]
    back: String,
}

/// A customer's status, as `PATCH /v1/customers/{id}`.
pub async fn customer_status(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    let id: CustomerId = id.parse().map_err(|_| Fail::Api(ApiError::NotFound))?;
    let status = match form.to.as_str() {
        "approve" | "reactivate" => "active",
        "decline" => "closed",
        "suspend" => "suspended",
        _ => {
            return Err(
                ApiError::field("to", "must be approve, decline, suspend or reactivate").into(),
            );
        }
    };
    changed(customers::update(ctx, Id(id), json_input(json!({ "status": status }))?).await)?;
    Ok(see_other(&if form.back == "queues" {
        "/console/queues".to_owned()
    } else {
        format!("/console/customers/{id}")
    }))
}

#[derive(Deserialize)]
pub struct StepForm {
    csrf: String,
    /// `sms`, `bureau` or `phone_call`, as `POST /v1/customers/{id}/verifications` takes it.
    kind: String,
}

/// Asks the customer for a verification step, as `POST /v1/customers/{id}/verifications`.
pub async fn request_step(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<StepForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<WriteFacts>::for_caller(&state, session.caller)?;
    let id: CustomerId = id.parse().map_err(|_| Fail::Api(ApiError::NotFound))?;
    let input = json_input(json!({ "kind": form.kind }))?;
    changed(verifications::create(ctx, Id(id), input).await)?;
    Ok(see_other("/console/queues"))
}

#[derive(Deserialize)]
pub struct ReviewForm {
    csrf: String,
    /// `release` or `decline`.
    outcome: String,
    #[serde(default)]
    note: String,
}

/// Releases or declines a held payment method or order, as `POST /v1/{what}/{id}/review`.
pub async fn review(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path((what, id)): Path<(String, String)>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    let input = json!({ "outcome": form.outcome, "note": given(&form.note) });
    let not_found = |_| Fail::Api(ApiError::NotFound);
    let answer = match what.as_str() {
        "payment_methods" => {
            let id: PaymentMethodId = id.parse().map_err(not_found)?;
            payment_methods::review(ctx, Id(id), json_input(input)?).await
        }
        "orders" => {
            let id: OrderId = id.parse().map_err(not_found)?;
            orders::review(ctx, Id(id), json_input(input)?).await
        }
        _ => return Err(Fail::Api(ApiError::NotFound)),
    };
    changed(answer)?;
    Ok(see_other("/console/queues#held"))
}
