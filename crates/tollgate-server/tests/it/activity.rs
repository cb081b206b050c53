//! Activity detections through the API: recorded-shape Azure Activity Log records against the
//! shipped Sigma rules and the built-in detectors, alerts folded per episode, idempotent and
//! all-or-nothing ingestion, and tenant isolation of the alerts.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tollgate_core::{SubscriptionId, activity::sigma::RuleSet, tenancy::Role};

use crate::{
    harness::{TestApp, send},
    on_both_engines,
};

/// The vendor subscription id the recorded fixtures carry.
const VENDOR_SUB: &str = "7f3c2a1e-5b9d-4c8e-a2f1-0d6b4e9c3a57";

/// A recorded record from the core's fixtures, re-labelled: REST-shape records get their own
/// `eventDataId` (the fixtures share one) and the given time.
fn fixture(name: &str, event_id: &str, time: &str) -> Value {
    let path = format!(
        "{}/../tollgate-core/tests/fixtures/activity/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let mut record: Value = serde_json::from_str(&text).unwrap();
    if record.get("eventTimestamp").is_some() {
        record["eventDataId"] = json!(event_id);
        record["eventTimestamp"] = json!(time);
    } else {
        record["time"] = json!(time);
    }
    record
}

async fn ingest(app: &TestApp, batch: Value) -> Value {
    let (status, body) = app
        .post("/v1/activity", app.a.key(Role::Ingest), batch)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn setup(app: &TestApp) -> (String, String) {
    let customer = app.customer(&app.a, "activity").await;
    let subscription = app.subscription(&app.a, &customer, VENDOR_SUB).await;
    (customer, subscription)
}

fn rule_ids(alerts: &Value) -> BTreeSet<String> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["kind"], "activity", "{a}");
            a["details"]["rule"]["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

const FIREWALL: &str = "512cf937-ea9b-4332-939c-4c2c94baadcd";
const ELEVATION: &str = "09438caa-07b1-4870-8405-1dbafe3dad95";
const RARE_OPERATIONS: &str = "c1182e02-49a3-481c-b3de-0fadc4091488";
const NSG: &str = "d22b4df4-5a67-4859-a578-8c9a0b5af9df";
const GRANTING: &str = "a622fcd2-4b5a-436a-b8a2-a4171161833c";
const RESOURCE_CREATION: &str = "d2d901db-7a75-45a1-bc39-0cbf00812192";

async fn shipped_sigma_rules_raise_activity_alerts(app: &TestApp) {
    let (customer, subscription) = setup(app).await;
    let t = "2026-11-02T08:00:00Z";
    let firewall = fixture("firewall_delete_export.json", "", t);
    let elevation = fixture("elevate_access_rest.json", "e-elevate", t);
    let batch = json!([
        firewall,
        elevation,
        fixture("nsg_write_export.json", "", t),
        // Near misses: a read of the same firewall, a DNS zone read, a storage read.
        fixture("firewall_read_export.json", "", t),
        fixture("dns_zone_read_export.json", "", t),
        fixture("storage_read_rest.json", "e-storage", t),
    ]);
    let out = ingest(app, batch).await;
    assert_eq!(out["accepted"], 6, "{out}");
    assert_eq!(
        rule_ids(&out["alerts"]),
        set(&[FIREWALL, ELEVATION, RARE_OPERATIONS, NSG])
    );
    let alert = out["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["details"]["rule"]["id"] == ELEVATION)
        .unwrap();
    assert_eq!(alert["customer_id"], customer.as_str());
    assert_eq!(alert["subscription_id"], subscription.as_str());
    assert_eq!(alert["status"], "open");
    let rule = &alert["details"]["rule"];
    assert_eq!(
        rule["title"],
        "Azure Subscription Permission Elevation Via ActivityLogs"
    );
    assert_eq!(rule["level"], "high");
    assert_eq!(rule["author"], "Austin Songer @austinsonger");
    assert_eq!(rule["references"].as_array().unwrap().len(), 1);
    assert_eq!(alert["details"]["record"], elevation);
    assert_eq!(alert["details"]["record_ids"], json!(["e-elevate"]));
    let sentence = alert["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("Azure Subscription Permission Elevation Via ActivityLogs")
            && sentence.contains("Austin Songer")
            && sentence.contains("Microsoft.Authorization/elevateAccess/action"),
        "{sentence}"
    );

    let (status, listed) = app
        .get("/v1/alerts?kind=activity", app.a.key(Role::Viewer))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"].as_array().unwrap().len(), 4);
    // Every alert is on the audit chain.
    let (_, audit) = app
        .get(
            "/v1/audit?action=alert.raised&limit=100",
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 4, "{audit}");
}

async fn repeated_matches_fold_into_the_episode_alert(app: &TestApp) {
    let (customer, _) = setup(app).await;
    let first = ingest(
        app,
        json!([fixture(
            "firewall_delete_export.json",
            "",
            "2026-11-02T08:00:00Z"
        )]),
    )
    .await;
    assert_eq!(rule_ids(&first["alerts"]), set(&[FIREWALL]));
    // Hours later, still within the episode: counted, not alerted again.
    let again = ingest(
        app,
        json!([
            fixture("firewall_delete_export.json", "", "2026-11-02T14:00:00Z"),
            fixture("firewall_delete_export.json", "", "2026-11-02T15:00:00Z"),
        ]),
    )
    .await;
    assert_eq!(
        (again["accepted"].as_u64(), again["deduplicated"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(again["alerts"], json!([]));
    // The same rule on another subscription is another episode.
    let other = app.subscription(&app.a, &customer, "other-sub").await;
    let mut elsewhere = fixture("firewall_delete_export.json", "", "2026-11-02T15:00:00Z");
    elsewhere["resourceId"] = json!(
        "/subscriptions/other-sub/resourceGroups/rg/providers/MICROSOFT.NETWORK/AZUREFIREWALLS/FW"
    );
    let out = ingest(app, json!([elsewhere])).await;
    assert_eq!(out["alerts"][0]["subscription_id"], other.as_str(), "{out}");
    // After a quiet day the rule opens a new episode.
    let later = ingest(
        app,
        json!([fixture(
            "firewall_delete_export.json",
            "",
            "2026-11-04T08:00:00Z"
        )]),
    )
    .await;
    assert_eq!(rule_ids(&later["alerts"]), set(&[FIREWALL]));
    // A resolved alert closes its episode: the next match alerts again.
    let id = later["alerts"][0]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/alerts/{id}/resolve"),
            app.a.key(Role::Analyst),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reopened = ingest(
        app,
        json!([fixture(
            "firewall_delete_export.json",
            "",
            "2026-11-04T09:00:00Z"
        )]),
    )
    .await;
    assert_eq!(rule_ids(&reopened["alerts"]), set(&[FIREWALL]));
}

async fn resending_is_a_no_op(app: &TestApp) {
    setup(app).await;
    let t = "2026-11-02T08:00:00Z";
    let batch = json!([
        fixture("elevate_access_rest.json", "e-1", t),
        fixture("firewall_delete_export.json", "", t)
    ]);
    let first = ingest(app, batch.clone()).await;
    assert_eq!(
        (
            first["accepted"].as_u64(),
            first["alerts"].as_array().unwrap().len()
        ),
        (Some(2), 2)
    );
    // The same records again, as NDJSON with the keys of the export record reordered: same ids.
    let mut reordered = serde_json::Map::new();
    let export = batch[1].as_object().unwrap();
    for key in export.keys().rev() {
        reordered.insert(key.clone(), export[key].clone());
    }
    let ndjson = format!("{}\n{}\n", batch[0], Value::Object(reordered));
    let (status, again) = send(
        app.request(Method::POST, "/v1/activity", Some(app.a.key(Role::Ingest)))
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(ndjson),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(again["alerts"], json!([]));

    // A retried request under one Idempotency-Key answers as the first time.
    let fresh = json!([fixture(
        "elevate_access_rest.json",
        "e-2",
        "2026-11-03T08:00:00Z"
    )]);
    let post = || {
        app.request(Method::POST, "/v1/activity", Some(app.a.key(Role::Ingest)))
            .header("Idempotency-Key", "activity-retry")
            .json(&fresh)
    };
    let (status, once) = send(post()).await;
    assert_eq!(status, StatusCode::OK, "{once}");
    let (status, twice) = send(post()).await;
    assert_eq!(status, StatusCode::OK, "{twice}");
    assert_eq!(once, twice);
    assert_eq!(once["accepted"], 1);
}

async fn a_bad_record_refuses_the_batch_naming_the_field(app: &TestApp) {
    let (_, subscription) = setup(app).await;
    let t = "2026-11-02T08:00:00Z";
    let good = fixture("firewall_delete_export.json", "", t);
    let mut no_operation = fixture("elevate_access_rest.json", "e-bad", t);
    no_operation
        .as_object_mut()
        .unwrap()
        .remove("operationName");
    let mut bad_time = fixture("storage_read_rest.json", "e-time", t);
    bad_time["eventTimestamp"] = json!("yesterday");
    let mut unknown = fixture("storage_read_rest.json", "e-unknown", t);
    unknown["subscriptionId"] = json!("not-a-subscription-of-ours");
    let cases = [
        (json!([good, no_operation]), "[1].operationName"),
        (json!([good, bad_time]), "[1].eventTimestamp"),
        (json!([unknown, good]), "[0].subscriptionId"),
        (json!([good, 7]), "[1]"),
        (json!(good), "body"),
        (json!([]), "records"),
    ];
    for (batch, field) in cases {
        let (status, problem) = app
            .post("/v1/activity", app.a.key(Role::Ingest), batch)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{problem}");
    }
    let mut tx = app.store.read().await.unwrap();
    let written = tx
        .count_activity_records(app.a.id, subscription.parse::<SubscriptionId>().unwrap())
        .await
        .unwrap();
    assert_eq!(written, 0, "nothing of a refused batch is written");
    let (_, alerts) = app
        .get("/v1/alerts?kind=activity", app.a.key(Role::Viewer))
        .await;
    assert_eq!(alerts["data"], json!([]));
}

/// A successful VM write in `region` at `minute` past 08:00.
fn vm_write(n: usize, region: &str, minute: u32) -> Value {
    let mut record = fixture(
        "vm_write_rest.json",
        &format!("vm-{n}"),
        &format!("2026-11-02T08:{minute:02}:00Z"),
    );
    record["resourceId"] = json!(format!(
        "/subscriptions/{VENDOR_SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/miner-{n}"
    ));
    record["location"] = json!(region);
    record
}

async fn a_burst_of_vm_creation_across_regions_alerts(app: &TestApp) {
    setup(app).await;
    let regions = ["eastus", "westeurope", "southeastasia"];
    let records: Vec<Value> = (0..10)
        .map(|n| vm_write(n, regions[n % 3], 5 + 3 * n as u32))
        .collect();
    let first = ingest(app, Value::Array(records[..6].to_vec())).await;
    // Six VMs are not a burst yet; the Sigma resource-creation rule fires once for them all.
    assert_eq!(rule_ids(&first["alerts"]), set(&[RESOURCE_CREATION]));
    let second = ingest(app, Value::Array(records[6..].to_vec())).await;
    assert_eq!(
        rule_ids(&second["alerts"]),
        set(&["vm_creation_burst"]),
        "{second}"
    );
    let alert = &second["alerts"][0];
    assert_eq!(alert["details"]["rule"]["level"], "high");
    assert_eq!(alert["details"]["record_ids"].as_array().unwrap().len(), 10);
    assert_eq!(alert["details"]["record"], records[9]);
    let sentence = alert["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("10 virtual machines") && sentence.contains("3 regions"),
        "{sentence}"
    );
    // More VMs in the same burst fold into its alert.
    let more = ingest(app, json!([vm_write(10, "eastus", 40)])).await;
    assert_eq!(more["alerts"], json!([]));

    // Ten VMs in one region are no burst.
    let customer = app.customer(&app.a, "one-region").await;
    app.subscription(&app.a, &customer, "one-region-sub").await;
    let single: Vec<Value> = (20..30)
        .map(|n| {
            let mut record = vm_write(n, "westeurope", n as u32);
            record["subscriptionId"] = json!("one-region-sub");
            record
        })
        .collect();
    let out = ingest(app, Value::Array(single)).await;
    assert_eq!(rule_ids(&out["alerts"]), set(&[RESOURCE_CREATION]));
}

fn role_assignment(event_id: &str, principal: &str, time: &str) -> Value {
    let mut record = fixture("role_assignment_write_rest.json", event_id, time);
    let body = record["properties"]["requestbody"]
        .as_str()
        .unwrap()
        .replace("6E2F8A1B-3C4D-4E5F-8A9B-0C1D2E3F4A5B", principal);
    record["properties"]["requestbody"] = json!(body);
    record
}

async fn role_assignments_to_new_principals_alert(app: &TestApp) {
    setup(app).await;
    let first = ingest(
        app,
        json!([role_assignment(
            "ra-1",
            "6E2F8A1B-3C4D-4E5F-8A9B-0C1D2E3F4A5B",
            "2026-11-02T08:00:00Z"
        )]),
    )
    .await;
    assert_eq!(
        rule_ids(&first["alerts"]),
        set(&[GRANTING, "role_assignment_new_principal"])
    );
    let builtin = first["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["details"]["rule"]["id"] == "role_assignment_new_principal")
        .unwrap();
    assert!(
        builtin["sentence"]
            .as_str()
            .unwrap()
            .contains("6e2f8a1b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
        "{builtin}"
    );
    // The same principal again (in another case) is known; a new principal alerts.
    let second = ingest(
        app,
        json!([
            role_assignment(
                "ra-2",
                "6e2f8a1b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                "2026-11-02T09:00:00Z"
            ),
            role_assignment(
                "ra-3",
                "0A0B0C0D-1111-4222-8333-944455556666",
                "2026-11-02T09:05:00Z"
            ),
        ]),
    )
    .await;
    assert_eq!(
        rule_ids(&second["alerts"]),
        set(&["role_assignment_new_principal"])
    );
    assert_eq!(second["deduplicated"], 2, "{second}");
    assert!(
        second["alerts"][0]["sentence"]
            .as_str()
            .unwrap()
            .contains("0a0b0c0d-1111-4222-8333-944455556666")
    );
}

async fn deleting_diagnostic_settings_alerts(app: &TestApp) {
    setup(app).await;
    let out = ingest(
        app,
        json!([fixture(
            "diagnostic_settings_delete_export.json",
            "",
            "2026-11-02T08:00:00Z"
        )]),
    )
    .await;
    assert_eq!(
        rule_ids(&out["alerts"]),
        set(&["diagnostic_settings_deleted"])
    );
    let sentence = out["alerts"][0]["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("deleted the diagnostic settings"),
        "{sentence}"
    );
    // A failed deletion is not a deletion.
    let mut failed = fixture(
        "diagnostic_settings_delete_export.json",
        "",
        "2026-11-05T08:00:00Z",
    );
    failed["resultType"] = json!("Failure");
    let out = ingest(app, json!([failed])).await;
    assert_eq!(out["alerts"], json!([]));
}

fn from_ip(event_id: &str, ip: &str, time: &str) -> Value {
    let mut record = fixture("storage_read_rest.json", event_id, time);
    record["httpRequest"]["clientIpAddress"] = json!(ip);
    record
}

async fn first_activity_from_a_high_risk_country_alerts(app: &TestApp) {
    let (customer, _) = setup(app).await;
    // 2.56.20.10 is in Germany, 2.57.3.10 in Iran (shipped IPv4 table), which the shipped
    // high-risk list names.
    let out = ingest(
        app,
        json!([from_ip("ip-1", "2.56.20.10", "2026-11-02T08:00:00Z")]),
    )
    .await;
    assert_eq!(out["alerts"], json!([]));
    let out = ingest(
        app,
        json!([
            from_ip("ip-2", "2.57.3.10", "2026-11-02T09:00:00Z"),
            from_ip("ip-3", "2.57.3.11", "2026-11-02T09:01:00Z"),
        ]),
    )
    .await;
    assert_eq!(
        rule_ids(&out["alerts"]),
        set(&["first_activity_high_risk_country"])
    );
    let alert = &out["alerts"][0];
    assert_eq!(alert["customer_id"], customer.as_str());
    assert_eq!(alert["details"]["record_ids"], json!(["ip-2"]));
    assert!(
        alert["sentence"].as_str().unwrap().contains("IR"),
        "{alert}"
    );
    // Not the first time any more, however long after.
    let out = ingest(
        app,
        json!([from_ip("ip-4", "2.57.3.12", "2026-11-20T09:00:00Z")]),
    )
    .await;
    assert_eq!(out["alerts"], json!([]));
}

async fn another_tenant_cannot_see_activity_alerts(app: &TestApp) {
    setup(app).await;
    let out = ingest(
        app,
        json!([fixture(
            "firewall_delete_export.json",
            "",
            "2026-11-02T08:00:00Z"
        )]),
    )
    .await;
    let id = out["alerts"][0]["id"].as_str().unwrap();
    let b = app.b.key(Role::Admin);
    let (status, _) = app.get(&format!("/v1/alerts/{id}"), b).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, listed) = app.get("/v1/alerts?kind=activity", b).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"], json!([]));
    // B cannot ingest into A's subscription either.
    let (status, problem) = app
        .post(
            "/v1/activity",
            b,
            json!([fixture(
                "firewall_delete_export.json",
                "",
                "2026-11-02T09:00:00Z"
            )]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "[0].subscriptionId");
}

async fn the_rules_route_reports_the_shipped_set(app: &TestApp) {
    let (status, rules) = app.get("/v1/activity/rules", app.a.key(Role::Viewer)).await;
    assert_eq!(status, StatusCode::OK, "{rules}");
    let (set, refused) = RuleSet::shipped();
    assert_eq!(rules["counts"]["loaded"], set.len());
    assert_eq!(rules["counts"]["refused"], refused.len());
    assert_eq!(rules["loaded"].as_array().unwrap().len(), set.len());
    assert_eq!(rules["refused"].as_array().unwrap().len(), refused.len());
    assert_eq!(set.len() + refused.len(), 35);
    let elevation = rules["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == ELEVATION)
        .unwrap();
    assert_eq!(elevation["level"], "high");
    assert_eq!(elevation["author"], "Austin Songer @austinsonger");
}

on_both_engines!(
    shipped_sigma_rules_raise_activity_alerts,
    repeated_matches_fold_into_the_episode_alert,
    resending_is_a_no_op,
    a_bad_record_refuses_the_batch_naming_the_field,
    a_burst_of_vm_creation_across_regions_alerts,
    role_assignments_to_new_principals_alert,
    deleting_diagnostic_settings_alerts,
    first_activity_from_a_high_risk_country_alerts,
    another_tenant_cannot_see_activity_alerts,
    the_rules_route_reports_the_shipped_set,
);
