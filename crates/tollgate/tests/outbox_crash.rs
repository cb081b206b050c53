//! An e-mail the store committed is sent even if the server dies before sending it: the real
//! binary is killed with SIGKILL while the relay is down and the dunning run's e-mails are
//! pending, restarted on the same store, and must deliver each of them exactly once.

#[path = "support/server.rs"]
mod server;
mod support;

use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};
use server::Server;
use support::{Engine, Place};
use tollgate_connectors::testing::SmtpSink;

async fn start(place: &Place, http: &Client, sink: &SmtpSink) -> Server {
    let smtp = sink.url();
    let args = [
        "--dunning-every",
        "off",
        "--smtp-url",
        &smtp,
        "--mail-from",
        "Billing <billing@reseller.example>",
    ];
    place.serve(http, &args).await
}

async fn call(http: &Client, key: &str, url: String, body: Option<Value>) -> Value {
    let request = match body {
        Some(body) => http.post(&url).json(&body),
        None => http.get(&url),
    };
    let response = request.bearer_auth(key).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

async fn email_actions(http: &Client, server: &Server, key: &str) -> Vec<Value> {
    let page = call(
        http,
        key,
        format!("{}/v1/actions?kind=email", server.base),
        None,
    )
    .await;
    page["data"].as_array().unwrap().clone()
}

/// Polls until `done` holds or `within` passes.
async fn eventually(within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "gave up after {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn committed_emails_are_sent_once_after_a_crash(engine: Engine) {
    let Some(place) = Place::new(engine).await else {
        eprintln!(
            "skipped: {} is not set",
            tollgate_store::testing::DATABASE_URL_VAR
        );
        return;
    };
    let key = place.init()["key"]["secret"].as_str().unwrap().to_owned();
    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let sink = SmtpSink::start().await;
    // The relay is down while the first server runs.
    sink.defer_next(1000);
    let mut server = start(&place, &http, &sink).await;

    let customer = call(
        &http,
        &key,
        format!("{}/v1/customers", server.base),
        Some(
            json!({"external_id": "crash-mail", "legal_name": "Contoso Analytics GmbH",
                    "country": "DE", "email": "ap@contoso.example"}),
        ),
    )
    .await;
    let today = chrono::Utc::now();
    let day = |days_ago: i64| (today - chrono::Duration::days(days_ago)).to_rfc3339();
    call(
        &http,
        &key,
        format!("{}/v1/invoices", server.base),
        Some(json!({"number": "CRASH-1", "customer_id": customer["id"],
                    "issued_at": day(40), "due_at": day(10), "currency": "EUR",
                    "lines": [{"description": "Azure plan", "amount": "120.00"}],
                    "total": "120.00"})),
    )
    .await;

    // The state change: the dunning run commits its steps with their e-mails, in its own
    // process; the server's worker picks the e-mails up and the relay defers them.
    let run = place.run(&["jobs", "dunning", "--json"]);
    assert!(run.status.success(), "{run:?}");
    let actions = email_actions(&http, &server, &key).await;
    assert!(
        !actions.is_empty(),
        "the dunning run wrote no e-mail: {run:?}"
    );
    eventually(Duration::from_secs(20), async || {
        sink.transactions() >= actions.len()
    })
    .await;
    for action in email_actions(&http, &server, &key).await {
        assert_eq!(action["status"], "pending", "{action}");
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(sink.messages().is_empty());

    sink.stop_refusing();
    let server = start(&place, &http, &sink).await;
    // A deferred e-mail is due again within the first backoff (at most 30 s).
    eventually(Duration::from_secs(60), async || {
        email_actions(&http, &server, &key)
            .await
            .iter()
            .all(|a| a["status"] == "delivered")
    })
    .await;
    for action in &actions {
        let id = action["id"].as_str().unwrap();
        let received = sink.messages_for(id);
        assert_eq!(received.len(), 1, "{id} arrived {} times", received.len());
        assert_eq!(
            received[0].message_id(),
            Some(format!("<{id}@reseller.example>").as_str())
        );
        assert_eq!(received[0].rcpt_to, ["ap@contoso.example"]);
    }
    assert_eq!(sink.messages().len(), actions.len());
}

#[tokio::test]
async fn committed_emails_are_sent_once_after_a_crash_on_sqlite() {
    committed_emails_are_sent_once_after_a_crash(Engine::Sqlite).await;
}

#[tokio::test]
async fn committed_emails_are_sent_once_after_a_crash_on_postgres() {
    committed_emails_are_sent_once_after_a_crash(Engine::Postgres).await;
}
