//! Rules: the policy versions (active, shadow, inactive), an editor that validates a document
//! and backtests it over recent decisions, and activation only after a backtest was shown.

use axum::{
    Extension, Form, Json,
    extract::{Path, Query, State},
    response::Response,
};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Fail, Session, changed, customer::json_input, data, render, see_other};
use crate::{
    AppState,
    api::rules,
    ctx::{Ctx, Operate, Read},
    error::ApiError,
};

/// Days of decisions a backtest replays unless the form says otherwise.
const BACKTEST_DAYS: i64 = 30;

#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    /// The version loaded into the editor; the active one by default.
    version: Option<i64>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(shown): Query<Shown>,
) -> Result<Response, Fail> {
    let versions = versions(&state, &session).await?;
    let version = shown.version.or_else(|| {
        versions
            .iter()
            .find(|v| v["status"] == "active")
            .and_then(|v| v["version"].as_i64())
    });
    let document = match version {
        Some(v) => policy_text(&state, &session, v).await?,
        None => String::new(),
    };
    show(&session, versions, document, version, None, None)
}

async fn versions(state: &AppState, session: &Session) -> Result<Vec<Value>, Fail> {
    let Json(list) = rules::list(Ctx::<Read>::for_caller(state, session.caller)?).await?;
    Ok(data(list)?.as_array().cloned().unwrap_or_default())
}

async fn policy_text(state: &AppState, session: &Session, version: i64) -> Result<String, Fail> {
    let Json(detail) = rules::get(
        Ctx::<Read>::for_caller(state, session.caller)?,
        Path(version.to_string()),
    )
    .await?;
    serde_json::to_string_pretty(&detail.policy)
        .map_err(|e| ApiError::Internal(e.to_string()).into())
}

fn show(
    session: &Session,
    versions: Vec<Value>,
    document: String,
    version: Option<i64>,
    backtest: Option<Value>,
    problem: Option<String>,
) -> Result<Response, Fail> {
    let status = if problem.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let mut page = render(
        session,
        "rules.html",
        json!({
            "versions": versions,
            "document": document,
            "version": version,
            "backtest_text": backtest.as_ref().and_then(|b| serde_json::to_string_pretty(b).ok()),
            "backtest": backtest,
            "problem": problem,
            "days": BACKTEST_DAYS,
        }),
    )?;
    *page.status_mut() = status;
    Ok(page)
}

#[derive(Deserialize)]
pub struct RulesForm {
    csrf: String,
    /// `backtest`, `publish` (as a shadow), `activate` (shows a backtest first) or `confirm`.
    intent: String,
    #[serde(default)]
    policy: String,
    version: Option<i64>,
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<RulesForm>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let operate = || Ctx::<Operate>::for_caller(&state, session.caller);
    operate()?;
    let now = state.now();
    match form.intent.as_str() {
        "backtest" | "activate" => {
            let document = match (form.intent.as_str(), form.version) {
                ("activate", Some(version)) => policy_text(&state, &session, version).await?,
                _ => form.policy.clone(),
            };
            let versions = versions(&state, &session).await?;
            let policy = match serde_json::from_str::<Value>(&document) {
                Ok(policy) => policy,
                Err(e) => {
                    let problem = format!("The document is not JSON: {e}");
                    return show(
                        &session,
                        versions,
                        document,
                        form.version,
                        None,
                        Some(problem),
                    );
                }
            };
            let input = json!({
                "policy": policy,
                "from": now - Duration::days(BACKTEST_DAYS),
                "to": now,
            });
            let report = match json_input(input) {
                Ok(input) => rules::backtest(operate()?, input).await,
                Err(Fail::Api(e)) => Err(e),
                Err(other) => return Err(other),
            };
            match report {
                Ok(Json(report)) => {
                    let mut report = data(report)?;
                    if form.intent == "activate" {
                        report["confirm_version"] = json!(form.version);
                    }
                    show(
                        &session,
                        versions,
                        document,
                        form.version,
                        Some(report),
                        None,
                    )
                }
                Err(ApiError::Invalid(errors)) => {
                    let problem = errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    show(
                        &session,
                        versions,
                        document,
                        form.version,
                        None,
                        Some(problem),
                    )
                }
                Err(other) => Err(other.into()),
            }
        }
        "publish" => {
            let policy: Value = serde_json::from_str(&form.policy)
                .map_err(|e| ApiError::field("policy", format_args!("is not JSON: {e}")))?;
            let input = json_input(json!({ "policy": policy, "status": "shadow" }))?;
            changed(rules::create(operate()?, input).await)?;
            Ok(see_other("/console/rules"))
        }
        "confirm" => {
            let version = form
                .version
                .ok_or_else(|| ApiError::field("version", "is required"))?;
            let input = json_input(json!({ "status": "active" }))?;
            changed(rules::set_status(operate()?, Path(version.to_string()), input).await)?;
            Ok(see_other("/console/rules"))
        }
        _ => {
            Err(ApiError::field("intent", "must be backtest, publish, activate or confirm").into())
        }
    }
}
