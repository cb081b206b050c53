//! The overview: open cases by deadline (assigned and resolved there, see `cases`), today's alerts, decisions by verdict per week, spend
//! against budgets and receivables by aging bucket.

use std::collections::BTreeMap;

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderMap, header},
    response::Response,
};
use chrono::{Datelike, Duration};
use serde_json::{Value, json};

use super::{Fail, Session, charts, data, query, render};
use crate::{
    AppState,
    api::{alerts, budgets, cases, collections, customers},
    ctx::{Ctx, Read},
    error::ApiError,
};

/// Weeks of decisions in the verdict chart.
const WEEKS: i64 = 13;
/// Budgets drawn in the spend chart: the most used first.
const TOP_BUDGETS: usize = 10;
/// Decisions read per round trip while counting.
const BATCH: u32 = 1000;

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, Fail> {
    let read = || Ctx::<Read>::for_caller(&state, session.caller);
    let tenant = session.caller.tenant;
    let now = state.now();

    let Json(open_cases) = cases::list(read()?, query(json!({ "limit": 500 }))?).await?;
    let mut open_cases: Vec<Value> = data(open_cases)?["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !matches!(c["state"].as_str(), Some("resolved")))
        .collect();
    open_cases.sort_by_key(|c| c["deadline_at"].as_str().unwrap_or("9999").to_owned());

    let Json(alert_list) =
        alerts::list(read()?, query(json!({ "status": "open", "limit": 500 }))?).await?;
    let today = now.date_naive().to_string();
    let alerts_today: Vec<Value> = data(alert_list)?["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| {
            a["created_at"]
                .as_str()
                .is_some_and(|t| t.starts_with(&today))
        })
        .collect();

    // Decisions by verdict per ISO week, through the backtests' streaming read.
    let start = now - Duration::weeks(WEEKS);
    let mut tx = read()?.read().await?;
    let mut counts: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut after = None;
    loop {
        let rows = tx
            .decisions_between(tenant, start, now, after, BATCH)
            .await?;
        for row in &rows {
            let week = row.created_at.iso_week();
            let label = format!("{}-W{:02}", week.year(), week.week());
            *counts
                .entry(row.verdict.clone())
                .or_default()
                .entry(label)
                .or_default() += 1.0;
        }
        match rows.last() {
            Some(last) if rows.len() == BATCH as usize => after = Some(last.id),
            _ => break,
        }
    }
    drop(tx);
    let weeks: Vec<String> = (0..=WEEKS)
        .map(|w| {
            let week = (start + Duration::weeks(w)).iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        })
        .collect();
    let series: Vec<(String, Vec<f64>)> = counts
        .iter()
        .map(|(verdict, by_week)| {
            (
                verdict.clone(),
                weeks
                    .iter()
                    .map(|w| by_week.get(w).copied().unwrap_or(0.0))
                    .collect(),
            )
        })
        .collect();
    let verdict_rows: Vec<Value> = weeks
        .iter()
        .enumerate()
        .map(|(i, week)| {
            let cells: Vec<f64> = series.iter().map(|s| s.1[i]).collect();
            json!({ "week": week, "counts": cells })
        })
        .collect();

    let Json(budget_list) = budgets::list(read()?, query(json!({ "limit": 500 }))?).await?;
    let mut spend = Vec::new();
    for budget in &budget_list.data {
        let Json(detail) = budgets::get(read()?, budgets_id(budget.id)).await?;
        let detail = data(detail)?;
        let limit = number(&detail["amount"]["amount"]);
        let spent = number(&detail["current"]["spent"]["amount"]);
        spend.push((
            if limit > 0.0 { spent / limit } else { 0.0 },
            json!({
                "customer_id": detail["customer_id"],
                "spent": format!("{spent:.2}"),
                "amount": format!("{limit:.2}"),
                "currency": detail["amount"]["currency"],
                "percent": (if limit > 0.0 { spent / limit * 100.0 } else { 0.0 }).round(),
            }),
        ));
    }
    spend.sort_by(|a, b| b.0.total_cmp(&a.0));
    spend.truncate(TOP_BUDGETS);
    for (_, row) in &mut spend {
        let Some(id) = row["customer_id"].as_str().and_then(|c| c.parse().ok()) else {
            continue;
        };
        let Json(customer) = customers::get(read()?, crate::api::Id(id)).await?;
        row["name"] = json!(customer.legal_name);
    }
    let spend_chart = charts::bars(
        &spend
            .iter()
            .map(|(_, b)| {
                (
                    b["customer_id"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(16)
                        .collect(),
                    b["percent"].as_f64().unwrap_or(0.0),
                )
            })
            .collect::<Vec<_>>(),
    );

    let aging = aging(
        &state,
        &session,
        json!({ "format": "json", "totals_only": true }),
    )
    .await?;
    let buckets = [
        ("current", "Current"),
        ("days_1_30", "1–30 days"),
        ("days_31_60", "31–60 days"),
        ("days_61_90", "61–90 days"),
        ("days_over_90", "Over 90 days"),
    ];
    let mut aging_rows = Vec::new();
    for total in aging["totals"].as_array().cloned().unwrap_or_default() {
        let currency = total["currency"].as_str().unwrap_or("").to_owned();
        let bars: Vec<(String, f64)> = buckets
            .iter()
            .map(|(key, label)| ((*label).to_owned(), number(&total["buckets"][key])))
            .collect();
        aging_rows.push(json!({
            "currency": currency,
            "chart": charts::bars(&bars),
            "buckets": bars.iter().map(|(l, v)| json!({"label": l, "amount": format!("{v:.2}")})).collect::<Vec<_>>(),
        }));
    }

    render(
        &session,
        "overview.html",
        json!({
            "cases": open_cases,
            "alerts_today": alerts_today,
            "verdicts": series.iter().map(|s| &s.0).collect::<Vec<_>>(),
            "verdict_chart": charts::stacked_columns(&weeks, &series),
            "verdict_rows": verdict_rows,
            "spend": spend.iter().map(|(_, b)| b).collect::<Vec<_>>(),
            "spend_chart": spend_chart,
            "aging": aging_rows,
        }),
    )
}

fn budgets_id(id: tollgate_core::BudgetId) -> crate::api::Id<tollgate_core::BudgetId> {
    crate::api::Id(id)
}

/// `GET /v1/receivables/aging` as JSON, with `params` as its query.
pub async fn aging(state: &AppState, session: &Session, params: Value) -> Result<Value, Fail> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        header::HeaderValue::from_static("application/json"),
    );
    let response = collections::receivables_aging(
        Ctx::<Read>::for_caller(state, session.caller)?,
        headers,
        query(params)?,
    )
    .await?;
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| Fail::Api(ApiError::Internal(e.to_string())))
}

pub fn number(value: &Value) -> f64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0.0),
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}
