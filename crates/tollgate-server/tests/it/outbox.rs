//! The outbox end to end: an e-mail action enqueued with its state change, delivered by the
//! worker to a real SMTP sink, retried on a transient refusal, dead on a permanent one, re-sent
//! on request, and taken over from a worker that died holding its lease.

use std::{sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_connectors::{
    email::{SmtpConfig, SmtpMailer},
    testing::SmtpSink,
};
use tollgate_core::{ActionId, TenantId, outbox::ActionKind, tenancy::Role};
use tollgate_server::{Connectors, outbox::Worker};
use tollgate_store::NewAction;

use crate::{
    harness::{Engine, TestApp},
    on_both_engines,
};

/// Enqueues an e-mail about `customer` through the store, as a state change inside Tollgate
/// would, and returns its id.
pub async fn enqueue_email(app: &TestApp, tenant: TenantId, customer: &str) -> ActionId {
    enqueue(
        app,
        tenant,
        customer,
        json!({
            "to": "Jane Doe <billing@contoso.example>",
            "subject": "Your invoice is overdue",
            "text": "Please pay invoice INV-1.",
            "customer_id": customer,
            "template": "dunning.reminder",
        }),
    )
    .await
}

async fn enqueue(app: &TestApp, tenant: TenantId, customer: &str, payload: Value) -> ActionId {
    let id = ActionId::generate();
    let now = app.state.now();
    let mut tx = app.store.begin().await.unwrap();
    tx.enqueue_action(
        tenant,
        &NewAction {
            id,
            kind: ActionKind::Email,
            source: "test".into(),
            object_id: customer.to_owned(),
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

async fn start(engine: Engine) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start().await;
    let mut config = SmtpConfig::from_url(&sink.url(), "Billing <billing@reseller.example>")
        .expect("the sink's URL");
    config.timeout = Duration::from_secs(5);
    let connectors = Connectors {
        mailer: Some(Arc::new(SmtpMailer::new(config).unwrap())),
        ..Connectors::default()
    };
    Some((TestApp::start_with(engine, connectors).await?, sink))
}

macro_rules! with_sink {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let (app, sink) = super::start(super::Engine::Sqlite).await.unwrap();
                super::$case(&app, &sink).await;
            }

            #[tokio::test]
            async fn postgres() {
                match super::start(super::Engine::Postgres).await {
                    Some((app, sink)) => super::$case(&app, &sink).await,
                    None => eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set"),
                }
            }
        }
    )+};
}

async fn drain(app: &TestApp) -> tollgate_server::outbox::Pass {
    Worker::new(app.state.clone()).drain().await.unwrap()
}

