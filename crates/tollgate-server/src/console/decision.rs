//! One decision, explained: its verdict and reasons, the terms it granted, what each shadow
//! policy would have done, and every feature value and fact it saw.

use axum::{
    Extension, Json,
    extract::{Path, State},
    response::Response,
};
use serde_json::{Value, json};
use tollgate_core::{
    DecisionId,
    signals::{COUNT_CAP, is_capped_count},
};

use super::{Fail, Session, customer::parse_id, data, render};
use crate::{
    AppState,
    api::{Id, decisions},
    ctx::{Ctx, Read},
};

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, Fail> {
    let id: DecisionId = parse_id(&id)?;
    let Json(detail) =
        decisions::get(Ctx::<Read>::for_caller(&state, session.caller)?, Id(id)).await?;
    let mut features = Vec::new();
    flatten("", &detail.features, &mut features);
    let facts = serde_json::to_string_pretty(&detail.facts).unwrap_or_default();
    render(
        &session,
        "decision.html",
        json!({ "decision": data(detail)?, "features": features, "facts": facts }),
    )
}

/// `{"links": {"card_customers": 3}}` as the rows `links.card_customers = 3`, in the order the
/// rules name them; a list stays one value.
fn flatten(path: &str, value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                flatten(&path, field, out);
            }
        }
        other => out.push(json!({ "name": path, "value": shown(path, other) })),
    }
}

/// A value as an analyst should read it: a count the store stopped at says so, since the
/// real number may be any larger one.
fn shown(path: &str, value: &Value) -> String {
    let capped = path
        .split_once('.')
        .is_some_and(|(section, field)| is_capped_count(section, field));
    match value.as_u64() {
        Some(n) if capped && n >= u64::from(COUNT_CAP) => format!("{COUNT_CAP} or more"),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_read_as_the_rules_name_them() {
        let mut out = Vec::new();
        flatten(
            "",
            &json!({"links": {"card_customers": 3, "ip24_customers": COUNT_CAP,
                              "linked_customer_ids": ["cus_1"]},
                    "velocity": {"signups_email_domain_24h": COUNT_CAP,
                                 "signups_ip_24h": COUNT_CAP - 1,
                                 "order_value_customer_24h": 1000.0},
                    "email": {"disposable": false}}),
            &mut out,
        );
        let rows: Vec<(&str, &str)> = out
            .iter()
            .map(|r| (r["name"].as_str().unwrap(), r["value"].as_str().unwrap()))
            .collect();
        assert!(rows.contains(&("links.card_customers", "3")));
        assert!(rows.contains(&("links.linked_customer_ids", "[\"cus_1\"]")));
        assert!(rows.contains(&("email.disposable", "false")));
        let value = |name: &str| rows.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(
            value("links.ip24_customers").unwrap(),
            format!("{COUNT_CAP} or more")
        );
        let cap = COUNT_CAP;
        assert_eq!(
            value("velocity.signups_email_domain_24h").unwrap(),
            format!("{cap} or more")
        );
        assert_eq!(
            value("velocity.signups_ip_24h").unwrap(),
            (cap - 1).to_string()
        );
        assert!(
            rows.contains(&("velocity.order_value_customer_24h", "1000.0")),
            "an amount is not a count"
        );
    }
}
