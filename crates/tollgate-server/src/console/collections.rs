//! Collections: receivables by aging bucket per customer, the published dunning ladder, and
//! who is at which step of it.

use std::collections::BTreeMap;

use axum::{Extension, Json, extract::State, response::Response};
use serde_json::{Value, json};

use super::{Fail, Session, data, overview, query, render};
use crate::{
    AppState,
    api::dunning,
    ctx::{Ctx, Read},
};

/// Customer rows the page shows, most past due first.
const AGING_ROWS: u32 = 50;

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, Fail> {
    let read = || Ctx::<Read>::for_caller(&state, session.caller);
    // The customers a collections desk works first; the full book is the CSV export.
    let aging = overview::aging(
        &state,
        &session,
        json!({ "format": "json", "most_past_due": AGING_ROWS }),
    )
    .await?;
    let Json(policy) = dunning::active_policy(read()?).await?;
    let policy = data(policy)?;
    let Json(episodes) =
        dunning::episodes(read()?, query(json!({ "status": "open", "limit": 500 }))?).await?;
    let episodes = data(episodes)?["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Who is at which step: the ladder's rows with the open episodes standing on each.
    let mut at_step: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for episode in &episodes {
        at_step
            .entry(episode["step"].as_i64().unwrap_or(-1))
            .or_default()
            .push(episode.clone());
    }
    let ladder: Vec<Value> = policy["policy"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, step)| {
            // Episodes count their steps from 1.
            let number = i as i64 + 1;
            let customers = at_step.remove(&number).unwrap_or_default();
            json!({ "number": number, "step": step, "episodes": customers })
        })
        .collect();
    let not_started: Vec<Value> = at_step.into_values().flatten().collect();
    render(
        &session,
        "collections.html",
        json!({
            "aging": aging,
            "policy": policy,
            "ladder": ladder,
            "not_started": not_started,
            "open_episodes": episodes.len(),
        }),
    )
}
