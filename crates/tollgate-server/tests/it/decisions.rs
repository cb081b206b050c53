//! Issue 3's scenario through the API: honest sign-ups pass, a card-sharing ring is flagged,
//! prepaid cards are declined, risky sign-ups are challenged, risky orders are held.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::{Clock, tenancy::Role};

use crate::{harness::TestApp, on_both_engines};

/// A sign-up a careful person in Germany would submit; `n` makes every identifier unique.
pub fn honest_signup(app: &TestApp, n: u32) -> Value {
    let submitted = app.clock.now();
    json!({
        "external_id": format!("honest-{n}"),
        "company": { "name": format!("Muster {n} GmbH"), "domain": format!("muster{n}.de"), "country": "DE" },
        "contact": { "name": "Erika Mustermann", "email": format!("erika@muster{n}.de"), "phone": format!("+49301234{:04}", n) },
        "billing_address": { "line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE" },
        "ip": format!("2.{}.{}.10", 160 + n / 200, n % 200),
        "device_id": format!("dev-{n}"),
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
        "session": {
            "form_started_at": submitted - Duration::seconds(95),
            "submitted_at": submitted,
            "key_events": 240,
            "pointer_events": 60
        }
    })
}

pub fn card(fingerprint: &str, bin: &str) -> Value {
    json!({
        "bin": bin, "last4": "4242", "fingerprint": fingerprint,
        "exp_month": 12, "exp_year": 2029, "country": "DE",
        "cvc_check": "pass", "avs_check": "pass", "three_ds": "authenticated"
    })
}

