//! A case in the console: what it gathered and its timeline, as `GET /v1/cases/{id}` answers,
//! and the forms that work it: assign, comment, resolve with an outcome. Each form calls the API
//! handler for that change (`POST /v1/cases/{id}/assign`, `…/comment`, `…/resolve`), so it is
//! checked, audited and told to the vendor exactly as over the API.

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
    data, render, see_other,
};
use crate::{
    AppState,
    api::{Id, cases},
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
    render(&session, "case.html", json!({ "case": data(case)? }))
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
}

/// `assign`, `comment` or `resolve`, as `POST /v1/cases/{id}/{action}`.
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
        "resolve" => {
            let note = Some(form.note.trim()).filter(|n| !n.is_empty());
            let input = json_input(json!({ "outcome": form.outcome, "note": note }))?;
            cases::resolve(ctx, Id(id), input).await
        }
        _ => return Err(Fail::Api(ApiError::NotFound)),
    };
    changed(answer)?;
    Ok(see_other(&format!("/console/cases/{id}")))
}
