//! Partner Center through the real binary.
//!
//! - A suspension the playbook committed reaches Partner Center even if the server dies before
//!   it got through: the binary takes a signed crypto-mining webhook, its first attempt at the
//!   vendor fails (500), it is killed with SIGKILL, and the restarted server suspends the
//!   subscription — once, under the same `MS-RequestId`.
//! - A fraud event whose webhook never came is read by `serve`'s scheduled poll, and the
//!   subscription is suspended all the same.

#[path = "support/partner_center.rs"]
mod partner_center;
#[path = "support/server.rs"]
mod server;
mod support;

use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use server::Server;
use support::{Engine, Place};
use tollgate_connectors::partner_center::testing::{FakePartnerCenter, FakeReply};

const VENDOR_CUSTOMER: &str = "ms-crash-customer";
const AZURE_SUB: &str = "azure-crash-sub";

async fn start(place: &Place, http: &Client, fake: &FakePartnerCenter, extra: &[&str]) -> Server {
    let mut args = vec!["--dunning-every".to_owned(), "off".to_owned()];
    args.extend(partner_center::serve_args(fake));
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
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

async fn suspension(http: &Client, server: &Server, key: &str) -> Value {
    let page = call(
        http,
        key,
        format!("{}/v1/actions?kind=subscription_status", server.base),
        None,
    )
    .await;
    let actions = page["data"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{page}");
    actions[0].clone()
}

/// A customer with the Azure subscription the fake's fraud events name.
async fn customer_with_subscription(http: &Client, server: &Server, key: &str, external_id: &str) {
    let customer = call(
        http,
        key,
        format!("{}/v1/customers", server.base),
        Some(json!({"external_id": external_id, "legal_name": "Contoso Mining GmbH", "country": "DE"})),
    )
    .await;
    call(
        http,
        key,
        format!("{}/v1/subscriptions", server.base),
        Some(
            json!({"customer_id": customer["id"], "vendor_subscription_id": AZURE_SUB,
                    "product_kind": "azure_plan", "quantity": 1}),
        ),
    )
    .await;
}

/// Polls until `done` holds or `within` passes.
async fn eventually(within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "gave up after {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A place with `tollgate init` done, its admin key and first tenant's slug, and a client;
/// `None` when the engine's database is not configured.
async fn initialised(engine: Engine) -> Option<(Place, String, String, Client)> {
    let Some(place) = Place::new(engine).await else {
        eprintln!(
            "skipped: {} is not set",
            tollgate_store::testing::DATABASE_URL_VAR
        );
        return None;
    };
    let init = place.init();
    let key = init["key"]["secret"].as_str().unwrap().to_owned();
    let tenant = init["tenant"]["slug"].as_str().unwrap().to_owned();
    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Some((place, key, tenant, http))
}

async fn a_committed_suspension_reaches_the_vendor_after_a_crash(engine: Engine) {
    let Some((place, key, _, http)) = initialised(engine).await else {
        return;
    };
    let fake = FakePartnerCenter::start().await;
    fake.put_subscription(VENDOR_CUSTOMER, AZURE_SUB, "active");
    fake.set_fraud_events(vec![json!({
        "eventId": "evt-crash", "subscriptionId": AZURE_SUB,
        "customerTenantId": VENDOR_CUSTOMER, "eventStatus": "Active",
        "eventType": "NetworkConnectionsToCryptoMiningPools",
        "severity": "High", "confidenceLevel": "High",
        "eventTime": "2026-11-02T08:30:00Z"
    })]);
    let path = format!("/v1/customers/{VENDOR_CUSTOMER}/subscriptions/{AZURE_SUB}");
    // The vendor fails the first server's only attempt.
    fake.inject(Method::PATCH, &path, FakeReply::error(500, 0, "scripted"));

    let server = start(&place, &http, &fake, &[]).await;
    let tenant = call(&http, &key, format!("{}/v1/tenant", server.base), None).await;
    customer_with_subscription(&http, &server, &key, "crash-pc").await;
    let body = json!({
        "EventName": "azure-fraud-event-detected",
        "ResourceUri": format!("{}/v1/fraudEvents?subscriptionId={AZURE_SUB}", fake.base_url()),
        "ResourceName": AZURE_SUB,
        "ResourceChangeUtcDate": "2026-11-02T08:59:00Z"
    })
    .to_string();
    let response = http
        .post(format!(
            "{}/v1/connectors/partner-center/events/{}",
            server.base,
            tenant["id"].as_str().unwrap()
        ))
        .headers(fake.sign_webhook(body.as_bytes()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    eventually(Duration::from_secs(20), async || {
        !fake.received_at(Method::PATCH, &path).is_empty()
    })
    .await;
    let pending = suspension(&http, &server, &key).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(
        fake.subscription(VENDOR_CUSTOMER, AZURE_SUB).unwrap()["status"],
        "active"
    );

    let server = start(&place, &http, &fake, &[]).await;
    // The failed attempt is due again within the first backoff (at most 30 s).
    eventually(Duration::from_secs(60), async || {
        suspension(&http, &server, &key).await["status"] == "delivered"
    })
    .await;
    assert_eq!(
        fake.subscription(VENDOR_CUSTOMER, AZURE_SUB).unwrap()["status"],
        "suspended"
    );
    let patches = fake.received_at(Method::PATCH, &path);
    assert_eq!(patches.len(), 2, "one failed attempt, one that suspended");
    let action: tollgate_core::ActionId = pending["id"].as_str().unwrap().parse().unwrap();
    for patch in &patches {
        assert_eq!(
            patch.header("ms-requestid"),
            Some(action.uuid().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_committed_suspension_reaches_the_vendor_after_a_crash_on_sqlite() {
    a_committed_suspension_reaches_the_vendor_after_a_crash(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_committed_suspension_reaches_the_vendor_after_a_crash_on_postgres() {
    a_committed_suspension_reaches_the_vendor_after_a_crash(Engine::Postgres).await;
}

async fn the_scheduled_poll_catches_an_event_whose_webhook_never_came(engine: Engine) {
    let Some((place, key, tenant, http)) = initialised(engine).await else {
        return;
    };
    let fake = FakePartnerCenter::start().await;
    fake.put_subscription(VENDOR_CUSTOMER, AZURE_SUB, "active");
    let server = start(
        &place,
        &http,
        &fake,
        &[
            "--partner-center-poll-tenant",
            &tenant,
            "--partner-center-poll-every",
            "1s",
        ],
    )
    .await;
    customer_with_subscription(&http, &server, &key, "polled-pc").await;
    fake.set_fraud_events(vec![json!({
        "eventId": "evt-polled", "subscriptionId": AZURE_SUB,
        "customerTenantId": VENDOR_CUSTOMER, "eventStatus": "Active",
        "eventType": "NetworkConnectionsToCryptoMiningPools",
        "severity": "High", "confidenceLevel": "High",
        "eventTime": "2026-11-02T08:30:00Z"
    })]);
    eventually(Duration::from_secs(30), async || {
        fake.subscription(VENDOR_CUSTOMER, AZURE_SUB).unwrap()["status"] == "suspended"
    })
    .await;
    let notices = call(&http, &key, format!("{}/v1/notices", server.base), None).await;
    let notices = notices["data"].as_array().unwrap();
    assert_eq!(
        notices.len(),
        1,
        "read once, however often polled: {notices:?}"
    );
    assert_eq!(notices[0]["vendor_event_id"], "evt-polled");
}

#[tokio::test]
async fn the_scheduled_poll_catches_an_event_whose_webhook_never_came_on_sqlite() {
    the_scheduled_poll_catches_an_event_whose_webhook_never_came(Engine::Sqlite).await;
}

#[tokio::test]
async fn the_scheduled_poll_catches_an_event_whose_webhook_never_came_on_postgres() {
    the_scheduled_poll_catches_an_event_whose_webhook_never_came(Engine::Postgres).await;
}