pub fn codes(decision: &Value) -> Vec<String> {
    decision["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn signup(app: &TestApp, body: Value) -> Value {
    let (status, decision) = app.post("/v1/signups", app.a.key(Role::Ingest), body).await;
    assert_eq!(status, StatusCode::CREATED, "{decision}");
    decision
}

/// A customer from an honest sign-up; its id.
pub async fn new_customer(app: &TestApp, n: u32) -> String {
    let decision = signup(app, honest_signup(app, n)).await;
    decision["customer_id"].as_str().unwrap().to_owned()
}

/// The hold codes of an order's or payment method's decision.
pub fn hold_codes(screened: &Value) -> Vec<&str> {
    screened["decision"]["hold_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

/// Two units of `sku` at 12.50 EUR, paid with `pm`; the order as answered.
pub async fn order(app: &TestApp, customer: &str, pm: &Value, kind: &str, sku: &str) -> Value {
    let (status, order) = app
        .post(
            "/v1/orders",
            app.a.key(Role::Ingest),
            json!({
                "customer_id": customer, "payment_method_id": pm["id"],
                "items": [{"sku": sku, "product_kind": kind, "quantity": 2,
                           "unit_price": {"amount": "12.50", "currency": "EUR"}}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    order
}

pub async fn attach(app: &TestApp, customer: &str, card: Value) -> Value {
    let (status, pm) = app
        .post(
            &format!("/v1/customers/{customer}/payment_methods"),
            app.a.key(Role::Ingest),
            card,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pm}");
    pm
}

async fn honest_signups_are_approved(app: &TestApp) {
    for n in 0..50 {
        let decision = signup(app, honest_signup(app, n)).await;
        assert_eq!(decision["verdict"], "approve", "sign-up {n}: {decision}");
        assert_eq!(decision["terms"]["trust_tier"], "new");
        assert!(decision["id"].as_str().unwrap().starts_with("dec_"));
        app.clock.advance(Duration::minutes(7));
    }
    let (_, customers) = app
        .get(
            "/v1/customers?status=active&limit=100",
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(customers["data"].as_array().unwrap().len(), 50);
}

async fn a_ring_sharing_one_card_and_device_is_flagged(app: &TestApp) {
    let mut last = Value::Null;
    for n in 0..5 {
        let mut body = honest_signup(app, 100 + n);
        body["device_id"] = json!("ring-device");
        let decision = signup(app, body).await;
        let customer = decision["customer_id"].as_str().unwrap().to_owned();
        last = attach(app, &customer, card("fp_ring_card", "411111")).await;
        app.clock.advance(Duration::minutes(3));
    }
    let decision = &last["decision"];
    assert_eq!(last["status"], "held", "{last}");
    assert!(
        codes(decision).contains(&"card_shared".to_owned()),
        "{decision}"
    );
    // The ring is visible: the decision names the other customers sharing the card.
    let (_, detail) = app
        .get(
            &format!("/v1/decisions/{}", decision["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(detail["features"]["links"]["card_customers"], 4, "{detail}");
    assert_eq!(
        detail["features"]["links"]["linked_customer_ids"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(detail["facts"]["fingerprint"], "fp_ring_card");
}

async fn prepaid_cards_are_declined(app: &TestApp) {
    let decision = signup(app, honest_signup(app, 300)).await;
    let customer = decision["customer_id"].as_str().unwrap();
    let pm = attach(app, customer, card("fp_prepaid", "424200")).await;
    assert_eq!(pm["status"], "declined", "{pm}");
    assert!(codes(&pm["decision"]).contains(&"prepaid_card".to_owned()));
    let mut debit = card("fp_debit", "424201");
    debit["funding"] = json!("prepaid");
    let pm = attach(app, customer, debit).await;
    assert_eq!(
        pm["status"], "declined",
        "the PSP's funding wins over the BIN table: {pm}"
    );
}

async fn a_risky_signup_is_challenged_with_steps(app: &TestApp) {
    let mut body = honest_signup(app, 400);
    body["contact"]["email"] = json!("boss@0-mail.com");
    body["contact"]["phone"] = json!("+982112345678");
    body["ip"] = json!("2.57.3.5");
    body["billing_address"]["country"] = json!("IR");
    body["company"]["country"] = json!("IR");
    let decision = signup(app, body).await;
    assert_eq!(decision["verdict"], "challenge", "{decision}");
    let steps = decision["terms"]["required_steps"].as_array().unwrap();
    assert!(
        steps.contains(&json!("sms_verification")) && steps.contains(&json!("bureau_check")),
        "{decision}"
    );
    assert!(codes(&decision).contains(&"disposable_email".to_owned()));
    assert!(codes(&decision).contains(&"high_risk_country".to_owned()));
    let (_, customer) = app
        .get(
            &format!(
                "/v1/customers/{}",
                decision["customer_id"].as_str().unwrap()
            ),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(customer["status"], "review");
}

async fn risky_orders_are_held(app: &TestApp) {
    let decision = signup(app, honest_signup(app, 500)).await;
    let customer = decision["customer_id"].as_str().unwrap().to_owned();
    let pm = attach(app, &customer, card("fp_good", "411111")).await;
    assert_eq!(pm["status"], "active", "{pm}");
    let order = |kind: &str, sku: &str, quantity: u32| {
        json!({
            "customer_id": customer, "payment_method_id": pm["id"],
            "items": [{ "sku": sku, "product_kind": kind, "quantity": quantity, "unit_price": { "amount": "12.50", "currency": "EUR" } }]
        })
    };
    let (status, held) = app
        .post(
            "/v1/orders",
            app.a.key(Role::Ingest),
            order("m365", "M365-BP", 3),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["status"], "held");
    assert_eq!(held["total"], json!({"amount": "37.50", "currency": "EUR"}));
    assert!(
        hold_codes(&held).contains(&"awaiting_first_payment"),
        "{held}"
    );

    let (_, gpu) = app
        .post(
            "/v1/orders",
            app.a.key(Role::Ingest),
            order("gpu_capacity", "NC24ads-A100", 4),
        )
        .await;
    assert_eq!(gpu["status"], "held");
    assert!(
        codes(&gpu["decision"]).contains(&"gpu_order_new_customer".to_owned()),
        "{gpu}"
    );
}

async fn card_numbers_never_get_in(app: &TestApp) {
    let decision = signup(app, honest_signup(app, 600)).await;
    let customer = decision["customer_id"].as_str().unwrap();
    let mut body = card("fp_x", "411111");
    body["note"] = json!("4111 1111 1111 1111");
    let (status, problem) = app
        .post(
            &format!("/v1/customers/{customer}/payment_methods"),
            app.a.key(Role::Ingest),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "note", "{problem}");
    let mut body = honest_signup(app, 601);
    body["company"]["registration_number"] = json!("4111111111111111");
    let (status, _) = app.post("/v1/signups", app.a.key(Role::Ingest), body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, listed) = app
        .get(
            "/v1/customers?external_id=honest-601",
            app.a.key(Role::Viewer),
        )
        .await;
    assert!(
        listed["data"].as_array().unwrap().is_empty(),
        "nothing was written"
    );
}

async fn decisions_are_on_the_audit_chain(app: &TestApp) {
    let decision = signup(app, honest_signup(app, 700)).await;
    let id = decision["id"].as_str().unwrap();
    let (_, trail) = app
        .get(
            &format!("/v1/audit?object_id={id}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(trail["data"][0]["action"], "decision.created");
    assert_eq!(trail["data"][0]["actor"]["kind"], "rule");
    assert_eq!(
        trail["data"][0]["actor"]["policy"],
        decision["policy_version"]
    );
    // Another tenant cannot read it.
    assert_eq!(
        app.get(&format!("/v1/decisions/{id}"), app.b.key(Role::Viewer))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

on_both_engines!(
    honest_signups_are_approved,
    a_ring_sharing_one_card_and_device_is_flagged,
    prepaid_cards_are_declined,
    a_risky_signup_is_challenged_with_steps,
    risky_orders_are_held,
    card_numbers_never_get_in,
    decisions_are_on_the_audit_chain,
);
