//! Notices, cases and playbooks end to end against the fake Partner Center: a signed fraud
//! webhook becomes a notice and a case, the playbook suspends the subscription through the
//! outbox (once, through 429 and 500), the analyst resolves the case and the vendor's event is
//! marked Resolved/Fraud; forged webhooks, malformed events, unknown subscriptions, deadline
//! breaches and refused transitions.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_connectors::{
    Retrier, RetryPolicy,
    partner_center::{
        HttpPartnerCenter,
        testing::{FakePartnerCenter, FakeReply},
        webhook::WebhookVerifier,
    },
};
use tollgate_core::{ActionId, clock::SystemClock, outbox::ActionKind, tenancy::Role};
use tollgate_server::{Connectors, outbox::Worker};
use tollgate_store::NewAction;

use crate::{
    console::{Browser, csrf},
    harness::{Engine, TestApp},
};

const VENDOR_CUSTOMER: &str = "ms-cust-1";
const AZURE_SUB: &str = "azure-sub-1";

async fn start(engine: Engine) -> Option<(TestApp, FakePartnerCenter)> {
    let fake = FakePartnerCenter::start().await;
    // One try per outbox attempt: the outbox's backoff, which survives restarts, paces retries.
    let retrier = Retrier::new(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    });
    let pc = HttpPartnerCenter::new(fake.config(), retrier).unwrap();
    let verifier = WebhookVerifier::new(fake.webhook_config(), Arc::new(SystemClock)).unwrap();
    let connectors = Connectors {
        partner_center: Some(Arc::new(pc)),
        partner_center_webhooks: Some(Arc::new(verifier)),
        ..Connectors::default()
    };
    Some((TestApp::start_with(engine, connectors).await?, fake))
}

macro_rules! with_fake {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let (app, fake) = super::start(super::Engine::Sqlite).await.unwrap();
                super::$case(&app, &fake).await;
            }

            #[tokio::test]
            async fn postgres() {
                match super::start(super::Engine::Postgres).await {
                    Some((app, fake)) => super::$case(&app, &fake).await,
                    None => eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set"),
                }
            }
        }
    )+};
}

fn fraud_event(id: &str, subscription: &str, status: &str) -> Value {
    json!({
        "eventTime": "2026-11-02T08:30:00Z",
        "eventId": id,
        "customerTenantId": VENDOR_CUSTOMER,
        "subscriptionId": subscription,
        "hitCount": "31",
        "eventStatus": status,
        "resolvedReason": "None",
        "firstObserved": "2026-11-02T08:00:00Z",
        "lastObserved": "9999-12-31T23:59:59.9970000",
        "eventType": "NetworkConnectionsToCryptoMiningPools",
        "severity": "High",
        "confidenceLevel": "High",
        "displayName": "Connections to crypto-mining pools",
        "affectedResources": [{"resourceId": "/subscriptions/azure-sub-1/vm/miner-1"}],
        "additionalDetails": {"connectionCount": "31"}
    })
}

/// A customer (trust tier `new`) with the Azure plan subscription the fake knows.
async fn customer_with_subscription(app: &TestApp, fake: &FakePartnerCenter) -> (String, String) {
    let customer = app.customer(&app.a, "contoso").await;
    let subscription = app.subscription(&app.a, &customer, AZURE_SUB).await;
    fake.put_subscription(VENDOR_CUSTOMER, AZURE_SUB, "active");
    (customer, subscription)
}

fn webhook_body(fake: &FakePartnerCenter, subscription: &str) -> String {
    json!({
        "EventName": "azure-fraud-event-detected",
        "ResourceUri": format!("{}/v1/fraudEvents?subscriptionId={subscription}", fake.base_url()),
        "ResourceName": subscription,
        "AuditUri": null,
        "ResourceChangeUtcDate": "2026-11-02T08:59:00.1234567+00:00"
    })
    .to_string()
}

async fn deliver_webhook(
    app: &TestApp,
    body: &str,
    headers: reqwest::header::HeaderMap,
) -> (StatusCode, Value) {
    let request = app
        .request(
            Method::POST,
            &format!("/v1/connectors/partner-center/events/{}", app.a.id),
            None,
        )
        .headers(headers)
        .header("content-type", "application/json")
        .body(body.to_owned());
    crate::harness::send(request).await
}

