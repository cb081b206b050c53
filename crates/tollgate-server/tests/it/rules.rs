//! Policies as data: publishing, shadow mode, backtests and lists, through the API.

use chrono::Duration;
use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tollgate_core::{Clock, rules::DEFAULT_POLICY_JSON, tenancy::Role, validate::MAX_BATCH};

use crate::{
    decisions::{card, honest_signup},
    harness::{TestApp, send},
    on_both_engines,
};

fn default_policy() -> Value {
    serde_json::from_str(DEFAULT_POLICY_JSON).unwrap()
}

/// The default policy plus one rule that declines every sign-up from `.de` company domains.
fn strict_policy(label: &str) -> Value {
    let mut policy = default_policy();
    policy["version"] = json!(label);
    policy["rules"].as_array_mut().unwrap().push(json!({
        "id": "no_de_domains",
        "description": "test rule",
        "applies_to": ["signup"],
        "when": "email.domain.endsWith('.de')",
        "outcome": { "score": 100, "verdict_floor": "decline", "reason_code": "de_domain", "reason": "Domain {email.domain} is refused" }
    }));
    policy
}

/// The batch cap holds through the API: one item over it refuses the whole batch, naming the
/// field, and a batch of exactly the cap is taken in one transaction.
async fn a_batch_holds_at_most_max_batch_items(app: &TestApp) {
    let analyst = app.a.key(Role::Analyst);
    let items = |n: usize| {
        Value::Array(
            (0..n)
                .map(
                    |i| json!({"kind": "card", "action": "block", "value": format!("fp_bulk_{i}")}),
                )
                .collect(),
        )
    };
    let (status, problem) = app
        .post("/v1/lists/items/batch", analyst, items(MAX_BATCH + 1))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "items", "{problem}");
    let (_, listed) = app.get("/v1/lists/items", analyst).await;
    assert_eq!(listed["data"], json!([]), "nothing of the refused batch");

    let (status, added) = app
        .post("/v1/lists/items/batch", analyst, items(MAX_BATCH))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(added["added"], MAX_BATCH);
}