async fn action(app: &TestApp, id: ActionId) -> Value {
    let (status, body) = app
        .get(&format!("/v1/actions/{id}"), app.a.key(Role::Viewer))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn audit_actions(app: &TestApp, id: ActionId) -> Vec<String> {
    let (status, page) = app
        .get(
            &format!("/v1/audit?object_id={id}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn retry(app: &TestApp, id: ActionId) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/v1/actions/{id}/retry"),
        app.a.key(Role::Analyst),
        None,
    )
    .await
}

async fn an_email_action_reaches_the_relay_once(app: &TestApp, sink: &SmtpSink) {
    let customer = app.customer(&app.a, "mail-once").await;
    let id = enqueue_email(app, app.a.id, &customer).await;
    let pass = drain(app).await;
    assert_eq!((pass.attempted, pass.delivered), (1, 1), "{pass:?}");
    let received = sink.messages_for(&id.to_string());
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(
        mail.message_id(),
        Some(format!("<{id}@reseller.example>").as_str())
    );
    assert_eq!(mail.rcpt_to, ["billing@contoso.example"]);
    assert_eq!(mail.subject(), Some("Your invoice is overdue"));
    assert!(
        mail.body.contains("Please pay invoice INV-1."),
        "{}",
        mail.raw
    );

    let seen = action(app, id).await;
    assert_eq!(seen["status"], "delivered", "{seen}");
    assert_eq!(seen["attempts"], 1);
    assert_eq!(seen["attempt_log"][0]["outcome"], "delivered");
    assert!(
        seen["attempt_log"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("250"),
        "{seen}"
    );
    assert_eq!(audit_actions(app, id).await, ["action.delivered"]);

    assert_eq!(drain(app).await.attempted, 0, "nothing is due any more");
    assert_eq!(sink.messages().len(), 1);
}

async fn a_deferral_is_retried_after_the_backoff(app: &TestApp, sink: &SmtpSink) {
    let customer = app.customer(&app.a, "mail-deferred").await;
    let id = enqueue_email(app, app.a.id, &customer).await;
    sink.defer_next(1);
    let pass = drain(app).await;
    assert_eq!((pass.attempted, pass.retrying), (1, 1), "{pass:?}");
    let seen = action(app, id).await;
    assert_eq!(seen["status"], "pending", "{seen}");
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(seen["next_attempt_at"].clone()).unwrap();
    assert!(next > app.state.now(), "{seen}");
    assert_eq!(seen["attempt_log"][0]["outcome"], "transient_failure");
    assert!(
        seen["attempt_log"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("451"),
        "{seen}"
    );
    assert!(sink.messages().is_empty());

    assert_eq!(drain(app).await.attempted, 0, "not due before the backoff");
    app.clock.advance(chrono::Duration::seconds(31));
    let pass = drain(app).await;
    assert_eq!(pass.delivered, 1, "{pass:?}");
    let seen = action(app, id).await;
    assert_eq!(seen["status"], "delivered", "{seen}");
    assert_eq!(seen["attempt_log"].as_array().unwrap().len(), 2);
    assert_eq!(sink.messages_for(&id.to_string()).len(), 1);
    assert_eq!(sink.transactions(), 2);
}

async fn a_rejection_is_dead_audited_and_can_be_sent_again(app: &TestApp, sink: &SmtpSink) {
    let customer = app.customer(&app.a, "mail-rejected").await;
    let id = enqueue_email(app, app.a.id, &customer).await;
    sink.reject_next(1);
    assert_eq!(drain(app).await.dead, 1);
    let seen = action(app, id).await;
    assert_eq!(seen["status"], "dead", "{seen}");
    assert!(
        seen["last_error"].as_str().unwrap().contains("550"),
        "{seen}"
    );
    assert_eq!(audit_actions(app, id).await, ["action.dead"]);
    assert!(sink.messages().is_empty());

    let (status, requeued) = retry(app, id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{requeued}");
    assert_eq!(requeued["status"], "pending");
    let (status, _) = retry(app, id).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a pending action is not requeued"
    );
    assert_eq!(drain(app).await.delivered, 1);
    assert_eq!(action(app, id).await["status"], "delivered");
    assert_eq!(sink.messages_for(&id.to_string()).len(), 1);

    // A manual re-send of a delivered message carries the same Message-ID, so the receiving
    // mail system can recognise it as the message it already has.
    assert_eq!(retry(app, id).await.0, StatusCode::ACCEPTED);
    assert_eq!(drain(app).await.delivered, 1);
    let both = sink.messages_for(&id.to_string());
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].message_id(), both[1].message_id());
    assert_eq!(
        audit_actions(app, id).await,
        [
            "action.dead",
            "action.requeued",
            "action.delivered",
            "action.requeued",
            "action.delivered"
        ]
    );
}

async fn a_dead_workers_lease_runs_out_and_another_delivers(app: &TestApp, sink: &SmtpSink) {
    let customer = app.customer(&app.a, "mail-lease").await;
    let id = enqueue_email(app, app.a.id, &customer).await;
    let now = app.state.now();
    let lease = app.state.outbox_config().lease;
    let taken = app
        .store
        .lease_due_actions(
            "worker-that-dies",
            now,
            now + chrono::Duration::from_std(lease).unwrap(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|a| a.id).collect::<Vec<_>>(), [id]);

    assert_eq!(drain(app).await.attempted, 0, "the lease keeps it");
    assert!(sink.messages().is_empty());
    app.clock
        .advance(chrono::Duration::from_std(lease).unwrap() + chrono::Duration::seconds(1));
    assert_eq!(drain(app).await.delivered, 1);
    assert_eq!(sink.messages_for(&id.to_string()).len(), 1);
    assert_eq!(action(app, id).await["attempts"], 1);
}

async fn a_malformed_payload_is_dead_without_reaching_the_relay(app: &TestApp, sink: &SmtpSink) {
    let customer = app.customer(&app.a, "mail-malformed").await;
    let id = enqueue(app, app.a.id, &customer, json!({"to": 5})).await;
    assert_eq!(drain(app).await.dead, 1);
    let seen = action(app, id).await;
    assert!(
        seen["last_error"]
            .as_str()
            .unwrap()
            .contains("payload is malformed"),
        "{seen}"
    );
    assert_eq!(sink.transactions(), 0);
}

with_sink!(
    an_email_action_reaches_the_relay_once,
    a_deferral_is_retried_after_the_backoff,
    a_rejection_is_dead_audited_and_can_be_sent_again,
    a_dead_workers_lease_runs_out_and_another_delivers,
    a_malformed_payload_is_dead_without_reaching_the_relay,
);

/// Without a relay the e-mail is skipped: the state change stands and the action shows why.
async fn without_a_relay_email_actions_are_skipped(app: &TestApp) {
    let customer = app.customer(&app.a, "mail-skipped").await;
    let id = enqueue_email(app, app.a.id, &customer).await;
    assert_eq!(drain(app).await.skipped, 1);
    let seen = action(app, id).await;
    assert_eq!(seen["status"], "skipped", "{seen}");
    assert!(
        seen["attempt_log"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no SMTP relay"),
        "{seen}"
    );
}

on_both_engines!(without_a_relay_email_actions_are_skipped);
