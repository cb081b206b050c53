//! What screening held: the review queues, an analyst's release or decline, and orders that go
//! through by themselves once the customer's first payment clears.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::tenancy::Role;

use crate::{
    decisions::{attach, card, codes, hold_codes, new_customer, order},
    harness::TestApp,
    on_both_engines,
};

async fn review(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.post(path, app.a.key(Role::Analyst), body).await
}

async fn ids_of(app: &TestApp, path: &str) -> Vec<String> {
    let (status, page) = app.get(path, app.a.key(Role::Viewer)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn an_analyst_releases_a_held_order(app: &TestApp) {
    let customer = new_customer(app, 900).await;
    let pm = attach(app, &customer, card("fp_review_900", "411111")).await;
    let held = order(app, &customer, &pm, "m365", "M365-BP").await;
    assert_eq!(held["status"], "held", "{held}");
    let id = held["id"].as_str().unwrap();
    let queue = ids_of(
        app,
        &format!("/v1/orders?status=held&customer_id={customer}"),
    )
    .await;
    assert_eq!(queue, [id]);

    // Reviews are an analyst's: the storefront's ingest key and a viewer may not.
    let path = format!("/v1/orders/{id}/review");
    let release = json!({"outcome": "release", "note": "Known reseller contact, called back"});
    for role in [Role::Ingest, Role::Viewer] {
        let (status, _) = app.post(&path, app.a.key(role), release.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
    }
    let (status, released) = review(app, &path, release.clone()).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["status"], "active");
    assert_eq!(
        released["review"]["note"],
        "Known reseller contact, called back"
    );
    assert!(
        released["review"]["by"]
            .as_str()
            .unwrap()
            .starts_with("key_"),
        "{released}"
    );
    assert_eq!(
        released["decision"]["id"], held["decision"]["id"],
        "the review answers the decision that held it"
    );
    let (_, got) = app
        .get(&format!("/v1/orders/{id}"), app.a.key(Role::Viewer))
        .await;
    assert_eq!(got["status"], "active");
    assert!(
        ids_of(
            app,
            &format!("/v1/orders?status=held&customer_id={customer}")
        )
        .await
        .is_empty()
    );

    let (status, problem) = review(app, &path, release).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (_, trail) = app
        .get(
            &format!("/v1/audit?object_id={id}"),
            app.a.key(Role::Viewer),
        )
        .await;
    let actions: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"order.reviewed"), "{trail}");
}

async fn an_analyst_declines_a_held_payment_method(app: &TestApp) {
    let customer = new_customer(app, 901).await;
    let mut failed_cvc = card("fp_review_901", "411111");
    failed_cvc["cvc_check"] = json!("fail");
    let pm = attach(app, &customer, failed_cvc).await;
    assert_eq!(pm["status"], "held", "{pm}");
    let id = pm["id"].as_str().unwrap();
    let queue = ids_of(
        app,
        &format!("/v1/payment_methods?status=held&customer_id={customer}"),
    )
    .await;
    assert_eq!(queue, [id]);
    let (status, problem) = review(
        app,
        &format!("/v1/payment_methods/{id}/review"),
        json!({"outcome": "approve"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "outcome", "{problem}");
    let (status, declined) = review(
        app,
        &format!("/v1/payment_methods/{id}/review"),
        json!({"outcome": "decline", "note": "Cardholder name does not match"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{declined}");
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["card"]["last4"], "4242");
    assert!(codes(&declined["decision"]).contains(&"cvc_failed".to_owned()));
    let (_, got) = app
        .get(
            &format!("/v1/payment_methods/{id}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(got["review"]["note"], "Cardholder name does not match");
    // Another tenant sees none of it.
    let (status, _) = app
        .get(
            &format!("/v1/payment_methods/{id}"),
            app.b.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_first_cleared_payment_releases_what_waited_for_it(app: &TestApp) {
    let customer = new_customer(app, 902).await;
    let pm = attach(app, &customer, card("fp_review_902", "411111")).await;
    let seats = order(app, &customer, &pm, "m365", "M365-BP").await;
    let gpus = order(app, &customer, &pm, "gpu_capacity", "NC24ads-A100").await;
    for held in [&seats, &gpus] {
        assert!(
            hold_codes(held).contains(&"awaiting_first_payment"),
            "{held}"
        );
    }
    // A failed payment clears nothing.
    let payment = |status: &str| {
        json!({"customer_id": customer, "amount": "25.00", "currency": "EUR",
               "method": "card", "status": status, "received_at": "2026-11-01T10:00:00Z"})
    };
    let mut failed = payment("failed");
    failed["failure_code"] = json!("do_not_honor");
    let (status, body) = app
        .post("/v1/payments", app.a.key(Role::Ingest), failed)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, still) = app
        .get(
            &format!("/v1/orders/{}", seats["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(still["status"], "held");

    let (status, _) = app
        .post(
            "/v1/payments",
            app.a.key(Role::Ingest),
            payment("succeeded"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, seats_now) = app
        .get(
            &format!("/v1/orders/{}", seats["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(seats_now["status"], "active", "{seats_now}");
    assert_ne!(
        seats_now["decision"]["id"], seats["decision"]["id"],
        "decided again"
    );
    assert!(seats_now.get("review").is_none(), "no person reviewed it");
    // The GPU order was decided again too, and is still held, for its GPUs only.
    let (_, gpus_now) = app
        .get(
            &format!("/v1/orders/{}", gpus["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(gpus_now["status"], "held");
    assert_eq!(
        gpus_now["decision"]["hold_codes"],
        json!(["gpu_new_customer"]),
        "{gpus_now}"
    );
    // Nothing is left for the minute's run.
    let moved = tollgate_server::jobs::held_orders::decide_paid(&app.state, None)
        .await
        .unwrap();
    assert_eq!(moved, 0);
}

async fn the_minute_run_catches_payments_recorded_elsewhere(app: &TestApp) {
    let customer = new_customer(app, 903).await;
    let pm = attach(app, &customer, card("fp_review_903", "411111")).await;
    let held = order(app, &customer, &pm, "m365", "M365-BP").await;
    assert_eq!(held["status"], "held");
    // A payment that did not come through the API (an import, a restore) is found by the run.
    app.store
        .execute_raw(&format!(
            "INSERT INTO payments (id, tenant_id, customer_id, amount_minor, currency, status, \
             received_at, created_at) SELECT 'pay_0000000000000000000000000000a903', tenant_id, id, 2500, \
             'EUR', 'succeeded', 0, 0 FROM customers WHERE id = '{customer}'"
        ))
        .await
        .unwrap();
    let moved = tollgate_server::jobs::held_orders::decide_paid(&app.state, None)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let (_, now) = app
        .get(
            &format!("/v1/orders/{}", held["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(now["status"], "active", "{now}");
}

on_both_engines!(
    an_analyst_releases_a_held_order,
    an_analyst_declines_a_held_payment_method,
    the_first_cleared_payment_releases_what_waited_for_it,
    the_minute_run_catches_payments_recorded_elsewhere,
);