async fn signed_webhook(app: &TestApp, fake: &FakePartnerCenter, subscription: &str) -> Value {
    let body = webhook_body(fake, subscription);
    let (status, answer) = deliver_webhook(app, &body, fake.sign_webhook(body.as_bytes())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    answer
}

async fn drain(app: &TestApp) -> tollgate_server::outbox::Pass {
    Worker::new(app.state.clone()).drain().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path, app.a.key(Role::Viewer)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn only_action(app: &TestApp, kind: &str) -> ActionId {
    let page = get(app, &format!("/v1/actions?kind={kind}")).await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{page}");
    data[0]["id"].as_str().unwrap().parse().unwrap()
}

async fn audit(app: &TestApp) -> Vec<Value> {
    get(app, "/v1/audit?limit=1000").await["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn patches(
    fake: &FakePartnerCenter,
) -> Vec<tollgate_connectors::partner_center::testing::Recorded> {
    fake.received_at(
        Method::PATCH,
        &format!("/v1/customers/{VENDOR_CUSTOMER}/subscriptions/{AZURE_SUB}"),
    )
}

/// The acceptance path, with `failures` scripted on the vendor's subscription write first.
async fn fraud_webhook_to_resolution(app: &TestApp, fake: &FakePartnerCenter, failures: &[u16]) {
    let (customer, subscription) = customer_with_subscription(app, fake).await;
    fake.set_fraud_events(vec![fraud_event("evt-1", AZURE_SUB, "Active")]);
    let path = format!("/v1/customers/{VENDOR_CUSTOMER}/subscriptions/{AZURE_SUB}");
    for status in failures {
        fake.inject(
            Method::PATCH,
            &path,
            FakeReply::error(*status, 0, "scripted"),
        );
    }

    let answer = signed_webhook(app, fake, AZURE_SUB).await;
    assert_eq!(answer["notices"], 1, "{answer}");
    assert_eq!(answer["actions"], 1, "{answer}");

    let notices = get(app, "/v1/notices").await;
    let notice = &notices["data"][0];
    assert_eq!(notice["kind"], "crypto_mining");
    assert_eq!(notice["severity"], "high");
    assert_eq!(notice["confidence"], "high");
    assert_eq!(notice["customer_id"], customer.as_str());
    assert_eq!(notice["vendor_event_id"], "evt-1");
    assert_eq!(notice["respond_by"], "2026-11-03T09:00:00Z");
    let case_id = notice["case_id"].as_str().unwrap().to_owned();
    let case = get(app, &format!("/v1/cases/{case_id}")).await;
    assert_eq!(case["state"], "actioned", "{case}");
    assert_eq!(case["unmatched"], false);
    assert_eq!(case["vendor_event_ids"], json!(["evt-1"]));
    assert!(
        case["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "action"
                && e["data"]["by"]["playbook"]["label"] == "playbook-default-2026-11"),
        "{case}"
    );
    let sub = get(app, &format!("/v1/subscriptions/{subscription}")).await;
    assert_eq!(sub["status"], "suspended", "{sub}");

    // The same event again (the vendor retries its webhook): one notice, one suspension.
    let again = signed_webhook(app, fake, AZURE_SUB).await;
    assert_eq!(again["duplicates"], 1, "{again}");
    assert_eq!(
        get(app, "/v1/notices").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let action = only_action(app, "subscription_status").await;
    for _ in failures {
        assert_eq!(drain(app).await.retrying, 1);
        app.clock.advance(chrono::Duration::minutes(10));
    }
    assert_eq!(drain(app).await.delivered, 1);
    assert_eq!(drain(app).await.attempted, 0);
    let sent = patches(fake);
    assert_eq!(sent.len(), failures.len() + 1);
    for request in &sent {
        assert_eq!(
            request.header("ms-requestid"),
            Some(action.uuid().to_string().as_str()),
            "every attempt carries the action id as MS-RequestId"
        );
        assert_eq!(request.json()["status"], "suspended");
    }
    assert_eq!(
        fake.subscription(VENDOR_CUSTOMER, AZURE_SUB).unwrap()["status"],
        "suspended"
    );

    let (status, resolved) = app
        .post(
            &format!("/v1/cases/{case_id}/resolve"),
            app.a.key(Role::Analyst),
            json!({"outcome": "fraud", "note": "miner on a stolen card"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["outcome"], "fraud");
    assert_eq!(drain(app).await.delivered, 1);
    let updates = fake.received_at(
        Method::POST,
        &format!("/v1/fraudEvents/subscription/{AZURE_SUB}/status"),
    );
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].json(),
        json!({"EventIds": ["evt-1"], "EventStatus": "Resolved", "ResolvedReason": "Fraud"})
    );
    assert_eq!(fake.fraud_events()[0]["eventStatus"], "Resolved");
    assert_eq!(fake.fraud_events()[0]["resolvedReason"], "Fraud");

    let trail = audit(app).await;
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "notice.received",
        "case.opened",
        "case.linked",
        "subscription.suspended",
        "case.actioned",
        "action.delivered",
        "case.resolved",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let suspended = trail
        .iter()
        .find(|e| e["action"] == "subscription.suspended")
        .unwrap();
    assert_eq!(
        suspended["data"]["by"]["playbook"]["label"],
        "playbook-default-2026-11"
    );
    assert_eq!(
        suspended["data"]["by"]["playbook"]["rule"],
        "crypto-mining-new-customer"
    );
}

async fn crypto_mining_webhook_suspends_and_resolution_reaches_the_vendor(
    app: &TestApp,
    fake: &FakePartnerCenter,
) {
    fraud_webhook_to_resolution(app, fake, &[]).await;
}

async fn the_vendor_failing_429_then_500_still_suspends_exactly_once(
    app: &TestApp,
    fake: &FakePartnerCenter,
) {
    fraud_webhook_to_resolution(app, fake, &[429, 500]).await;
}

async fn nothing_is_stored(app: &TestApp) {
    assert_eq!(get(app, "/v1/notices").await["data"], json!([]));
    assert_eq!(get(app, "/v1/cases").await["data"], json!([]));
    let mut tx = app.store.read().await.unwrap();
    assert!(
        tx.quarantined_vendor_events(app.a.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_forged_webhook_is_refused_and_nothing_is_stored(
    app: &TestApp,
    fake: &FakePartnerCenter,
) {
    customer_with_subscription(app, fake).await;
    fake.set_fraud_events(vec![fraud_event("evt-1", AZURE_SUB, "Active")]);
    let body = webhook_body(fake, AZURE_SUB);
    let signed_for_other = fake.sign_webhook(b"{\"EventName\": \"test-created\"}");
    let before = audit(app).await.len();
    let (status, problem) = deliver_webhook(app, &body, signed_for_other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(problem["type"], "/problems/bad-signature");
    let (status, _) = deliver_webhook(app, &body, reqwest::header::HeaderMap::new()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    nothing_is_stored(app).await;
    assert_eq!(audit(app).await.len(), before);
    assert!(fake.received_at(Method::GET, "/v1/fraudEvents").is_empty());
}

async fn a_malformed_fraud_event_is_quarantined(app: &TestApp, fake: &FakePartnerCenter) {
    customer_with_subscription(app, fake).await;
    let mut bad = fraud_event("evt-bad", AZURE_SUB, "Active");
    bad["hitCount"] = json!("a great many");
    fake.set_fraud_events(vec![bad]);
    let answer = signed_webhook(app, fake, AZURE_SUB).await;
    assert_eq!(answer["quarantined"], 1, "{answer}");
    assert_eq!(answer["notices"], 0);
    let mut tx = app.store.read().await.unwrap();
    let kept = tx.quarantined_vendor_events(app.a.id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].raw.contains("evt-bad"), "{kept:?}");
    assert!(kept[0].reason.contains("hitCount"), "{kept:?}");
    drop(tx);
    assert_eq!(get(app, "/v1/notices").await["data"], json!([]));
}

async fn an_unknown_subscription_keeps_the_notice_in_an_unmatched_case(
    app: &TestApp,
    fake: &FakePartnerCenter,
) {
    fake.set_fraud_events(vec![fraud_event("evt-9", "azure-unknown", "Active")]);
    let answer = signed_webhook(app, fake, "azure-unknown").await;
    assert_eq!(answer["notices"], 1, "{answer}");
    assert_eq!(answer["actions"], 0, "{answer}");
    let notice = &get(app, "/v1/notices").await["data"][0];
    assert_eq!(notice["customer_id"], Value::Null);
    assert_eq!(notice["vendor_subscription_id"], "azure-unknown");
    let case = get(
        app,
        &format!("/v1/cases/{}", notice["case_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(case["unmatched"], true, "{case}");
    assert_eq!(case["customer_id"], Value::Null);
    assert_eq!(case["state"], "open");
    assert!(
        fake.received_at(
            Method::PATCH,
            "/v1/customers/ms-cust-1/subscriptions/azure-unknown"
        )
        .is_empty()
    );
}

async fn abuse_notice(app: &TestApp, customer: &str) -> Value {
    let (status, taken) = app
        .post(
            "/v1/notices",
            app.a.key(Role::Analyst),
            json!({"kind": "abuse", "severity": "high", "customer_id": customer,
                   "summary": "Outbound SSH brute force from 20.1.2.3",
                   "resources": [{"ip": "20.1.2.3"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{taken}");
    taken
}

/// Notices arriving at the same moment for one customer land in one case, on PostgreSQL too,
/// where the requests run in parallel.
async fn simultaneous_notices_share_one_case(app: &TestApp, _fake: &FakePartnerCenter) {
    let customer = app.customer(&app.a, "busy").await;
    let taken = tokio::join!(
        abuse_notice(app, &customer),
        abuse_notice(app, &customer),
        abuse_notice(app, &customer),
        abuse_notice(app, &customer),
    );
    let taken = [taken.0, taken.1, taken.2, taken.3];
    let cases: std::collections::BTreeSet<&str> = taken
        .iter()
        .map(|t| t["case"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(cases.len(), 1, "{taken:?}");
    let listed = get(app, &format!("/v1/cases?customer_id={customer}")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
}

async fn a_breached_deadline_raises_one_alert(app: &TestApp, _fake: &FakePartnerCenter) {
    let customer = app.customer(&app.a, "fabrikam").await;
    let taken = abuse_notice(app, &customer).await;
    let case_id = taken["case"]["id"].as_str().unwrap().to_owned();
    assert_eq!(taken["case"]["deadline_at"], "2026-11-03T09:00:00Z");
    assert_eq!(taken["plan"]["rule"], "vendor-notice");
    assert_eq!(
        tollgate_server::jobs::cases::breaches(&app.state)
            .await
            .unwrap(),
        0
    );
    app.clock.advance(chrono::Duration::hours(25));
    let overdue = get(app, "/v1/cases?overdue=true").await;
    assert_eq!(overdue["data"].as_array().unwrap().len(), 1, "{overdue}");
    assert_eq!(
        tollgate_server::jobs::cases::breaches(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tollgate_server::jobs::cases::breaches(&app.state)
            .await
            .unwrap(),
        0
    );
    let alerts = get(app, "/v1/alerts?kind=case_deadline").await;
    let data = alerts["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{alerts}");
    assert_eq!(data[0]["details"]["case_id"], case_id.as_str());
    let case = get(app, &format!("/v1/cases/{case_id}")).await;
    assert_eq!(case["overdue"], true);
    assert_eq!(case["breach_alert_id"], data[0]["id"]);
    assert!(
        case["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "deadline_breached")
    );
    // The alert joined no case of its own: the customer's case is the one it is about.
    assert_eq!(
        get(app, "/v1/cases").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn case_transitions_are_refused_once_resolved(app: &TestApp, fake: &FakePartnerCenter) {
    let analyst = app.a.key(Role::Analyst);
    let customer = app.customer(&app.a, "northwind").await;
    let subscription = app.subscription(&app.a, &customer, "nw-sub").await;
    let other = app.customer(&app.a, "other").await;
    let others_sub = app.subscription(&app.a, &other, "other-sub").await;
    let taken = abuse_notice(app, &customer).await;
    let case = taken["case"]["id"].as_str().unwrap().to_owned();
    let at = |what: &str| format!("/v1/cases/{case}/{what}");

    let (status, assigned) = app
        .post(
            &at("assign"),
            analyst,
            json!({"assignee": "jane@reseller.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["state"], "investigating");
    let (status, listed) = app
        .get(
            "/v1/cases?assignee=jane@reseller.example&state=investigating",
            analyst,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let (status, problem) = app
        .post(
            &at("act"),
            analyst,
            json!({"action": "suspend_subscription", "subscription_id": others_sub}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "subscription_id");
    let (status, problem) = app
        .post(
            &at("act"),
            analyst,
            json!({"action": "cancel_azure_entitlement", "subscription_id": subscription}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "entitlement_id");
    let (status, acted) = app
        .post(
            &at("act"),
            analyst,
            json!({"action": "cancel_azure_entitlement", "subscription_id": subscription,
                   "entitlement_id": "azure-sub-under-plan", "reason": "abuse confirmed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acted}");
    assert_eq!(acted["state"], "actioned");
    let entitlement = only_action(app, "azure_entitlement").await;
    assert_eq!(drain(app).await.delivered, 1);
    let cancels = fake_cancels(fake);
    assert_eq!(cancels.len(), 1);
    assert_eq!(
        cancels[0].header("ms-requestid"),
        Some(entitlement.uuid().to_string().as_str())
    );

    let (status, resolved) = app
        .post(&at("resolve"), analyst, json!({"outcome": "abuse"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    // Not a vendor fraud event: nothing to tell the vendor.
    assert_eq!(
        get(app, "/v1/actions?kind=fraud_event_status").await["data"],
        json!([])
    );
    for (what, body) in [
        ("resolve", json!({"outcome": "false_positive"})),
        ("assign", json!({"assignee": "joe"})),
        (
            "act",
            json!({"action": "suspend_subscription", "subscription_id": subscription}),
        ),
    ] {
        let (status, problem) = app.post(&at(what), analyst, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{what}: {problem}");
    }
    let (status, commented) = app
        .post(
            &at("comment"),
            analyst,
            json!({"body": "customer informed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{commented}");
    assert_eq!(
        commented["timeline"].as_array().unwrap().last().unwrap()["kind"],
        "comment"
    );
    let (status, _) = app
        .post(
            &at("resolve"),
            app.a.key(Role::Viewer),
            json!({"outcome": "fraud"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

fn fake_cancels(
    fake: &FakePartnerCenter,
) -> Vec<tollgate_connectors::partner_center::testing::Recorded> {
    fake.received()
        .into_iter()
        .filter(|r| {
            r.method == Method::POST
                && r.path
                    .ends_with("/azureEntitlements/azure-sub-under-plan/cancel")
        })
        .collect()
}

async fn a_published_playbook_decides_and_is_named(app: &TestApp, fake: &FakePartnerCenter) {
    let analyst = app.a.key(Role::Analyst);
    let mut playbook: Value = serde_json::from_str(include_str!(
        "../../../tollgate-core/policies/playbook-default.json"
    ))
    .unwrap();
    playbook["version"] = json!("cautious-1");
    playbook["rules"][0]["actions"] = json!(["open_case"]);
    let (status, published) = app
        .post(
            "/v1/playbooks",
            analyst,
            json!({"playbook": playbook, "status": "active"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
    assert_eq!(published["version"], 1);
    let (status, again) = app
        .post("/v1/playbooks", analyst, json!({"playbook": playbook}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let mut broken = playbook.clone();
    broken["version"] = json!("broken");
    broken["rules"][0]["kinds"] = json!(["nonsense"]);
    let (status, problem) = app
        .post("/v1/playbooks", analyst, json!({"playbook": broken}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "playbook.rules[0].kinds[0]");
    assert_eq!(
        get(app, "/v1/playbooks/active").await["label"],
        "cautious-1"
    );

    let (_, subscription) = customer_with_subscription(app, fake).await;
    fake.set_fraud_events(vec![fraud_event("evt-2", AZURE_SUB, "Active")]);
    let answer = signed_webhook(app, fake, AZURE_SUB).await;
    assert_eq!(answer["actions"], 0, "{answer}");
    assert_eq!(
        get(app, &format!("/v1/subscriptions/{subscription}")).await["status"],
        "active"
    );
    let received = audit(app)
        .await
        .into_iter()
        .find(|e| e["action"] == "notice.received")
        .unwrap();
    assert_eq!(received["data"]["playbook"]["version"], 1);
    assert_eq!(received["data"]["playbook"]["label"], "cautious-1");

    let (status, retired) = app
        .post(
            "/v1/playbooks/1/status",
            analyst,
            json!({"status": "inactive"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retired}");
    assert_eq!(get(app, "/v1/playbooks/active").await["status"], "shipped");
    let versions = get(app, "/v1/playbooks").await;
    assert_eq!(versions.as_array().unwrap().len(), 1);
}

async fn the_poller_takes_in_events_the_webhook_missed_once(
    app: &TestApp,
    fake: &FakePartnerCenter,
) {
    let (_, subscription) = customer_with_subscription(app, fake).await;
    fake.set_fraud_events(vec![
        fraud_event("evt-polled", AZURE_SUB, "Active"),
        fraud_event("evt-closed", AZURE_SUB, "Resolved"),
    ]);
    let poll = || tollgate_server::jobs::vendor_events::poll(&app.state, app.a.id);
    let first = poll().await.unwrap();
    assert_eq!((first.notices, first.actions, first.duplicates), (1, 1, 0));
    let second = poll().await.unwrap();
    assert_eq!((second.notices, second.duplicates), (0, 1));
    let late = signed_webhook(app, fake, AZURE_SUB).await;
    assert_eq!(late["duplicates"], 1, "{late}");
    let notices = get(app, "/v1/notices").await;
    assert_eq!(notices["data"].as_array().unwrap().len(), 1, "{notices}");
    assert_eq!(notices["data"][0]["vendor_event_id"], "evt-polled");
    assert_eq!(
        get(app, &format!("/v1/subscriptions/{subscription}")).await["status"],
        "suspended"
    );
}

async fn other_vendor_events_fetch_their_resource_onto_the_audit_chain(
    app: &TestApp,
    fake: &FakePartnerCenter,
) {
    let resource = format!("/v1/customers/{VENDOR_CUSTOMER}/subscriptions/{AZURE_SUB}");
    fake.put_subscription(VENDOR_CUSTOMER, AZURE_SUB, "suspended");
    let body = json!({
        "EventName": "subscription-updated",
        "ResourceUri": format!("{}{resource}", fake.base_url()),
        "ResourceName": AZURE_SUB,
        "ResourceChangeUtcDate": "2026-11-02T08:59:00Z"
    })
    .to_string();
    let (status, answer) = deliver_webhook(app, &body, fake.sign_webhook(body.as_bytes())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(fake.received_at(Method::GET, &resource).len(), 1);
    let received = audit(app)
        .await
        .into_iter()
        .find(|e| e["action"] == "vendor_event.received")
        .unwrap();
    assert_eq!(received["data"]["event"], "subscription-updated");
    assert_eq!(received["data"]["resource"]["status"], "suspended");
    // A resource URI off the configured API is never fetched.
    let foreign = json!({
        "EventName": "invoice-ready",
        "ResourceUri": "https://evil.example/v1/invoices/1",
        "ResourceChangeUtcDate": "2026-11-02T08:59:00Z"
    })
    .to_string();
    let (status, answer) =
        deliver_webhook(app, &foreign, fake.sign_webhook(foreign.as_bytes())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["quarantined"], 1);
    let mut tx = app.store.read().await.unwrap();
    let kept = tx.quarantined_vendor_events(app.a.id).await.unwrap();
    assert!(kept[0].reason.contains("evil.example"), "{kept:?}");
}

async fn enqueue(app: &TestApp, kind: ActionKind, object_id: &str, payload: Value) -> ActionId {
    let id = ActionId::generate();
    let now = app.state.now();
    let mut tx = app.store.begin().await.unwrap();
    tx.enqueue_action(
        app.a.id,
        &NewAction {
            id,
            kind,
            source: "test".into(),
            object_id: object_id.to_owned(),
            payload,
            not_before: now,
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn budgets_reach_the_vendor_and_refusals_are_final(app: &TestApp, fake: &FakePartnerCenter) {
    // Without a vendor customer id on the action, the customer's external id names it.
    let customer = app.customer(&app.a, "budget-customer").await;
    let budget = enqueue(
        app,
        ActionKind::SpendingBudget,
        &customer,
        json!({"customer_id": customer, "amount": {"amount": "250.00", "currency": "EUR"}}),
    )
    .await;
    assert_eq!(drain(app).await.delivered, 1);
    assert_eq!(
        fake.budget("budget-customer").unwrap()["amount"],
        json!(250)
    );
    let sent = fake.received_at(Method::PATCH, "/v1/customers/budget-customer/usagebudget");
    assert_eq!(
        sent[0].header("ms-requestid"),
        Some(budget.uuid().to_string().as_str())
    );
    // Partner Center does not know the subscription: trying again cannot help.
    let unknown = enqueue(
        app,
        ActionKind::SubscriptionStatus,
        &customer,
        json!({"customer_id": customer, "vendor_subscription_id": "no-such-sub",
               "status": "suspended"}),
    )
    .await;
    assert_eq!(drain(app).await.dead, 1);
    let action = get(app, &format!("/v1/actions/{unknown}")).await;
    assert_eq!(action["status"], "dead", "{action}");
}

/// What a dunning `terminate` step enqueues for the fake's subscription.
async fn terminate(app: &TestApp, customer: &str) -> ActionId {
    enqueue(
        app,
        ActionKind::SubscriptionStatus,
        customer,
        json!({"customer_id": customer, "vendor_customer_id": VENDOR_CUSTOMER,
               "vendor_subscription_id": AZURE_SUB, "status": "terminated"}),
    )
    .await
}

/// A dunning `terminate` reaches Partner Center as a cancellation (`status: deleted`); after
/// the offer's cancellation window Partner Center refuses, and the action ends `dead` with its
/// message for a person to act on.
async fn termination_cancels_at_the_vendor_and_a_closed_window_is_final(
    app: &TestApp,
    fake: &FakePartnerCenter,
) {
    let (customer, _) = customer_with_subscription(app, fake).await;
    let cancel = terminate(app, &customer).await;
    assert_eq!(drain(app).await.delivered, 1);
    assert_eq!(
        fake.subscription(VENDOR_CUSTOMER, AZURE_SUB).unwrap()["status"],
        "deleted"
    );
    let path = format!("/v1/customers/{VENDOR_CUSTOMER}/subscriptions/{AZURE_SUB}");
    let sent = fake.received_at(Method::PATCH, &path);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["status"], "deleted");
    assert_eq!(
        sent[0].header("ms-requestid"),
        Some(cancel.uuid().to_string().as_str())
    );

    fake.put_subscription(VENDOR_CUSTOMER, AZURE_SUB, "active");
    fake.inject(
        Method::PATCH,
        &path,
        FakeReply::error(
            400,
            800_002,
            "Subscription cannot be cancelled after the cancellation window",
        ),
    );
    let refused = terminate(app, &customer).await;
    assert_eq!(drain(app).await.dead, 1);
    let action = get(app, &format!("/v1/actions/{refused}")).await;
    assert_eq!(action["status"], "dead", "{action}");
    assert!(
        action.to_string().contains("cancellation window"),
        "the vendor's reason is kept: {action}"
    );
    assert_eq!(
        fake.subscription(VENDOR_CUSTOMER, AZURE_SUB).unwrap()["status"],
        "active"
    );
}

/// An analyst works a vendor's fraud case from the console: assigns it, comments, cancels the
/// Azure entitlement, then resolves it; the cancellation and the resolution reach the vendor
/// like ones over the API. A viewer gets no forms.
async fn an_analyst_works_a_case_in_the_console(app: &TestApp, fake: &FakePartnerCenter) {
    let (_, subscription) = customer_with_subscription(app, fake).await;
    fake.set_fraud_events(vec![fraud_event("evt-1", AZURE_SUB, "Active")]);
    signed_webhook(app, fake, AZURE_SUB).await;
    drain(app).await;
    let case_id = get(app, "/v1/cases").await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut viewer = Browser::new(app);
    viewer.signed_in(app.a.key(Role::Viewer)).await;
    let page = viewer.get(&format!("/console/cases/{case_id}")).await;
    assert!(page.html.contains("badge actioned"), "{}", page.html);
    assert!(
        !page.html.contains("/assign\""),
        "a viewer sees no case forms"
    );
    let refused = viewer
        .post(
            &format!("/console/cases/{case_id}/assign"),
            &[("csrf", &csrf(&page.html)), ("assignee", "mallory")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut analyst = Browser::new(app);
    analyst.signed_in(app.a.key(Role::Analyst)).await;
    let overview = analyst.get("/console").await;
    assert!(
        overview
            .html
            .contains(&format!("/console/cases/{case_id}\"")),
        "the overview links the case: {}",
        overview.html
    );
    let page = analyst.get(&format!("/console/cases/{case_id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("evt-1"),
        "the vendor's event: {}",
        page.html
    );
    assert!(
        page.html
            .contains(&format!("/console/cases/{case_id}/resolve")),
        "{}",
        page.html
    );
    let token = csrf(&page.html);
    let assigned = analyst
        .post(
            &format!("/console/cases/{case_id}/assign"),
            &[("csrf", &token), ("assignee", "  dana@reseller.example ")],
        )
        .await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER, "{}", assigned.html);
    assert_eq!(
        get(app, &format!("/v1/cases/{case_id}")).await["assignee"],
        "dana@reseller.example"
    );
    let commented = analyst
        .post(
            &format!("/console/cases/{case_id}/comment"),
            &[
                ("csrf", &token),
                ("body", "Called the bank; card reported stolen."),
            ],
        )
        .await;
    assert_eq!(
        commented.status,
        StatusCode::SEE_OTHER,
        "{}",
        commented.html
    );
    let timeline = get(app, &format!("/v1/cases/{case_id}")).await["timeline"].to_string();
    assert!(timeline.contains("card reported stolen"), "{timeline}");
    let page = analyst.get(&format!("/console/cases/{case_id}")).await;
    assert!(
        page.html.contains("Called the bank; card reported stolen."),
        "the timeline shows the comment: {}",
        page.html
    );
    assert!(
        page.html
            .contains(&format!("<option value=\"{subscription}\">")),
        "the act form offers the customer's subscription: {}",
        page.html
    );
    let act = |entitlement: &'static str| {
        [
            ("csrf", token.as_str()),
            ("action", "cancel_azure_entitlement"),
            ("subscription_id", subscription.as_str()),
            ("entitlement_id", entitlement),
            ("reason", "Mining on a stolen card"),
        ]
    };
    let refused = analyst
        .post(&format!("/console/cases/{case_id}/act"), &act(" "))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(refused.html.contains("entitlement_id"), "{}", refused.html);
    let acted = analyst
        .post(
            &format!("/console/cases/{case_id}/act"),
            &act("azure-sub-under-plan"),
        )
        .await;
    assert_eq!(acted.status, StatusCode::SEE_OTHER, "{}", acted.html);
    let entitlement = only_action(app, "azure_entitlement").await;
    drain(app).await;
    let cancels = fake_cancels(fake);
    assert_eq!(cancels.len(), 1);
    assert_eq!(
        cancels[0].header("ms-requestid"),
        Some(entitlement.uuid().to_string().as_str())
    );
    let page = analyst.get(&format!("/console/cases/{case_id}")).await;
    assert!(
        page.html.contains("change: entitlement_cancel"),
        "the timeline shows the action: {}",
        page.html
    );
    // Nested details read as JSON, and a missing value as a dash, not as "None".
    assert!(
        page.html.contains("by: <code>{\"playbook\":") && page.html.contains("from: –;"),
        "{}",
        page.html
    );

    let resolved = analyst
        .post(
            &format!("/console/cases/{case_id}/resolve"),
            &[
                ("csrf", &token),
                ("outcome", "fraud"),
                ("note", "Card ring, confirmed by the bank."),
            ],
        )
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.html);
    let case = get(app, &format!("/v1/cases/{case_id}")).await;
    assert_eq!(
        (&case["state"], &case["outcome"]),
        (&json!("resolved"), &json!("fraud")),
        "{case}"
    );
    only_action(app, "fraud_event_status").await;
    assert!(
        audit(app)
            .await
            .iter()
            .any(|e| e["action"] == "case.resolved")
    );

    // A resolved case is final, in the console as over the API.
    let again = analyst
        .post(
            &format!("/console/cases/{case_id}/resolve"),
            &[("csrf", &token), ("outcome", "paid"), ("note", "")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
}

with_fake!(
    an_analyst_works_a_case_in_the_console,
    simultaneous_notices_share_one_case,
    termination_cancels_at_the_vendor_and_a_closed_window_is_final,
    crypto_mining_webhook_suspends_and_resolution_reaches_the_vendor,
    the_vendor_failing_429_then_500_still_suspends_exactly_once,
    a_forged_webhook_is_refused_and_nothing_is_stored,
    a_malformed_fraud_event_is_quarantined,
    an_unknown_subscription_keeps_the_notice_in_an_unmatched_case,
    a_breached_deadline_raises_one_alert,
    case_transitions_are_refused_once_resolved,
    a_published_playbook_decides_and_is_named,
    the_poller_takes_in_events_the_webhook_missed_once,
    other_vendor_events_fetch_their_resource_onto_the_audit_chain,
    budgets_reach_the_vendor_and_refusals_are_final,
);