/// Publishes the default policy with rule `index`'s `when` replaced, expects it refused naming
/// that field, and returns the candidate and the problem.
async fn refused_when(app: &TestApp, index: usize, when: &str) -> (Value, Value) {
    let mut policy = default_policy();
    policy["version"] = json!("refused");
    policy["rules"][index]["when"] = json!(when);
    let (status, problem) = app
        .post(
            "/v1/rules",
            app.a.key(Role::Analyst),
            json!({"policy": policy}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"],
        format!("policy.rules[{index}].when"),
        "{problem}"
    );
    (policy, problem)
}

async fn invalid_cel_is_refused_with_its_position(app: &TestApp) {
    let (_, problem) = refused_when(app, 3, "email.disposable &&").await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("column"),
        "{problem}"
    );
    let (status, _) = app
        .post(
            "/v1/rules",
            app.a.key(Role::Viewer),
            json!({"policy": default_policy()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, versions) = app.get("/v1/rules", app.a.key(Role::Viewer)).await;
    assert!(
        versions.as_array().unwrap().is_empty(),
        "nothing was published"
    );
}

/// A count the store stops at 1,000 can never exceed it: a rule that waits for that is refused,
/// when published and when backtested, and nothing is published.
async fn a_threshold_no_count_can_reach_is_refused(app: &TestApp) {
    let (policy, _) = refused_when(app, 2, "velocity.signups_email_domain_24h > 5000").await;
    let now = app.clock.now();
    let (status, problem) = app
        .post(
            "/v1/rules/backtest",
            app.a.key(Role::Analyst),
            json!({"policy": policy, "from": now - Duration::days(1), "to": now}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (_, versions) = app.get("/v1/rules", app.a.key(Role::Viewer)).await;
    assert!(
        versions.as_array().unwrap().is_empty(),
        "nothing was published"
    );
}

async fn a_shadow_policy_is_recorded_but_never_decides(app: &TestApp) {
    let (status, published) = app
        .post(
            "/v1/rules",
            app.a.key(Role::Analyst),
            json!({"policy": strict_policy("strict-1"), "status": "shadow"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
    assert_eq!(published["status"], "shadow");
    let (_, decision) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 1),
        )
        .await;
    assert_eq!(
        decision["verdict"], "approve",
        "the shadow does not decide: {decision}"
    );
    let (_, detail) = app
        .get(
            &format!("/v1/decisions/{}", decision["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(detail["shadows"][0]["policy_version"], "strict-1");
    assert_eq!(detail["shadows"][0]["verdict"], "decline", "{detail}");

    // Activated, the same rule decides.
    let version = published["version"].as_i64().unwrap();
    let (status, _) = app
        .post(
            &format!("/v1/rules/{version}/status"),
            app.a.key(Role::Analyst),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, decision) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 2),
        )
        .await;
    assert_eq!(decision["verdict"], "decline");
    assert_eq!(decision["policy_version"], "strict-1");
    // Versions are immutable: the label cannot be published twice.
    let (status, _) = app
        .post(
            "/v1/rules",
            app.a.key(Role::Analyst),
            json!({"policy": strict_policy("strict-1")}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn backtest_counts_match_a_hand_count(app: &TestApp) {
    // Six sign-ups: four from .de domains (the candidate declines them), two from .fr.
    for n in 0..6u32 {
        let mut body = honest_signup(app, 10 + n);
        if n >= 4 {
            body["contact"]["email"] = json!(format!("anne@societe{n}.fr"));
            body["company"]["domain"] = json!(format!("societe{n}.fr"));
        }
        let (status, decision) = app.post("/v1/signups", app.a.key(Role::Ingest), body).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(decision["verdict"], "approve", "{decision}");
        app.clock.advance(Duration::minutes(30));
    }
    let from = app.clock.now() - Duration::days(1);
    let to = app.clock.now() + Duration::seconds(1);
    let (status, report) = app
        .post("/v1/rules/backtest", app.a.key(Role::Analyst), json!({"policy": strict_policy("candidate"), "from": from, "to": to, "max_examples": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["replayed"], 6, "{report}");
    assert_eq!(report["changed"], 4);
    assert_eq!(
        report["transitions"],
        json!([{"from": "approve", "to": "decline", "count": 4}])
    );
    assert_eq!(report["examples"].as_array().unwrap().len(), 2);
    // A window that holds nothing replays nothing.
    let (_, empty) = app
        .post(
            "/v1/rules/backtest",
            app.a.key(Role::Analyst),
            json!({"policy": strict_policy("c2"), "from": to, "to": to + Duration::days(1)}),
        )
        .await;
    assert_eq!(empty["replayed"], 0);
}

async fn list_items_block_and_expire(app: &TestApp) {
    let analyst = app.a.key(Role::Analyst);
    let (status, item) = app
        .post("/v1/lists/items", analyst, json!({"kind": "ip", "action": "block", "value": "2.160.0.0/24", "note": "abuse desk", "expires_at": app.clock.now() + Duration::days(1)}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let (status, problem) = app
        .post(
            "/v1/lists/items",
            analyst,
            json!({"kind": "bin", "action": "block", "value": "41"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "value");

    let (_, decision) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 0),
        )
        .await;
    assert_eq!(decision["verdict"], "decline", "{decision}");
    assert!(
        decision["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "block_list_match")
    );

    let (_, card_item) = app
        .post(
            "/v1/lists/items",
            analyst,
            json!({"kind": "card", "action": "block", "value": "fp_stolen"}),
        )
        .await;
    let viewer = app.a.key(Role::Viewer);
    let (_, first) = app.get("/v1/lists/items?limit=1", viewer).await;
    assert_eq!(first["data"][0]["id"], item["id"], "{first}");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(&format!("/v1/lists/items?limit=1&cursor={cursor}"), viewer)
        .await;
    assert_eq!(rest["data"][0]["id"], card_item["id"], "{rest}");
    assert!(rest["next_cursor"].is_null(), "{rest}");
    let (_, ok) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 300),
        )
        .await;
    let customer = ok["customer_id"].as_str().unwrap();
    let (_, pm) = app
        .post(
            &format!("/v1/customers/{customer}/payment_methods"),
            app.a.key(Role::Ingest),
            card("fp_stolen", "411111"),
        )
        .await;
    assert_eq!(pm["status"], "declined", "{pm}");

    // Expired and removed items no longer match.
    app.clock.advance(Duration::days(2));
    let (status, _) = app
        .post(
            &format!(
                "/v1/lists/items/{}/remove",
                card_item["id"].as_str().unwrap()
            ),
            analyst,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, decision) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 1),
        )
        .await;
    assert_eq!(decision["verdict"], "approve", "{decision}");
    let (_, pm) = app
        .post(
            &format!("/v1/customers/{customer}/payment_methods"),
            app.a.key(Role::Ingest),
            card("fp_stolen", "411111"),
        )
        .await;
    assert_ne!(pm["status"], "declined", "{pm}");
    let (_, items) = app.get("/v1/lists/items", app.a.key(Role::Viewer)).await;
    assert!(items["data"].as_array().unwrap().is_empty(), "{items}");
    let (_, theirs) = app.get("/v1/lists/items", app.b.key(Role::Viewer)).await;
    assert!(theirs["data"].as_array().unwrap().is_empty(), "{theirs}");
}

/// A block list exported elsewhere comes in as one batch: all of it or none, once however often
/// it is retried, each item on the audit chain, and it blocks at once.
async fn a_block_list_is_imported_in_one_batch(app: &TestApp) {
    let analyst = app.a.key(Role::Analyst);
    let ndjson = [
        json!({"kind": "ip", "action": "block", "value": "2.160.0.0/24", "note": "abuse desk"}),
        json!({"kind": "email", "action": "block", "value": "Mule@Example.ORG"}),
        json!({"kind": "card", "action": "block", "value": "fp_batch"}),
    ]
    .iter()
    .map(|item| format!("{item}\n"))
    .collect::<String>();
    let import = || {
        app.request(Method::POST, "/v1/lists/items/batch", Some(analyst))
            .header(CONTENT_TYPE, "application/x-ndjson")
            .header("idempotency-key", "block-list-2026-11")
            .body(ndjson.clone())
    };
    let (status, added) = send(import()).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["added"], 3);
    assert_eq!(
        added["data"][1]["value"], "mule@example.org",
        "stored canonical"
    );
    let (status, again) = send(import()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, added, "a retry replays the first answer");

    // One bad item refuses the whole batch.
    let (status, problem) = app
        .post(
            "/v1/lists/items/batch",
            analyst,
            json!([{"kind": "device", "action": "allow", "value": "dev-good"},
                   {"kind": "phone", "action": "block", "value": "0301234567"}]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "[1].value", "{problem}");
    let viewer = app.a.key(Role::Viewer);
    let (_, items) = app.get("/v1/lists/items", viewer).await;
    let ids: Vec<&Value> = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    let expected: Vec<&Value> = added["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, expected, "{items}");
    let (_, audit) = app
        .get(
            "/v1/audit?action=list_item.added&limit=100",
            app.a.key(Role::Admin),
        )
        .await;
    let mut audited: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["object_id"])
        .collect();
    audited.sort_by_key(|id| id.as_str());
    assert_eq!(audited, expected, "{audit}");

    let (_, decision) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 0),
        )
        .await;
    assert_eq!(decision["verdict"], "decline", "{decision}");
}

on_both_engines!(
    a_batch_holds_at_most_max_batch_items,
    a_block_list_is_imported_in_one_batch,
    invalid_cel_is_refused_with_its_position,
    a_threshold_no_count_can_reach_is_refused,
    a_shadow_policy_is_recorded_but_never_decides,
    backtest_counts_match_a_hand_count,
    list_items_block_and_expire,
);
