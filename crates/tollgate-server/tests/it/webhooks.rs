//! Outbound webhooks end to end: endpoints subscribe, events published with the state change
//! reach a real HTTP receiver signed per Standard Webhooks (checked by the specification's own
//! Python library, not only by our code), failures are retried with backoff, a day of failures
//! disables the endpoint with an alert, and a re-send keeps the `webhook-id`.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode as AxumStatus},
    response::IntoResponse,
    routing::post,
};
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_core::{WebhookId, tenancy::Role, webhooks::EndpointStatus};
use tollgate_server::outbox::{Pass, Worker};
use tollgate_store::WebhookRow;

use crate::{
    harness::{Engine, TestApp},
    on_both_engines,
};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A status to answer with, and a `Retry-After` value.
type Answer = (u16, Option<&'static str>);

/// A webhook receiver on a local port: records every request and answers from its plan
/// (status and `Retry-After`), then with `otherwise`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    plan: Arc<Mutex<VecDeque<Answer>>>,
    otherwise: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start(plan: &[Answer], otherwise: u16) -> (Receiver, String) {
        let receiver = Receiver {
            plan: Arc::new(Mutex::new(plan.iter().copied().collect())),
            otherwise: Arc::new(Mutex::new(otherwise)),
            ..Receiver::default()
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn answer_from_now_on(&self, status: u16) {
        *self.otherwise.lock().unwrap() = status;
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    receiver.got.lock().unwrap().push(Received {
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect(),
        body,
    });
    let planned = receiver.plan.lock().unwrap().pop_front();
    let (status, retry_after) = planned.unwrap_or((*receiver.otherwise.lock().unwrap(), None));
    let mut response = AxumStatus::from_u16(status).unwrap().into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.parse().unwrap());
    }
    response
}

/// The official `standardwebhooks` package verifies each message; the receiver's clock is set
/// to the test's clock (the timestamps are the server's injectable clock), everything else is
/// the library's own code.
const VERIFIER: &str = r#"
import json, sys
from datetime import datetime, timezone
import standardwebhooks.webhooks as sw

job = json.loads(sys.argv[1])
frozen = datetime.fromtimestamp(job["now"], tz=timezone.utc)

class ReceiverClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return frozen

sw.datetime = ReceiverClock
hook = sw.Webhook(job["secret"])
results = []
for message in job["messages"]:
    try:
        hook.verify(message["body"], message["headers"])
        results.append("verified")
    except sw.WebhookVerificationError as error:
        results.append(f"rejected: {error}")
print(json.dumps(results))
"#;

/// Whether the independent verifier can run. In CI (`TOLLGATE_CI` set) it must.
async fn verifier_available() -> bool {
    let found = tokio::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .await
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            std::env::var_os("TOLLGATE_CI").is_none(),
            "CI must verify webhook signatures independently: install python3 and \
             `python3 -m pip install standardwebhooks` (.ci/run does)"
        );
        eprintln!(
            "\n!!!!! SKIPPED the independent Standard Webhooks verification: python3 with the \
             `standardwebhooks` package is missing (python3 -m pip install standardwebhooks) !!!!!\n"
        );
    }
    found
}

