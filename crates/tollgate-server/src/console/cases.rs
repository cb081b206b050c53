//! A case in the console: what it gathered and its timeline, as `GET /v1/cases/{id}` answers,
//! and the forms that work it: assign, comment, act on one of the customer's subscriptions
//! (suspend, reactivate, cancel or reactivate an Azure entitlement), resolve with an outcome.
//! Each form calls the API handler for that change (`POST /v1/cases/{id}/assign`, `…/comment`,
//! `…/act`, `…/resolve`), so it is checked, audited and told to the vendor exactly as over the
//! API.

use axum::{
    Extension, Form, Json,
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;
use serde_json::json;
use tollgate_core::CaseId;

use super::{
    Fail, Session, changed,
    customer::{json_input, parse_id},
    data, given, query, render, see_other,
};
use crate::{
    AppState,
    api::{Id, cases, subscriptions},
    ctx::{Ctx, Operate, Read},
    error::ApiError,
};

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, Fail> {
    let id: CaseId = parse_id(&id)?;
    let Json(case) = cases::get(Ctx::<Read>::for_caller(&state, session.caller)?, Id(id)).await?;
    // What the act form can choose from: the subscriptions of the case's customer.
    let subscriptions = match case.case.customer_id {
        Some(customer) => {
            let by_customer = query(json!({ "customer_id": customer, "limit": 100 }))?;
            let Json(list) =
                subscriptions::list(Ctx::for_caller(&state, session.caller)?, by_customer).await?;
            data(list.data)?
        }
        None => json!([]),
    };
    render(
        &session,
        "case.html",
        json!({ "case": data(case)?, "subscriptions": subscriptions }),
    )
}

#[derive(Deserialize)]
pub struct CaseForm {
    csrf: String,
    /// For `assign`: who works the case.
    #[serde(default)]
    assignee: String,
    /// For `resolve`: `fraud`, `abuse`, `false_positive` or `paid`.
    #[serde(default)]
    outcome: String,
    /// For `resolve`, optional.
    #[serde(default)]
    note: String,
    /// For `comment`.
    #[serde(default)]
    body: String,
    /// For `act`: `suspend_subscription`, `reactivate_subscription`,
    /// `cancel_azure_entitlement` or `reactivate_azure_entitlement`.
    #[serde(default)]
    action: String,
    /// For `act`: one of the customer's subscriptions.
    #[serde(default)]
    subscription_id: String,
    /// For `act` on an Azure entitlement.
    #[serde(default)]
    entitlement_id: String,
    /// For `act`, optional.
    #[serde(default)]
    reason: String,
}

/// `assign`, `comment`, `act` or `resolve`, as `POST /v1/cases/{id}/{action}`.
pub async fn action(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<CaseForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let ctx = Ctx::<Operate>::for_caller(&state, session.caller)?;
    let id: CaseId = parse_id(&id)?;
    let answer = match action.as_str() {
        "assign" => {
            cases::assign(
                ctx,
                Id(id),
                json_input(json!({ "assignee": form.assignee }))?,
            )
            .await
        }
        "comment" => cases::comment(ctx, Id(id), json_input(json!({ "body": form.body }))?).await,
        "act" => {
            let input = json_input(json!({
                "action": form.action,
                "subscription_id": form.subscription_id,
                "entitlement_id": given(&form.entitlement_id),
                "reason": given(&form.reason),
            }))?;
            cases::act(ctx, Id(id), input).await
        }
        "resolve" => {
            let input = json_input(json!({ "outcome": form.outcome, "note": given(&form.note) }))?;
            cases::resolve(ctx, Id(id), input).await
        }
        _ => return Err(Fail::Api(ApiError::NotFound)),
    };
    changed(answer)?;
    Ok(see_other(&format!("/console/cases/{id}")))
}
