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

/// The budget alerts in an ingest answer, by threshold percent (anomaly alerts left out).
fn budget_percents(answer: &Value) -> Vec<u64> {
    let alerts: Vec<Value> = answer["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "budget_threshold")
        .cloned()
        .collect();
    percents(&Value::Array(alerts))
}

/// The detector's saved state of a subscription's `Virtual Machines/D2s v5` series.
async fn cpu_state(app: &TestApp, sub: &str) -> Value {
    let key = (sub.parse().unwrap(), "Virtual Machines/D2s v5".to_owned());
    let mut tx = app.store.read().await.unwrap();
    let states = tx
        .series_states(app.a.id, std::slice::from_ref(&key))
        .await
        .unwrap();
    serde_json::from_str(&states[&key]).unwrap()
}

/// A scope's spend in a local month and on a local day, in minor units.
async fn spent(app: &TestApp, scope: &str, month: &str, day: &str) -> (i64, i64) {
    let mut tx = app.store.read().await.unwrap();
    let month = tx
        .monthly_spend(app.a.id, scope, month, "EUR")
        .await
        .unwrap();
    let day = tx
        .daily_spend(app.a.id, scope, "EUR", day, day)
        .await
        .unwrap()
        .first()
        .map_or(0, |(_, minor)| *minor);
    (month, day)
}

/// Usage that arrives late — for an hour the detector already scored, and for November after
/// December began — lands in the hour, day and month it belongs to, counts in the budget of
/// that month if it is still current, alerts no threshold twice, and does not rewind the
/// detector: the scored hours keep their scores, and the next new hour is scored as usual.
async fn late_records_count_where_they_belong_without_rescoring(app: &TestApp) {
    let (customer, sub) = customer_and_subscription(app, "late").await;
    let budget_id = budget(
        app,
        &customer,
        "100.00",
        json!([
            {"percent": 50, "basis": "actual", "action": "notify"},
            {"percent": 100, "basis": "actual", "action": "notify"}
        ]),
    )
    .await;
    let seven = at("2026-11-02T07:00:00Z");
    let eight = seven + Duration::hours(1);
    let first = ingest(
        app,
        json!([
            cpu(&sub, "l1", "30.00", seven),
            cpu(&sub, "l2", "10.00", eight)
        ]),
    )
    .await;
    assert_eq!(budget_percents(&first), Vec::<u64>::new());
    let scored = cpu_state(app, &sub).await;

    // Late for 07:00, already scored: the aggregates move, the budget crosses 50 % once, and
    // the detector's state is as it was.
    let late = ingest(app, json!([cpu(&sub, "l3", "15.00", seven)])).await;
    assert_eq!(budget_percents(&late), [50]);
    assert_eq!(late["alerts"].as_array().unwrap().len(), 1, "{late}");
    assert_eq!(cpu_state(app, &sub).await, scored);
    let mut tx = app.store.read().await.unwrap();
    let hours = tx
        .hourly_spend(app.a.id, &sub, "EUR", seven, eight + Duration::hours(1))
        .await
        .unwrap();
    drop(tx);
    let hours: Vec<i64> = hours.iter().map(|h| h.cost_minor).collect();
    assert_eq!(hours, [4_500, 1_000]);
    assert_eq!(
        spent(app, &customer, "2026-11", "2026-11-02").await,
        (5_500, 5_500)
    );
    assert_eq!(
        spent(app, &sub, "2026-11", "2026-11-02").await,
        (5_500, 5_500)
    );

    // Re-sent, and more late spend below the next threshold: no alert, no rewind.
    let again = ingest(app, json!([cpu(&sub, "l3", "15.00", seven)])).await;
    assert_eq!(
        (
            again["duplicates"].as_u64(),
            again["alerts"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0))
    );
    let more = ingest(app, json!([cpu(&sub, "l4", "1.00", eight)])).await;
    assert_eq!(more["alerts"], json!([]));
    assert_eq!(cpu_state(app, &sub).await, scored);
    assert_eq!(
        spent(app, &customer, "2026-11", "2026-11-02").await.0,
        5_600
    );

    // A new hour is scored from where the detector stood.
    ingest(
        app,
        json!([cpu(&sub, "l5", "1.00", eight + Duration::hours(1))]),
    )
    .await;
    assert_ne!(cpu_state(app, &sub).await, scored);

    // December in Berlin, and the series has its first December hour. Then November's last
    // evening arrives: November's totals take it (past 100 %), December's do not, the
    // detector does not go back to it, and no alert is raised for a month that is over.
    app.clock.set(at("2026-12-01T09:00:00Z"));
    let first_of_december = ingest(
        app,
        json!([cpu(&sub, "l6", "1.00", at("2026-12-01T08:00:00Z"))]),
    )
    .await;
    assert_eq!(budget_percents(&first_of_december), Vec::<u64>::new());
    let before = cpu_state(app, &sub).await;
    let november = ingest(
        app,
        json!([cpu(&sub, "l7", "50.00", at("2026-11-30T20:00:00Z"))]),
    )
    .await;
    assert_eq!(november["alerts"], json!([]));
    assert_eq!(cpu_state(app, &sub).await, before);
    assert_eq!(
        spent(app, &customer, "2026-11", "2026-11-30").await,
        (10_700, 5_000)
    );
    assert_eq!(
        spent(app, &customer, "2026-12", "2026-12-01").await,
        (100, 100)
    );
    let (_, detail) = app
        .get(&format!("/v1/budgets/{budget_id}"), app.a.key(Role::Viewer))
        .await;
    assert_eq!(detail["current"]["period"]["key"], "2026-12");
    assert_eq!(detail["current"]["spent"]["amount"], "1.00");

    // 23:30 UTC on November 30th is already December 1st in Berlin: late, but December's.
    let december = ingest(
        app,
        json!([cpu(&sub, "l8", "55.00", at("2026-11-30T23:30:00Z"))]),
    )
    .await;
    assert_eq!(budget_percents(&december), [50]);
    assert_eq!(cpu_state(app, &sub).await, before);
    assert_eq!(
        spent(app, &customer, "2026-12", "2026-12-01").await,
        (5_600, 5_600)
    );
    assert_eq!(
        spent(app, &customer, "2026-11", "2026-11-30").await.0,
        10_700
    );
}

on_both_engines!(
    ndjson_and_batches_beyond_the_regular_body_limit_are_taken,
    resending_is_a_no_op_and_bad_batches_write_nothing,
    thresholds_alert_once_per_period,
    a_crypto_mining_takeover_alerts_within_the_hour,
    one_batch_of_many_hours_is_scored_in_time_order,
    alerts_are_acknowledged_and_resolved,
    late_records_count_where_they_belong_without_rescoring,
);
