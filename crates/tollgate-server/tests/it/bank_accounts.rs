//! Bank accounts as payment methods: screened like cards, linked across customers by the PSP's
//! fingerprint, and never stored as an account number or IBAN.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::tenancy::Role;

use crate::{
    decisions::{attach, codes, hold_codes, new_customer, order},
    harness::TestApp,
    on_both_engines,
};

/// A verified SEPA account of `holder`, with a signed mandate.
fn account(fingerprint: &str, holder: &str) -> Value {
    json!({
        "type": "bank_account", "scheme": "sepa_core", "country": "DE",
        "bank_code": "COBADEFFXXX", "last4": "3000", "fingerprint": fingerprint,
        "holder_name": holder, "holder_type": "company", "verification": "verified",
        "mandate": {"reference": format!("MNDT-{fingerprint}"), "accepted_at": "2026-10-01T09:00:00Z"}
    })
}

async fn the_companys_own_verified_account_is_active(app: &TestApp) {
    let customer = new_customer(app, 800).await;
    let pm = attach(app, &customer, account("ba_own", "MUSTER 800 GMBH")).await;
    assert_eq!(
        (&pm["status"], &pm["type"]),
        (&json!("active"), &json!("bank_account")),
        "{pm}"
    );
    assert_eq!(pm["bank_account"]["last4"], "3000");
    assert!(pm.get("card").is_none(), "{pm}");
    assert!(codes(&pm["decision"]).is_empty(), "{pm}");
    let (_, detail) = app
        .get(
            &format!("/v1/decisions/{}", pm["decision"]["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(detail["facts"]["type"], "bank_account", "{detail}");
    assert_eq!(detail["features"]["bank"]["verified"], true);
    assert_eq!(detail["features"]["geo"]["bank_matches_billing"], true);
    // New customers still prepay; nothing about the account holds the order.
    let order = order(app, &customer, &pm, "m365", "M365-BP").await;
    assert_eq!(hold_codes(&order), ["awaiting_first_payment"], "{order}");
}

async fn an_unverified_account_without_a_mandate_holds_its_orders(app: &TestApp) {
    let customer = new_customer(app, 801).await;
    let mut body = account("ba_shaky", "Muster 801 GmbH");
    body["verification"] = json!("pending");
    body.as_object_mut().unwrap().remove("mandate");
    let pm = attach(app, &customer, body).await;
    assert_eq!(pm["status"], "held", "{pm}");
    assert_eq!(
        codes(&pm["decision"]),
        ["bank_unverified", "bank_no_mandate"]
    );
    let order = order(app, &customer, &pm, "m365", "M365-BP").await;
    assert_eq!(order["status"], "held");
    let holds = hold_codes(&order);
    assert!(
        holds.contains(&"bank_account_unverified") && holds.contains(&"no_mandate"),
        "{order}"
    );
}

async fn a_failed_verification_is_declined(app: &TestApp) {
    let customer = new_customer(app, 802).await;
    let mut body = account("ba_failed", "Muster 802 GmbH");
    body["verification"] = json!("failed");
    let pm = attach(app, &customer, body).await;
    assert_eq!(pm["status"], "declined", "{pm}");
    assert!(codes(&pm["decision"]).contains(&"bank_verification_failed".to_owned()));
}

async fn a_ring_sharing_one_account_is_held_even_for_its_first_member(app: &TestApp) {
    let mut ring = Vec::new();
    for n in 0..4 {
        let customer = new_customer(app, 810 + n).await;
        let pm = attach(app, &customer, account("ba_ring", "Muster 810 GmbH")).await;
        ring.push((customer, pm));
        app.clock.advance(Duration::minutes(5));
    }
    let (_, last) = ring.last().unwrap();
    assert_eq!(last["status"], "held", "{last}");
    assert!(
        codes(&last["decision"]).contains(&"bank_account_shared".to_owned()),
        "{last}"
    );
    let (_, detail) = app
        .get(
            &format!("/v1/decisions/{}", last["decision"]["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(
        detail["features"]["links"]["bank_account_customers"], 3,
        "{detail}"
    );
    assert_eq!(detail["features"]["links"]["card_customers"], 0);

    // The first member attached the account before anybody else had it; its next order sees
    // the three customers who joined since.
    let (first, first_pm) = &ring[0];
    assert_eq!(first_pm["status"], "active", "{first_pm}");
    let order = order(app, first, first_pm, "m365", "M365-BP").await;
    assert!(
        codes(&order["decision"]).contains(&"bank_account_shared".to_owned()),
        "{order}"
    );
}

async fn a_blocked_account_is_declined(app: &TestApp) {
    let (status, item) = app
        .post(
            "/v1/lists/items",
            app.a.key(Role::Analyst),
            json!({"kind": "bank_account", "action": "block", "value": "ba_mule", "note": "chargeback ring"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let customer = new_customer(app, 820).await;
    let pm = attach(app, &customer, account("ba_mule", "Muster 820 GmbH")).await;
    assert_eq!(pm["status"], "declined", "{pm}");
    assert_eq!(codes(&pm["decision"])[0], "block_list_match");
}

async fn account_numbers_never_get_in(app: &TestApp) {
    let customer = new_customer(app, 830).await;
    let path = format!("/v1/customers/{customer}/payment_methods");
    let mut in_a_name = account("ba_leak", "Muster 830 GmbH");
    in_a_name["holder_name"] = json!("Muster 830 GmbH, NL91 ABNA 0417 1643 00");
    let mut as_a_field = account("ba_leak", "Muster 830 GmbH");
    as_a_field["iban"] = json!("NL91ABNA0417164300");
    for (body, field) in [(in_a_name, "holder_name"), (as_a_field, "iban")] {
        let (status, problem) = app.post(&path, app.a.key(Role::Ingest), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // Only the sign-up's decision exists: nothing of the refused bodies was written.
    let (_, decisions) = app
        .get(
            &format!("/v1/decisions?customer_id={customer}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(
        decisions["data"].as_array().unwrap().len(),
        1,
        "{decisions}"
    );
}

async fn verifying_the_account_releases_what_waited_for_it(app: &TestApp) {
    let customer = new_customer(app, 840).await;
    let (status, _) = app
        .post(
            "/v1/payments",
            app.a.key(Role::Ingest),
            json!({"customer_id": customer, "amount": "50.00", "currency": "EUR",
                   "method": "bank_transfer", "status": "succeeded",
                   "received_at": "2026-11-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut body = account("ba_later", "Muster 840 GmbH");
    body["verification"] = json!("pending");
    body.as_object_mut().unwrap().remove("mandate");
    let pm = attach(app, &customer, body).await;
    assert_eq!(pm["status"], "held", "{pm}");
    let held = order(app, &customer, &pm, "m365", "M365-BP").await;
    assert_eq!(
        hold_codes(&held),
        ["bank_account_unverified", "no_mandate"],
        "{held}"
    );

    let id = pm["id"].as_str().unwrap();
    let path = format!("/v1/payment_methods/{id}/verification");
    let (status, verified) = app
        .post(
            &path,
            app.a.key(Role::Ingest),
            json!({"verification": "verified",
                   "mandate": {"reference": "MNDT-later", "accepted_at": "2026-11-01T09:00:00Z"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["status"], "active");
    assert_eq!(verified["bank_account"]["verification"], "verified");
    assert_ne!(
        verified["decision"]["id"], pm["decision"]["id"],
        "decided again"
    );
    assert!(codes(&verified["decision"]).is_empty(), "{verified}");
    let (_, order_now) = app
        .get(
            &format!("/v1/orders/{}", held["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(order_now["status"], "active", "{order_now}");

    // Cards are not verified this way; a failed verification declines the account.
    let card_pm = attach(app, &customer, crate::decisions::card("fp_840", "411111")).await;
    let (status, problem) = app
        .post(
            &format!(
                "/v1/payment_methods/{}/verification",
                card_pm["id"].as_str().unwrap()
            ),
            app.a.key(Role::Ingest),
            json!({"verification": "verified"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "verification");
    let (_, failed) = app
        .post(
            &path,
            app.a.key(Role::Ingest),
            json!({"verification": "failed"}),
        )
        .await;
    assert_eq!(failed["status"], "declined", "{failed}");
}

on_both_engines!(
    verifying_the_account_releases_what_waited_for_it,
    the_companys_own_verified_account_is_active,
    an_unverified_account_without_a_mandate_holds_its_orders,
    a_failed_verification_is_declined,
    a_ring_sharing_one_account_is_held_even_for_its_first_member,
    a_blocked_account_is_declined,
    account_numbers_never_get_in,
);