/// Runs the Python verifier over `messages`; one verdict per message.
async fn verify_independently(app: &TestApp, secret: &str, messages: &[Received]) -> Vec<String> {
    let job = json!({
        "now": app.state.now().timestamp(),
        "secret": secret,
        "messages": messages.iter().map(|m| json!({
            "body": m.body,
            "headers": m.headers.iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    });
    let job = job.to_string();
    let out = tokio::process::Command::new("python3")
        .args(["-c", VERIFIER, job.as_str()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn drain(app: &TestApp) -> Pass {
    Worker::new(app.state.clone()).drain().await.unwrap()
}

/// Creates an endpoint of tenant A; returns its id and secret.
async fn endpoint(app: &TestApp, url: &str, event_types: Value) -> (String, String) {
    let (status, created) = app
        .post(
            "/v1/webhooks",
            app.a.key(Role::Admin),
            json!({"url": url, "event_types": event_types, "description": "risk desk"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (created["id"].as_str().unwrap().to_owned(), secret)
}

async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            &format!("/v1/webhooks/{endpoint}/deliveries"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

fn outcomes(delivery: &Value) -> Vec<&str> {
    delivery["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect()
}

async fn suspend(app: &TestApp, subscription: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/subscriptions/{subscription}/suspend"),
            app.a.key(Role::Admin),
            json!({"reason": "card reported stolen"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_decision_and_an_alert_reach_the_endpoint_signed(app: &TestApp) {
    let (receiver, url) = Receiver::start(&[], 200).await;
    let (id, secret) = endpoint(app, &url, json!(["decision.created", "alert.created"])).await;
    let (_, shown) = app
        .get(&format!("/v1/webhooks/{id}"), app.a.key(Role::Viewer))
        .await;
    assert_eq!(shown["status"], "enabled");
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );

    let customer = app.customer(&app.a, "webhook-card").await;
    let (status, card) = app
        .post(
            &format!("/v1/customers/{customer}/payment_methods"),
            app.a.key(Role::Admin),
            json!({"bin": "411111", "last4": "4242", "fingerprint": "webhook-card",
                   "exp_month": 12, "exp_year": 2029, "country": "DE",
                   "cvc_check": "pass", "avs_check": "pass", "three_ds": "authenticated"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{card}");
    let subscription = app.subscription(&app.a, &customer, "webhook-sub").await;
    let (status, _) = app
        .post(
            "/v1/budgets",
            app.a.key(Role::Admin),
            json!({"scope": {"kind": "customer", "customer_id": customer},
                   "amount": {"amount": "10.00", "currency": "EUR"}, "period": {"kind": "monthly"},
                   "thresholds": [{"percent": 100, "basis": "actual", "action": "notify"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, ingested) = app
        .post(
            "/v1/usage",
            app.a.key(Role::Admin),
            json!([{"subscription": subscription, "record_id": "webhook-usage",
                    "meter": "Virtual Machines/D2s v5", "resource_id": "vm",
                    "region": "westeurope", "quantity": "1", "unit": "1 Hour",
                    "cost": "20.00", "currency": "EUR",
                    "usage_start": "2026-11-02T07:00:00Z", "usage_end": "2026-11-02T08:00:00Z"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ingested}");
    // Tenant B's events never reach A's endpoint.
    let theirs = app.customer(&app.b, "webhook-b").await;
    let theirs = app.subscription(&app.b, &theirs, "webhook-b-sub").await;
    let (status, _) = app
        .post(
            &format!("/v1/subscriptions/{theirs}/suspend"),
            app.b.key(Role::Admin),
            json!({"reason": "b's own business"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let pass = drain(app).await;
    assert_eq!((pass.attempted, pass.delivered), (2, 2), "{pass:?}");
    assert_eq!(drain(app).await.attempted, 0, "delivered once, not again");
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    let (decision, alert) = (&got[0], &got[1]);
    assert_eq!(decision.json()["type"], "decision.created");
    assert_eq!(decision.json()["data"]["id"], card["decision"]["id"]);
    assert_eq!(decision.json()["data"]["subject_id"], card["id"]);
    assert_eq!(decision.json()["timestamp"], "2026-11-02T09:00:00.000000Z");
    assert_eq!(alert.json()["type"], "alert.created");
    assert_eq!(alert.json()["data"]["id"], ingested["alerts"][0]["id"]);
    for message in &got {
        assert_eq!(message.header("content-type"), "application/json");
        assert!(message.header("webhook-id").starts_with("act_"));
        assert_eq!(
            message.header("webhook-timestamp"),
            app.state.now().timestamp().to_string()
        );
        assert!(message.header("webhook-signature").starts_with("v1,"));
    }

    let listed = deliveries(app, &id).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], decision.header("webhook-id"));
    assert_eq!(listed[0]["status"], "delivered");
    assert_eq!(listed[0]["source"], "decision.created");
    assert_eq!(outcomes(&listed[0]), ["delivered"]);

    if verifier_available().await {
        let mut tampered = decision.clone();
        tampered.body = tampered
            .body
            .replace("decision.created", "decision.createe");
        let mut other_secret = alert.clone();
        other_secret
            .headers
            .retain(|(n, _)| n != "webhook-signature");
        other_secret.headers.push((
            "webhook-signature".into(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
        ));
        let verdicts = verify_independently(
            app,
            &secret,
            &[decision.clone(), alert.clone(), tampered, other_secret],
        )
        .await;
        assert_eq!(verdicts[..2], ["verified", "verified"], "{verdicts:?}");
        assert!(verdicts[2].starts_with("rejected"), "{verdicts:?}");
        assert!(verdicts[3].starts_with("rejected"), "{verdicts:?}");
    }
}

async fn failed_deliveries_are_retried_with_backoff_under_the_same_id(app: &TestApp) {
    let (receiver, url) =
        Receiver::start(&[(503, Some("600")), (500, None), (408, None)], 204).await;
    let (id, secret) = endpoint(app, &url, json!(["subscription.suspended"])).await;
    let customer = app.customer(&app.a, "webhook-retry").await;
    let subscription = app.subscription(&app.a, &customer, "webhook-retry").await;
    suspend(app, &subscription).await;

    assert_eq!(drain(app).await.retrying, 1);
    let listed = deliveries(app, &id).await;
    let asked = app.state.now() + Duration::seconds(600);
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(
        listed[0]["next_attempt_at"],
        json!(asked),
        "Retry-After is honoured"
    );
    assert_eq!(drain(app).await.attempted, 0, "not before it is due");
    app.clock.advance(Duration::seconds(600));
    assert_eq!(drain(app).await.retrying, 1);
    app.clock.advance(Duration::minutes(2));
    assert_eq!(drain(app).await.retrying, 1, "408 is worth another try");
    app.clock.advance(Duration::minutes(5));
    assert_eq!(drain(app).await.delivered, 1);

    let got = receiver.got();
    assert_eq!(got.len(), 4);
    let ids: Vec<&str> = got.iter().map(|m| m.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(got[0].json()["type"], "subscription.suspended");
    assert_eq!(
        got[0].json()["data"]["subscription"]["id"],
        subscription.as_str()
    );
    assert_eq!(got[0].json()["data"]["reason"], "card reported stolen");
    let listed = deliveries(app, &id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "delivered");
    assert_eq!(
        outcomes(&listed[0]),
        [
            "transient_failure",
            "transient_failure",
            "transient_failure",
            "delivered"
        ]
    );
    assert!(
        listed[0]["attempt_log"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{listed:?}"
    );
    // Each attempt is signed afresh with its own timestamp: the last one verifies now, the
    // first is outside the receiver's five-minute replay window.
    if verifier_available().await {
        let verdicts = verify_independently(app, &secret, &[got[3].clone(), got[0].clone()]).await;
        assert_eq!(verdicts[0], "verified");
        assert!(verdicts[1].contains("too old"), "{verdicts:?}");
    }
}

async fn a_day_of_failures_disables_the_endpoint_and_a_resend_delivers(app: &TestApp) {
    let (receiver, url) = Receiver::start(&[], 500).await;
    let (id, _) = endpoint(app, &url, json!(["*"])).await;
    let customer = app.customer(&app.a, "webhook-dead").await;
    let subscription = app.subscription(&app.a, &customer, "webhook-dead").await;
    suspend(app, &subscription).await;

    let mut dead = 0;
    for _ in 0..40 {
        let pass = drain(app).await;
        dead += pass.dead;
        if dead > 0 {
            break;
        }
        app.clock.advance(Duration::hours(1));
    }
    assert_eq!(dead, 1, "the delivery gives up within its day");
    let listed = deliveries(app, &id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "dead");
    let attempts = outcomes(&listed[0]).len();
    assert!((20..=40).contains(&attempts), "{attempts} attempts");
    assert_eq!(receiver.got().len(), attempts);

    let admin = app.a.key(Role::Admin);
    let (_, shown) = app.get(&format!("/v1/webhooks/{id}"), admin).await;
    assert_eq!(shown["status"], "disabled", "{shown}");
    assert!(
        shown["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("24 hours"),
        "{shown}"
    );
    let (status, alerts) = app.get("/v1/alerts?kind=webhook_disabled", admin).await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    let alerts = alerts["data"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["details"]["webhook_id"], id.as_str());
    assert!(alerts[0]["customer_id"].is_null());

    // Disabled: new events are not queued for it, and a test is refused.
    let (status, _) = app
        .post(
            &format!("/v1/subscriptions/{subscription}/reactivate"),
            admin,
            json!({"reason": "paid"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deliveries(app, &id).await.len(), 1);
    let (status, _) = app
        .post(&format!("/v1/webhooks/{id}/test"), admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The partner fixes the receiver, enables the endpoint and re-sends the dead delivery.
    receiver.answer_from_now_on(200);
    let (status, enabled) = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            admin,
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert!(enabled["disabled_reason"].is_null());
    let action = listed[0]["id"].as_str().unwrap();
    let (status, requeued) = app
        .post(&format!("/v1/actions/{action}/retry"), admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{requeued}");
    assert_eq!(drain(app).await.delivered, 1);
    let got = receiver.got();
    assert_eq!(got.last().unwrap().header("webhook-id"), action);
    assert_eq!(deliveries(app, &id).await[0]["status"], "delivered");

    // The test event goes to this endpoint alone.
    let (status, test) = app
        .post(&format!("/v1/webhooks/{id}/test"), admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    assert_eq!(drain(app).await.delivered, 1);
    let last = receiver.got().pop().unwrap();
    assert_eq!(last.json()["type"], "webhook.test");
    assert_eq!(last.header("webhook-id"), test["id"].as_str().unwrap());
}

async fn gone_disables_at_once_and_removal_skips_what_is_queued(app: &TestApp) {
    let (_, gone_url) = Receiver::start(&[], 410).await;
    let (gone, _) = endpoint(app, &gone_url, json!(["subscription.suspended"])).await;
    let (receiver, url) = Receiver::start(&[], 200).await;
    let (removed, _) = endpoint(app, &url, json!(["subscription.suspended"])).await;
    let customer = app.customer(&app.a, "webhook-gone").await;
    let subscription = app.subscription(&app.a, &customer, "webhook-gone").await;
    suspend(app, &subscription).await;
    let admin = app.a.key(Role::Admin);
    let (status, _) = app
        .post(&format!("/v1/webhooks/{removed}/remove"), admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let pass = drain(app).await;
    assert_eq!((pass.dead, pass.skipped), (1, 1), "{pass:?}");
    assert!(receiver.got().is_empty(), "a removed endpoint gets nothing");
    let (status, _) = app.get(&format!("/v1/webhooks/{removed}"), admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, shown) = app.get(&format!("/v1/webhooks/{gone}"), admin).await;
    assert_eq!(shown["status"], "disabled");
    assert!(shown["disabled_reason"].as_str().unwrap().contains("410"));
    let (_, alerts) = app.get("/v1/alerts?kind=webhook_disabled", admin).await;
    assert_eq!(alerts["data"].as_array().unwrap().len(), 1, "{alerts}");
    let (_, listed) = app.get("/v1/webhooks", admin).await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [gone.as_str()]);
}

async fn a_rotated_secret_signs_the_next_delivery(app: &TestApp) {
    let (receiver, url) = Receiver::start(&[], 200).await;
    let (id, old) = endpoint(app, &url, json!(["webhook.test"])).await;
    let admin = app.a.key(Role::Admin);
    let (status, rotated) = app
        .post(
            &format!("/v1/webhooks/{id}/rotate_secret"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    let (status, _) = app
        .post(&format!("/v1/webhooks/{id}/test"), admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    drain(app).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    if verifier_available().await {
        let verdicts = verify_independently(app, new, &got).await;
        assert_eq!(verdicts, ["verified"]);
        let verdicts = verify_independently(app, &old, &got).await;
        assert!(verdicts[0].starts_with("rejected"), "{verdicts:?}");
    }
}

/// With private networks not allowed (the default), endpoints on private, reserved or loopback
/// addresses are refused at registration, and one stored before (or resolving there) is never
/// sent to: its delivery ends `dead`, naming why.
#[tokio::test]
async fn private_network_endpoints_are_refused_unless_allowed() {
    let app = TestApp::start_configured(Engine::Sqlite, Default::default(), |config| {
        config.webhooks_to_private_networks = false;
    })
    .await
    .unwrap();
    for url in [
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/hook",
        "http://127.0.0.1:8080/hook",
        "https://localhost/hook",
        "https://[::ffff:192.168.1.1]/hook",
    ] {
        let (status, problem) = app
            .post(
                "/v1/webhooks",
                app.a.key(Role::Admin),
                json!({"url": url, "event_types": ["decision.created"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
    }

    let id = WebhookId::generate();
    let now = app.state.now();
    let mut tx = app.store.begin().await.unwrap();
    tx.insert_webhook(
        app.a.id,
        &WebhookRow {
            id,
            url: "https://localhost:9/hook".into(),
            description: None,
            event_types: vec!["decision.created".into()],
            secret: tollgate_server::webhooks::new_secret(),
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/webhooks/{id}/test"),
            app.a.key(Role::Admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(drain(&app).await.dead, 1);
    let sent = deliveries(&app, &id.to_string()).await;
    assert_eq!(sent[0]["status"], "dead", "{sent:?}");
    assert!(
        sent[0].to_string().contains("private or reserved"),
        "{sent:?}"
    );
}

on_both_engines!(
    a_decision_and_an_alert_reach_the_endpoint_signed,
    failed_deliveries_are_retried_with_backoff_under_the_same_id,
    a_day_of_failures_disables_the_endpoint_and_a_resend_delivers,
    gone_disables_at_once_and_removal_skips_what_is_queued,
    a_rotated_secret_signs_the_next_delivery,
);
