//! Issue 5's spend watch through the API: idempotent all-or-nothing ingestion, budget thresholds
//! that alert once per period, the crypto-mining takeover, and the alert life cycle.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::tenancy::Role;

use crate::{harness::TestApp, on_both_engines};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn record(
    subscription: &str,
    id: &str,
    meter: &str,
    region: &str,
    cost: &str,
    start: DateTime<Utc>,
) -> Value {
    json!({
        "subscription": subscription, "record_id": id, "meter": meter,
        "resource_id": format!("/subscriptions/x/vm-{id}"), "region": region,
        "quantity": "1", "unit": "1 Hour", "cost": cost, "currency": "EUR",
        "usage_start": start, "usage_end": start + Duration::hours(1)
    })
}

fn cpu(subscription: &str, id: &str, cost: &str, start: DateTime<Utc>) -> Value {
    record(
        subscription,
        id,
        "Virtual Machines/D2s v5",
        "West Europe",
        cost,
        start,
    )
}

async fn ingest(app: &TestApp, batch: Value) -> Value {
    let (status, body) = app.post("/v1/usage", app.a.key(Role::Ingest), batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

async fn customer_and_subscription(app: &TestApp, name: &str) -> (String, String) {
    let customer = app.customer(&app.a, name).await;
    let subscription = app
        .subscription(&app.a, &customer, &format!("vendor-{name}"))
        .await;
    (customer, subscription)
}

async fn budget(app: &TestApp, customer: &str, amount: &str, thresholds: Value) -> String {
    let (status, body) = app
        .post(
            "/v1/budgets",
            app.a.key(Role::Analyst),
            json!({"scope": {"kind": "customer", "customer_id": customer},
                   "amount": {"amount": amount, "currency": "EUR"},
                   "period": {"kind": "monthly"}, "thresholds": thresholds}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn percents(alerts: &Value) -> Vec<u64> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["kind"], "budget_threshold", "{a}");
            a["details"]["crossing"]["threshold"]["percent"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

async fn resending_is_a_no_op_and_bad_batches_write_nothing(app: &TestApp) {
    let (_, sub) = customer_and_subscription(app, "ingest").await;
    let hour = at("2026-11-02T07:00:00Z");
    // By Tollgate id and by the vendor's id.
    let batch = json!([
        cpu(&sub, "r1", "0.50", hour),
        cpu("vendor-ingest", "r2", "0.50", hour)
    ]);
    let first = ingest(app, batch.clone()).await;
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(2), Some(0))
    );
    let again = ingest(app, batch).await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );

    let mut bad = cpu(&sub, "r4", "0.50", hour);
    bad["cost"] = json!("-1");
    let (status, problem) = app
        .post(
            "/v1/usage",
            app.a.key(Role::Ingest),
            json!([cpu(&sub, "r3", "0.50", hour), bad]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(error_fields(&problem), ["[1].cost"]);
    let (status, problem) = app
        .post(
            "/v1/usage",
            app.a.key(Role::Ingest),
            json!([
                cpu(&sub, "r3", "0.50", hour),
                cpu("no-such-vendor-sub", "r5", "0.50", hour)
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(error_fields(&problem), ["[1].subscription"]);
    // Neither refused batch wrote r3.
    let third = ingest(app, json!([cpu(&sub, "r3", "0.50", hour)])).await;
    assert_eq!(third["accepted"], 1);

    // Another tenant cannot book usage on A's subscription.
    let (status, problem) = app
        .post(
            "/v1/usage",
            app.b.key(Role::Ingest),
            json!([cpu(&sub, "b1", "0.50", hour)]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(error_fields(&problem), ["[0].subscription"]);
}

async fn thresholds_alert_once_per_period(app: &TestApp) {
    let (customer, sub) = customer_and_subscription(app, "budget").await;
    let id = budget(
        app,
        &customer,
        "100.00",
        json!([
            {"percent": 50, "basis": "actual", "action": "notify"},
            {"percent": 80, "basis": "actual", "action": "notify_and_review"},
            {"percent": 100, "basis": "actual", "action": "suspend"}
        ]),
    )
    .await;
    let hour = at("2026-11-02T07:00:00Z");
    // One batch jumps from nothing to 105 %: three alerts, lowest first.
    let first = ingest(
        app,
        json!([
            cpu(&sub, "b1", "60.00", hour),
            cpu(&sub, "b2", "45.00", hour + Duration::hours(1))
        ]),
    )
    .await;
    assert_eq!(percents(&first["alerts"]), [50, 80, 100]);
    assert_eq!(first["alerts"][2]["details"]["action"], "suspend");
    assert_eq!(first["alerts"][0]["customer_id"], customer.as_str());
    let (_, audit) = app
        .get(
            "/v1/audit?action=budget.suspend_requested",
            app.a.key(Role::Admin),
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");

    // More spend in the same month: nothing new.
    let next = ingest(
        app,
        json!([cpu(&sub, "b3", "30.00", hour + Duration::hours(2))]),
    )
    .await;
    assert_eq!(next["alerts"], json!([]));
    let (status, detail) = app
        .get(&format!("/v1/budgets/{id}"), app.a.key(Role::Viewer))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["current"]["period"]["key"], "2026-11");
    assert_eq!(detail["current"]["spent"]["amount"], "135.00");
    assert!(
        detail["current"]["forecast"]["explanation"]
            .as_str()
            .unwrap()
            .contains("projected")
    );
    let (_, listed) = app
        .get(
            &format!("/v1/budgets?customer_id={customer}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(listed["data"][0]["id"], id.as_str());

    // December 1st in Berlin is a new period: the thresholds alert again.
    app.clock.set(at("2026-12-01T09:00:00Z"));
    let december = ingest(
        app,
        json!([cpu(&sub, "b4", "55.00", at("2026-12-01T07:00:00Z"))]),
    )
    .await;
    assert_eq!(percents(&december["alerts"]), [50]);
}

async fn a_crypto_mining_takeover_alerts_within_the_hour(app: &TestApp) {
    let (customer, sub) = customer_and_subscription(app, "quiet").await;
    let start = at("2026-11-03T00:00:00Z");
    // Two quiet weeks: one small VM in West Europe, about 0.50 an hour, sent daily.
    for day in 0..14 {
        let batch: Vec<Value> = (0..24)
            .map(|h| {
                let n = day * 24 + h;
                let cost = format!("0.{}", 48 + n % 5);
                cpu(&sub, &format!("cpu-{n}"), &cost, start + Duration::hours(n))
            })
            .collect();
        app.clock
            .set(start + Duration::hours(day * 24 + 24) + Duration::minutes(5));
        let answer = ingest(app, Value::Array(batch)).await;
        assert_eq!(answer["alerts"], json!([]), "quiet day {day}");
    }

    // 02:00 UTC (03:00 in Berlin): ten A100 VMs start in South East Asia.
    let night = start + Duration::days(14) + Duration::hours(2);
    app.clock.set(night + Duration::minutes(65));
    let gpu: Vec<Value> = (0..10)
        .map(|vm| {
            record(
                &sub,
                &format!("gpu-{vm}"),
                "Virtual Machines/NC24ads A100 v4",
                "South East Asia",
                "3.67",
                night,
            )
        })
        .collect();
    let answer = ingest(app, Value::Array(gpu)).await;
    let alerts = answer["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{answer}");
    let alert = &alerts[0];
    assert_eq!(alert["kind"], "usage_anomaly");
    assert_eq!(alert["customer_id"], customer.as_str());
    assert_eq!(alert["subscription_id"], sub.as_str());
    let sentence = alert["sentence"].as_str().unwrap();
    assert!(
        sentence.starts_with(&format!(
            "GPU spend on {sub} in a new region (southeastasia) is "
        )),
        "{sentence}"
    );
    let kinds: Vec<&str> = alert["details"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["new_meter_class", "new_region"]);
    let (_, listed) = app
        .get("/v1/alerts?kind=usage_anomaly", app.a.key(Role::Viewer))
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

/// The same two quiet weeks and GPU night as above, sent as one batch, newest record first and
/// naming the subscription both ways: the batch is summed and stored in bulk, yet the detector
/// still sees every hour in time order, so only the GPU hour alerts.
async fn one_batch_of_many_hours_is_scored_in_time_order(app: &TestApp) {
    let (_, sub) = customer_and_subscription(app, "replayed").await;
    let start = at("2026-11-03T00:00:00Z");
    let night = start + Duration::days(14) + Duration::hours(2);
    let mut batch: Vec<Value> = (0..14 * 24)
        .map(|n| {
            let cost = format!("0.{}", 48 + n % 5);
            cpu(&sub, &format!("cpu-{n}"), &cost, start + Duration::hours(n))
        })
        .collect();
    batch.extend((0..10).map(|vm| {
        record(
            "vendor-replayed",
            &format!("gpu-{vm}"),
            "Virtual Machines/NC24ads A100 v4",
            "South East Asia",
            "3.67",
            night,
        )
    }));
    batch.reverse();
    app.clock.set(night + Duration::minutes(65));
    let answer = ingest(app, Value::Array(batch)).await;
    assert_eq!(answer["accepted"], 14 * 24 + 10, "{answer}");
    let alerts = answer["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{answer}");
    assert_eq!(alerts[0]["kind"], "usage_anomaly");
    assert_eq!(alerts[0]["subscription_id"], sub.as_str());
    let kinds: Vec<&str> = alerts[0]["details"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["new_meter_class", "new_region"]);
}

async fn alerts_are_acknowledged_and_resolved(app: &TestApp) {
    let (customer, sub) = customer_and_subscription(app, "cycle").await;
    budget(
        app,
        &customer,
        "10.00",
        json!([{"percent": 100, "basis": "actual", "action": "notify"}]),
    )
    .await;
    let answer = ingest(
        app,
        json!([cpu(&sub, "c1", "12.00", at("2026-11-02T07:00:00Z"))]),
    )
    .await;
    let id = answer["alerts"][0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("alr_"));
    let analyst = app.a.key(Role::Analyst);

    let open = format!("/v1/alerts?customer_id={customer}&status=open&kind=budget_threshold");
    assert_eq!(
        app.get(&open, analyst).await.1["data"][0]["id"],
        id.as_str()
    );
    let (status, _) = app
        .post(
            &format!("/v1/alerts/{id}/acknowledge"),
            app.a.key(Role::Viewer),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, acked) = app
        .post(&format!("/v1/alerts/{id}/acknowledge"), analyst, json!({}))
        .await;
    assert_eq!(
        (status, &acked["status"]),
        (StatusCode::OK, &json!("acknowledged"))
    );
    let (status, resolved) = app
        .post(&format!("/v1/alerts/{id}/resolve"), analyst, json!({}))
        .await;
    assert_eq!(
        (status, &resolved["status"]),
        (StatusCode::OK, &json!("resolved"))
    );
    let (status, _) = app
        .post(&format!("/v1/alerts/{id}/acknowledge"), analyst, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.get(&open, analyst).await.1["data"], json!([]));
    let (status, _) = app.get("/v1/alerts?status=closed", analyst).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant sees nothing.
    let (status, _) = app
        .get(&format!("/v1/alerts/{id}"), app.b.key(Role::Admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/v1/alerts/{id}/resolve"),
            app.b.key(Role::Admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = app
        .get(&format!("/v1/audit?object_id={id}"), app.a.key(Role::Admin))
        .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["alert.raised", "alert.acknowledged", "alert.resolved"]
    );
    assert_eq!(
        app.store.verify_audit(app.a.id).await.unwrap().map(|_| ()),
        Ok(())
    );
}

async fn ndjson_and_batches_beyond_the_regular_body_limit_are_taken(app: &TestApp) {
    let (_, subscription) = customer_and_subscription(app, "bulk").await;
    let start = at("2026-11-01T00:00:00Z");
    // Over the harness's 64 KiB body limit, well under the batch limit.
    let batch: Vec<Value> = (0..400)
        .map(|i| {
            cpu(
                &subscription,
                &format!("bulk-{i}"),
                "0.10",
                start + Duration::hours(i),
            )
        })
        .collect();
    let text = serde_json::to_string(&batch).unwrap();
    assert!(text.len() > crate::harness::BODY_LIMIT);
    let body = ingest(app, Value::Array(batch.clone())).await;
    assert_eq!(body["accepted"], 400, "{body}");

    let lines: String = batch
        .iter()
        .map(|r| format!("{r}\n"))
        .chain((400..410).map(|i| {
            format!(
                "{}\n",
                cpu(
                    &subscription,
                    &format!("bulk-{i}"),
                    "0.10",
                    start + Duration::hours(i)
                )
            )
        }))
        .collect();
    let (status, body) = crate::harness::send(
        app.request(
            reqwest::Method::POST,
            "/v1/usage",
            Some(app.a.key(Role::Ingest)),
        )
        .header("content-type", "application/x-ndjson")
        .body(lines),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(10), Some(400))
    );

    let (status, problem) = crate::harness::send(
        app.request(
            reqwest::Method::POST,
            "/v1/usage",
            Some(app.a.key(Role::Ingest)),
        )
        .header("content-type", "application/x-ndjson")
        .body("{\"record_id\": \"x\"}\nnot json\n"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().contains("line 2"),
        "{problem}"
    );
}

on_both_engines!(
    ndjson_and_batches_beyond_the_regular_body_limit_are_taken,
    resending_is_a_no_op_and_bad_batches_write_nothing,
    thresholds_alert_once_per_period,
    a_crypto_mining_takeover_alerts_within_the_hour,
    one_batch_of_many_hours_is_scored_in_time_order,
    alerts_are_acknowledged_and_resolved,
);
